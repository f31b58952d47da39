"""Envelope address checks, done before anything reaches the wire.

smtplib's `quoteaddr()` re-parses addresses with `email.utils.parseaddr` and can silently
rewrite them (corpus INJ-1: `'"x\\r\\nRCPT TO:<e@evil.example>"@d.example'` is sent as
`<e@evil.example>`). So the delivery code checks every address against a strict RFC 5321
§4.1.2 Mailbox grammar and writes the path itself: `FROM:<addr>` / `TO:<addr>`.
"""

from __future__ import annotations

import re

from relay.hosts import HostSyntaxError, domain_to_ascii

# RFC 5321 §4.1.2 atext, plus any non-ASCII character for SMTPUTF8 (RFC 6531 §3.3).
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
# Quoted-string without space, quote or backslash except as a quoted-pair (§4.1.2).
_QUOTED = re.compile(r'"(?:[\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x21-\x7e])*"')
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>]")

MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1, octets
MAX_DOMAIN = 255  # §4.5.3.1.2
MAX_PATH = 256  # §4.5.3.1.3, including the angle brackets


def address_problem(address: str, *, null_ok: bool = False) -> str | None:
    """Why `address` cannot be used as an envelope address, or None when it can.

    `null_ok`: the empty reverse-path `<>` (RFC 5321 §4.5.5) is allowed for MAIL FROM."""
    if address == "":
        return None if null_ok else "empty address"
    if _FORBIDDEN.search(address):
        return "control character, space or angle bracket in address"
    if len(address.encode("utf-8")) + 2 > MAX_PATH:
        return "address too long"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "address without local part or domain"
    if len(local.encode("utf-8")) > MAX_LOCAL:
        return "local part too long"
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED.fullmatch(local)):
        return "malformed local part"
    if domain.startswith("["):
        return "address literals are not delivered"
    try:
        domain_to_ascii(domain)
    except HostSyntaxError as exc:
        return str(exc)
    if len(domain.encode("utf-8")) > MAX_DOMAIN:
        return "domain too long"
    return None


def needs_smtputf8(*addresses: str) -> bool:
    """RFC 6531 §3.4: a non-ASCII envelope address needs the SMTPUTF8 parameter."""
    return not all(address.isascii() for address in addresses)
