"""Shared test helper: the reference setup's four policies as dicts, and golden messages.

The policies are written out here as plain dicts (the documented PolicySpec dict format), so
the tests also check that ``policies.engine.reference_policies`` builds the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from policies.engine import MessageContext, PolicySpec, context_from_bytes

DATA = Path(__file__).resolve().parents[2] / "data"
PURL_TAG = "Secure Collaboration: PURL"
HEADER = {"kind": "header", "params": {"values": [{"name": "X-SecureMailNotification"}]}}
LOOPBACK = {"kind": "sender_ip", "params": {"values": ["127.0.0.1"]}}
NOTIFIER = {
    "kind": "sender_address",
    "params": {"values": ["secureMailer*@yourdomain.com"], "check": "both"},
}

POLICY_1 = {
    "id": 1,
    "name": "Redirect looped-back mail to the Secure Mailbox",
    "if": [LOOPBACK],
    "except_if": [HEADER, {"kind": "is_dsn", "join": "or"}],
    "then": [{"kind": "redirect_secure_mailbox", "params": {"profile": "My delivery profile"}}],
}
POLICY_2 = {
    "id": 2,
    "name": "Deliver looped-back notifications by the default route",
    "if": [NOTIFIER, LOOPBACK, HEADER],
    "then": [{"kind": "route", "params": {"route": "Default"}}],
    "continue_processing": True,
}
POLICY_3 = {
    "id": 3,
    "name": "Mark Secure Mailbox notifications",
    "if": [NOTIFIER],
    "except_if": [HEADER],
    "then": [
        {"kind": "add_header", "params": {"name": "X-SecureMailNotification", "value": "YES"}}
    ],
    "continue_processing": True,
}
POLICY_4 = {
    "id": 4,
    "name": "Send all outbound mail by the loopback route",
    "if": [{"kind": "tags_none", "params": {"values": [PURL_TAG]}}],
    "except_if": [
        {"kind": "sender_address", "params": {"values": ["MAILER-DAEMON"], "check": "both"}},
        LOOPBACK,
        {"kind": "is_dsn"},
        {**HEADER, "join": "or"},
    ],
    "then": [{"kind": "route", "params": {"route": "Loopback route"}}],
    "continue_processing": True,
}


def setup_specs(mode: str) -> list[PolicySpec]:
    dicts = [POLICY_1, POLICY_2, POLICY_3] + ([POLICY_4] if mode == "B" else [])
    return [PolicySpec.from_dict(d) for d in dicts]


def golden(
    name: str,
    *,
    client_ip: str | None,
    sender: str,
    recipients: Iterable[str] = ("bob@partner.com",),
    tags: Iterable[str] = (),
) -> MessageContext:
    raw = (DATA / name).read_bytes()
    return context_from_bytes(
        raw, client_ip=client_ip, envelope_sender=sender, recipients=recipients, tags=tags
    )
