"""The condition handler base class and the registry of condition kinds.

Every handler turns its params into a compiled check ``(EvalState) -> bool`` once, at
compile time (patterns become one regex, ranges become integers, tags a lower-case set), and
says in the vendor's words what it tests. Negation is applied by the caller, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..errors import PolicySyntaxError
from ..message import EvalState
from ..patterns import validate_patterns

Check = Callable[[EvalState], bool]
Params = Mapping[str, Any]


class ConditionKind:
    """Base handler: ``values`` is a list of wildcard patterns; subclasses override."""

    kind: ClassVar[str]
    #: the sentence starts with verbs[negate], then the phrase, then the quoted values.
    verbs: ClassVar[tuple[str, str]] = ("", "")
    phrase: ClassVar[str] = ""
    keys: ClassVar[frozenset[str]] = frozenset({"values"})

    @classmethod
    def normalize(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - cls.keys)
        if unknown:
            raise PolicySyntaxError(f"params.{unknown[0]}", "is not a parameter of this condition")
        return cls.normalize_known(params)

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"values": validate_patterns(params.get("values"), "params.values")}

    @classmethod
    def compile(cls, params: Params) -> Check:
        raise NotImplementedError

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        quoted = ", ".join(f"'{v}'" for v in params["values"])
        return f"{cls.verbs[negate]} {cls.phrase}{quoted}"


REGISTRY: dict[str, type[ConditionKind]] = {}


def register(cls: type[ConditionKind]) -> type[ConditionKind]:
    REGISTRY[cls.kind] = cls
    return cls


def handler_for(kind: Any) -> type[ConditionKind]:
    handler = REGISTRY.get(kind) if isinstance(kind, str) else None
    if handler is None:
        known = ", ".join(sorted(REGISTRY))
        raise PolicySyntaxError("kind", f"unknown condition {kind!r} (known: {known})")
    return handler
