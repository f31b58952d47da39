"""Envelope conditions: the client IP, the sender and the recipients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import PolicySyntaxError
from ..message import EvalState
from ..patterns import compile_address_patterns, validate_address_patterns, validate_ip_list
from .base import Check, ConditionKind, Params, register


@register
class SenderIP(ConditionKind):
    kind = "sender_ip"
    verbs = ("is sent from", "is not sent from")
    phrase = "any of the IP addresses "

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        networks = validate_ip_list(params.get("values"), "params.values")
        return {
            "values": tuple(
                str(n) if n.prefixlen < n.max_prefixlen else str(n.network_address)
                for n in networks
            )
        }

    @classmethod
    def compile(cls, params: Params) -> Check:
        ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in validate_ip_list(params["values"]):
            ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
        frozen = {v: tuple(r) for v, r in ranges.items()}

        def check(s: EvalState) -> bool:
            ip = s.client_ip
            if ip is None:
                return False
            n = int(ip)
            return any(lo <= n <= hi for lo, hi in frozen[ip.version])

        return check

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        return f"{cls.verbs[negate]} {cls.phrase}{', '.join(params['values'])}"


@register
class SenderAddress(ConditionKind):
    kind = "sender_address"
    verbs = ("is sent from", "is not sent from")
    phrase = "any of the addresses "
    keys = frozenset({"values", "check"})
    checks: ClassVar[dict[str, str]] = {
        "envelope": "envelope sender",
        "header": "From header",
        "both": "envelope sender or From header",
    }

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        check = params.get("check", "both")
        if check not in cls.checks:
            raise PolicySyntaxError("params.check", "must be 'envelope', 'header' or 'both'")
        return {
            "values": validate_address_patterns(params.get("values"), "params.values"),
            "check": check,
        }

    @classmethod
    def compile(cls, params: Params) -> Check:
        match = compile_address_patterns(params["values"]).match
        envelope = params["check"] in ("envelope", "both")
        header = params["check"] in ("header", "both")

        def check(s: EvalState) -> bool:
            if envelope and s.sender is not None and match(s.sender) is not None:
                return True
            return header and any(match(a) is not None for a in s.header_from)

        return check

    @classmethod
    def describe(cls, params: Params, negate: bool) -> str:
        return f"{super().describe(params, negate)} ({cls.checks[params['check']]})"


@register
class RecipientAddress(ConditionKind):
    kind = "recipient_address"
    verbs = ("is sent to", "is not sent to")
    phrase = "any of the addresses "

    @classmethod
    def normalize_known(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"values": validate_address_patterns(params.get("values"), "params.values")}

    @classmethod
    def compile(cls, params: Params) -> Check:
        match = compile_address_patterns(params["values"]).match
        return lambda s: any(match(a) for a in s.recipients)
