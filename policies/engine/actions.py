"""THEN actions: plain frozen dataclasses, shared by policy specs and verdicts.

Dict form (JSON-able): ``{"kind": "<kind>", "params": {...}}``, e.g.
``{"kind": "add_header", "params": {"name": "X-SecureMailNotification", "value": "YES"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .errors import PolicySyntaxError
from .patterns import validate_header_name, validate_text


@dataclass(frozen=True)
class _Action:
    kind: ClassVar[str]
    #: "redirect" / "hold" / "reject" for the actions that always end processing, else None.
    final: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        for f in fields(self):
            validate_text(getattr(self, f.name), f"params.{f.name}")

    def params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params()}

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class RedirectSecureMailbox(_Action):
    profile: str
    kind: ClassVar[str] = "redirect_secure_mailbox"
    final: ClassVar[str | None] = "redirect"

    def describe(self) -> str:
        return f"Redirect to Secure Mailbox using '{self.profile}'"


@dataclass(frozen=True)
class Route(_Action):
    route: str
    kind: ClassVar[str] = "route"

    def describe(self) -> str:
        return f"Route using delivery route '{self.route}'"


@dataclass(frozen=True)
class AddHeader(_Action):
    """Prepended as a raw line by the service; a non-ASCII value must be RFC 2047-encoded there."""

    name: str
    value: str
    kind: ClassVar[str] = "add_header"

    def __post_init__(self) -> None:
        validate_header_name(self.name, "params.name")
        validate_text(self.value, "params.value", max_length=998 - len(self.name) - 2)

    def describe(self) -> str:
        return f"Add header '{self.name}: {self.value}'"


@dataclass(frozen=True)
class AddTag(_Action):
    tag: str
    kind: ClassVar[str] = "add_tag"

    def describe(self) -> str:
        return f"Add tag '{self.tag}'"


@dataclass(frozen=True)
class Hold(_Action):
    reason: str
    kind: ClassVar[str] = "hold"
    final: ClassVar[str | None] = "hold"

    def describe(self) -> str:
        return f"Hold the message ('{self.reason}')"


@dataclass(frozen=True)
class Reject(_Action):
    reason: str
    kind: ClassVar[str] = "reject"
    final: ClassVar[str | None] = "reject"

    def describe(self) -> str:
        return f"Reject the message ('{self.reason}')"


Action = RedirectSecureMailbox | Route | AddHeader | AddTag | Hold | Reject

ACTION_KINDS: dict[str, type[_Action]] = {
    cls.kind: cls for cls in (RedirectSecureMailbox, Route, AddHeader, AddTag, Hold, Reject)
}


def action_from_dict(data: Any) -> Action:
    """Build an action from ``{"kind": ..., "params": {...}}``; raises PolicySyntaxError."""
    if not isinstance(data, Mapping):
        raise PolicySyntaxError("", "an action must be an object with 'kind' and 'params'")
    cls = ACTION_KINDS.get(data.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        known = ", ".join(sorted(ACTION_KINDS))
        raise PolicySyntaxError("kind", f"unknown action {data.get('kind')!r} (known: {known})")
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise PolicySyntaxError("params", "must be an object")
    expected = {f.name for f in fields(cls)}
    for key in sorted(set(params) ^ expected):
        problem = "is required" if key in expected else "is not a parameter of this action"
        raise PolicySyntaxError(f"params.{key}", problem)
    return cls(**params)  # type: ignore[return-value]
