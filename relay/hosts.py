"""Parsing of route hosts and domains: `host`, `host:port`, `[IPv6]` or `[IPv6]:port`.

Pure functions shared by forms, the loader and delivery (no ORM)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class HostSyntaxError(ValueError):
    """A host, port or domain that cannot be used; the message is shown to the admin."""


@dataclass(frozen=True, slots=True)
class HostSpec:
    host: str  # A-label name or bare IP literal (no brackets)
    port: int | None

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port is None else f"{shown}:{self.port}"


def domain_to_ascii(value: str) -> str:
    """Return the A-label (IDNA) form of a domain name, lower-cased; raise on bad syntax."""
    name = value.strip().rstrip(".").lower()
    if not name:
        raise HostSyntaxError("Enter a domain name.")
    if len(name) > 253:
        raise HostSyntaxError("A domain name is at most 253 characters.")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise HostSyntaxError(f"'{value}' is not a valid domain name ({exc}).") from None
    labels = ascii_name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise HostSyntaxError(f"'{value}' is not a valid domain name.")
    if labels[-1].isdigit():
        raise HostSyntaxError(f"'{value}' is not a valid domain name (numeric top label).")
    return ascii_name


def domain_to_unicode(ascii_name: str) -> str:
    """The U-label form for display; the A-label is returned unchanged if it cannot decode."""
    try:
        return ascii_name.encode("ascii").decode("idna")
    except UnicodeError:
        return ascii_name


def address_literal_ip(domain: str) -> str | None:
    """The IP of an address literal, normalised (IPv6 compressed), or None if `domain` is none.

    RFC 5321 §4.1.3: `[192.0.2.7]` is an IPv4 literal and `[IPv6:2001:db8::1]` an IPv6 one
    (the tag is matched ignoring case, as ABNF strings are); `[2001:db8::1]` without the tag
    and general literals (`[tag:...]`) are not addresses we can compare, so they give None."""
    text = domain.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    inner = text[1:-1]
    if "%" in inner:  # a zone index (RFC 6874) is local to a host, never in an address
        return None
    try:
        if inner[:5].lower() == "ipv6:":
            return str(ipaddress.IPv6Address(inner[5:]))
        return str(ipaddress.IPv4Address(inner))
    except ValueError:
        return None


def _port(raw: str) -> int:
    if not raw.isdigit():
        raise HostSyntaxError(f"Port '{raw}' is not a number.")
    port = int(raw)
    if not 1 <= port <= 65535:
        raise HostSyntaxError(f"Port {port} is out of range (1-65535).")
    return port


def parse_host(value: str) -> HostSpec:
    """Parse a mail routing host as written by an administrator."""
    text = value.strip()
    if not text:
        raise HostSyntaxError("Enter a host.")
    if any(ch.isspace() for ch in text):
        raise HostSyntaxError(f"'{value}' contains white space.")
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise HostSyntaxError(f"'{value}': missing ']' after the IPv6 address.")
        literal, rest = text[1:end], text[end + 1 :]
        try:
            ip = ipaddress.IPv6Address(literal)
        except ValueError:
            raise HostSyntaxError(f"'{literal}' is not an IPv6 address.") from None
        if rest and not rest.startswith(":"):
            raise HostSyntaxError(f"'{value}': unexpected text after ']'.")
        return HostSpec(str(ip), _port(rest[1:]) if rest else None)
    if text.count(":") > 1:
        raise HostSyntaxError(f"'{value}': write an IPv6 address in brackets, e.g. [::1]:25.")
    host, _, port_text = text.partition(":")
    port = _port(port_text) if _ else None
    try:
        return HostSpec(str(ipaddress.IPv4Address(host)), port)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", host):
        raise HostSyntaxError(f"'{host}' is not a valid IPv4 address.")
    return HostSpec(domain_to_ascii(host), port)
