"""Policy specs: plain frozen dataclasses, and their JSON-able dict form.

A policy as a dict (the Django loader, ``policy_test --json`` and the YAML export use it)::

    {
      "id": 1,                              # int, the evaluation order is the list order
      "name": "Redirect looped-back mail",
      "enabled": true,                      # optional, default true
      "if": [                               # optional, default []: "always"
        {"kind": "sender_ip", "params": {"values": ["127.0.0.1"]}}
      ],
      "except_if": [                        # optional, default []: never vetoes
        {"kind": "header", "params": {"values": [{"name": "X-SecureMailNotification"}]}},
        {"kind": "is_dsn", "join": "or"}
      ],
      "then": [{"kind": "redirect_secure_mailbox", "params": {"profile": "My delivery profile"}}],
      "continue_processing": false          # optional, default false
    }

A condition is ``{"kind", "params", "negate" (default false), "join" (default "and")}``;
``join`` is the word between it and the condition before it ("and" / "or"; ignored on the
first). ``params`` per kind:

* ``sender_ip``: ``{"values": ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]}``
* ``sender_address``: ``{"values": [address patterns], "check": "envelope"|"header"|"both"}``
  (``check`` defaults to "both": a match of the envelope sender or of a From address counts)
* ``recipient_address``: ``{"values": [address patterns]}`` (any envelope recipient)
* ``header``: ``{"values": [{"name": "X-Foo", "value": "wildcard or null"}]}``
* ``is_dsn``: ``{}``
* ``tags_any`` / ``tags_none``: ``{"values": ["Secure Collaboration: PURL"]}``
* ``subject`` / ``attachment``: ``{"values": [wildcard patterns]}``
* ``size_over``: ``{"bytes": 10485760}``

An action is ``{"kind", "params"}``: see ``policies.engine.actions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .actions import Action, action_from_dict
from .conditions import handler_for
from .errors import PolicySyntaxError
from .patterns import validate_text

JOINS = ("and", "or")


@dataclass(frozen=True)
class ConditionSpec:
    """One condition; params are validated and normalised on construction."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    negate: bool = False
    join: str = "and"

    def __post_init__(self) -> None:
        handler = handler_for(self.kind)
        if not isinstance(self.params, Mapping):
            raise PolicySyntaxError("params", "must be an object")
        object.__setattr__(self, "params", handler.normalize(self.params))
        if self.join not in JOINS:
            raise PolicySyntaxError("join", "must be 'and' or 'or'")
        if not isinstance(self.negate, bool):
            raise PolicySyntaxError("negate", "must be true or false")

    def describe(self) -> str:
        return handler_for(self.kind).describe(self.params, self.negate)

    @classmethod
    def from_dict(cls, data: Any) -> ConditionSpec:
        if not isinstance(data, Mapping):
            raise PolicySyntaxError("", "a condition must be an object with 'kind' and 'params'")
        _reject_unknown(data, {"kind", "params", "negate", "join"})
        return cls(
            kind=data.get("kind"),  # type: ignore[arg-type]
            params=data.get("params", {}),
            negate=data.get("negate", False),
            join=data.get("join", "and"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": _jsonable(self.params),
            "negate": self.negate,
            "join": self.join,
        }


@dataclass(frozen=True)
class PolicySpec:
    """One ordered outbound policy: IF, EXCEPT IF, THEN and "and continue processing"."""

    id: int
    name: str
    if_conditions: tuple[ConditionSpec, ...] = ()
    except_conditions: tuple[ConditionSpec, ...] = ()
    actions: tuple[Action, ...] = ()
    enabled: bool = True
    continue_processing: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise PolicySyntaxError("id", "must be a whole number")
        validate_text(self.name, "name", max_length=200)
        for name in ("enabled", "continue_processing"):
            if not isinstance(getattr(self, name), bool):
                raise PolicySyntaxError(name, "must be true or false")
        for name in ("if_conditions", "except_conditions", "actions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.actions:
            raise PolicySyntaxError("then", "needs at least one action")
        finals = [a.kind for a in self.actions if a.final]
        if len(finals) > 1:
            raise PolicySyntaxError("then", f"only one of {', '.join(finals)} can end processing")

    @classmethod
    def from_dict(cls, data: Any) -> PolicySpec:
        """Build and validate a spec; errors name the field, e.g. ``if[1].params.values[0]``."""
        if not isinstance(data, Mapping):
            raise PolicySyntaxError("", "a policy must be an object")
        _reject_unknown(
            data, {"id", "name", "enabled", "if", "except_if", "then", "continue_processing"}
        )
        return cls(
            id=data.get("id"),  # type: ignore[arg-type]
            name=data.get("name"),  # type: ignore[arg-type]
            if_conditions=_items(data, "if", ConditionSpec.from_dict),
            except_conditions=_items(data, "except_if", ConditionSpec.from_dict),
            actions=_items(data, "then", action_from_dict),
            enabled=data.get("enabled", True),
            continue_processing=data.get("continue_processing", False),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "enabled": self.enabled,
            "if": [c.to_dict() for c in self.if_conditions],
            "except_if": [c.to_dict() for c in self.except_conditions],
            "then": [a.to_dict() for a in self.actions],
            "continue_processing": self.continue_processing,
        }


def _items(data: Mapping[str, Any], key: str, build: Any) -> tuple[Any, ...]:
    raw = data.get(key, [])
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, list | tuple):
        raise PolicySyntaxError(key, "must be a list")
    out = []
    for index, item in enumerate(raw):
        try:
            out.append(build(item))
        except PolicySyntaxError as error:
            raise error.within(f"{key}[{index}]") from None
        except TypeError as error:  # e.g. a non-hashable kind
            raise PolicySyntaxError(f"{key}[{index}]", str(error)) from None
    return tuple(out)


def _reject_unknown(data: Mapping[str, Any], known: set[str]) -> None:
    for key in sorted(set(data) - known, key=str):
        raise PolicySyntaxError(str(key), "is not a known field")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return _jsonable(value._asdict())
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
