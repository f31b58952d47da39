"""Content conditions: headers, DSN-ness, tags, subject, size and attachments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import PolicySyntaxError
from ..message import EvalState
from ..patterns import compile_wildcards, validate_header_name, validate_tags, validate_text
from .base import Check, ConditionKind, Params, register


class HeaderMatch(NamedTuple):
    """One entry of a ``header`` condition: a name, and optionally a wildcard value pattern."""

    name: str
    value: str | None = None


@register
class Header(ConditionKind):
    kind = "header"
    verbs = ("message contains", "message does not contain")
    phrase = "any of the headers: "

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = params.get("values")
        if isinstance(raw, str | bytes) or not isinstance(raw, list | tuple) or not raw:
            raise PolicySyntaxError("params.values", "needs a list of {name, value} objects")
        return {"values": tuple(_header_match(item, i) for i, item in enumerate(raw))}

    @classmethod
    def compile(cls, params: Params) -> Check:
        by_name: dict[str, list[str] | None] = {}
        for name, value in params["values"]:
            key = name.lower()
            if value is None or (key in by_name and by_name[key] is None):
                by_name[key] = None
            else:
                by_name.setdefault(key, []).append(value)  # type: ignore[union-attr]
        wanted = tuple(
            (key, None if pats is None else compile_wildcards(pats).match)
            for key, pats in by_name.items()
        )

        def check(s: EvalState) -> bool:
            for key, match in wanted:
                values = s.header_values(key)
                if values and (match is None or any(match(v) for v in values)):
                    return True
            return False

        return check

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        names = ", ".join(f"'{n}'" if v is None else f"'{n}: {v}'" for n, v in params["values"])
        return f"{cls.verbs[negate]} {cls.phrase}{names}"


def _header_match(item: Any, index: int) -> HeaderMatch:
    field = f"params.values[{index}]"
    if isinstance(item, str):
        item = {"name": item}
    elif isinstance(item, HeaderMatch):  # already normalised
        item = item._asdict()
    if not isinstance(item, Mapping) or set(item) - {"name", "value"}:
        raise PolicySyntaxError(field, "must be an object with 'name' and optional 'value'")
    name = validate_header_name(item.get("name"), f"{field}.name")
    value = item.get("value")
    if value is not None:
        value = validate_text(value, f"{field}.value").strip()
    return HeaderMatch(name, value)


@register
class IsDSN(ConditionKind):
    """Null reverse-path (RFC 5321 §4.5.5) or a multipart/report delivery-status (RFC 3464)."""

    kind = "is_dsn"
    verbs = ("message is", "message is not")
    keys = frozenset()

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def compile(cls, params: Params) -> Check:
        return lambda s: s.is_dsn

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        return f"{cls.verbs[negate]} a delivery status notification"


@register
class TagsAny(ConditionKind):
    kind = "tags_any"
    verbs = ("message contains", "message does not contain")
    phrase = "any of the tags: "

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"values": validate_tags(params.get("values"), "params.values")}

    @classmethod
    def compile(cls, params: Params) -> Check:
        wanted = frozenset(t.lower() for t in params["values"])
        return lambda s: not wanted.isdisjoint(s.tags)


@register
class TagsNone(TagsAny):
    kind = "tags_none"
    verbs = ("message contains none of the tags: ", "message contains any of the tags: ")
    phrase = ""

    @classmethod
    def compile(cls, params: Params) -> Check:
        wanted = frozenset(t.lower() for t in params["values"])
        return lambda s: wanted.isdisjoint(s.tags)

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        return cls.verbs[negate] + ", ".join(f"'{v}'" for v in params["values"])


@register
class Subject(ConditionKind):
    kind = "subject"
    verbs = ("message subject matches", "message subject does not match")
    phrase = "any of: "

    @classmethod
    def compile(cls, params: Params) -> Check:
        match = compile_wildcards(params["values"]).match
        return lambda s: s.subject is not None and match(s.subject) is not None


@register
class SizeOver(ConditionKind):
    kind = "size_over"
    keys = frozenset({"bytes"})

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        size = params.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise PolicySyntaxError("params.bytes", "must be a whole number of bytes, 0 or more")
        return {"bytes": size}

    @classmethod
    def compile(cls, params: Params) -> Check:
        limit = params["bytes"]
        return lambda s: s.size > limit

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        verb = "is not" if negate else "is"
        return f"message size {verb} over {params['bytes']} bytes"


@register
class Attachment(ConditionKind):
    """Patterns are matched against each attachment's file name and its content type."""

    kind = "attachment"
    verbs = ("message has an attachment", "message has no attachment")
    phrase = "matching any of: "

    @classmethod
    def compile(cls, params: Params) -> Check:
        match = compile_wildcards(params["values"]).match
        return lambda s: any(
            (bool(name) and match(name) is not None) or match(ctype) is not None
            for name, ctype in s.attachments
        )
