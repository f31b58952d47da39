"""Cheap checks the SMTP session makes before it stores anything (no ORM, no I/O).

Each check returns the SMTP reply that refuses the input, or None when it is fine. The
vectors are those of ``shared/corpus/smtp-attacks.md`` (OR-n: address confusion and open
relay; SM-n: smuggling; INJ-5: control characters).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from relay.hosts import HostSyntaxError, domain_to_ascii

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ADDRESS = 320  # 64 (local part, RFC 5321 §4.5.3.1.1) + "@" + 255 (domain, §4.5.3.1.2)
MAX_HELO = 255

# OR-9 / INJ-5: C0 controls and DEL never belong in an envelope address or a HELO name;
# lone surrogates are bytes that were not UTF-8 (aiosmtpd decodes with surrogateescape).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")

# RFC 5321 §2.3.8: in SMTP, lines end with CRLF only. A bare CR or LF in the data is what
# every SMTP smuggling variant needs (SM-1..SM-9: `\n.\n`, `\r.\r`, `\r\n.\n`, ...), and
# NUL is not allowed in text (RFC 5322 §3.5, RFC 6152 §3; we offer no BINARYMIME). aiosmtpd
# 1.4.6 ends DATA only at CRLF.CRLF but passes such bytes on, and a downstream MTA that
# reads them as line ends would see two messages. We reject the whole message with
# 550 5.6.0 instead of repairing it, as Postfix 3.9 (`smtpd_forbid_bare_newline = normal`,
# CVE-2023-51764) and Sendmail 8.18.1 (CVE-2023-51765) do by default: silent repair would
# change signed content, and legitimate mail does not contain these bytes.
#
# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF (aiosmtpd allows
# 1001 on the wire, for the stuffed dot). Both scans are plain bytes methods: a regular
# expression costs seconds on a 25 MB message.
MAX_LINE = 998  # octets before the CRLF

REPLY_BARE = "550 5.6.0 Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8)"
REPLY_LONG = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"


def data_problem(content: bytes) -> str | None:
    """The reply that refuses the message data, or None (scans in C, no copies)."""
    crlf = content.count(b"\r\n")
    if b"\x00" in content or content.count(b"\r") != crlf or content.count(b"\n") != crlf:
        return REPLY_BARE
    pos, end = 0, len(content)
    while pos < end:  # every line ends in CRLF now
        eol = content.find(b"\r\n", pos)
        if eol < 0:
            eol = end
        if eol - pos > MAX_LINE:
            return REPLY_LONG
        pos = eol + 2
    return None


def helo_problem(name: str) -> str | None:
    if _CONTROL.search(name) or len(name) > MAX_HELO:
        return "501 5.5.4 Invalid HELO/EHLO name"
    return None


def address_problem(address: str, *, recipient: bool, smtputf8: bool) -> str | None:
    """Why an envelope address (as aiosmtpd parsed it) is refused, or None.

    The domain is the part after the *last* "@" (OR-5); "%" and "!" stay part of an opaque
    local part and are never routed on (OR-3, OR-4)."""
    if _CONTROL.search(address):
        return "501 5.1.3 Bad address syntax: control character"
    if len(address.encode("utf-8")) > MAX_ADDRESS:
        return "553 5.1.3 Address too long"
    if not address.isascii() and not smtputf8:
        # RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter on MAIL.
        return "553 5.6.7 Non-ASCII address requires SMTPUTF8"
    local, at, domain = address.rpartition("@")
    if not at:
        # RFC 5321 §4.5.1: "postmaster" without a domain must be accepted as a recipient.
        if recipient and address.lower() == "postmaster":
            return None
        return "553 5.1.3 Address must include a domain"
    if not local:
        return "553 5.1.3 Address must include a local part"
    if domain.startswith("["):
        if recipient:
            # OR-8: an address literal would let clients steer delivery to internal hosts.
            return "553 5.1.3 Address literals are not accepted"
        return None
    try:
        domain_to_ascii(domain)
    except HostSyntaxError:
        return "553 5.1.3 Invalid domain in address"
    return None


@dataclass(frozen=True)
class RelayRules:
    """Who may relay (RFC 5321 §3.6.2: no open relay) and which domains are our own."""

    networks: tuple[IPNetwork, ...]
    local_domains: frozenset[str]

    @classmethod
    def build(cls, networks: Iterable[str], local_domains: Iterable[str]) -> RelayRules:
        return cls(
            networks=tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks),
            local_domains=frozenset(domain_to_ascii(d) for d in local_domains if d.strip()),
        )

    def client_may_relay(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def is_local(self, address: str) -> bool:
        """Exact A-label comparison (OR-10 case, OR-11 no suffix match, OR-12 IDNA)."""
        _, at, domain = address.rpartition("@")
        if not at:
            return True  # bare "postmaster"
        try:
            return domain_to_ascii(domain) in self.local_domains
        except HostSyntaxError:
            return False

    def rcpt_problem(self, client_ip: str, address: str) -> str | None:
        if "@" not in address:
            # Bare "postmaster": there is no local delivery yet.
            return "550 5.1.1 Local delivery is not available"
        if self.client_may_relay(client_ip):
            return None
        if self.is_local(address):
            # From outside, only our own domains could be accepted, and there is no local
            # delivery yet: so everything from outside the relay networks is refused.
            return "550 5.1.1 Local delivery is not available"
        return "554 5.7.1 Relay access denied"
