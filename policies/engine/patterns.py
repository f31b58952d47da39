"""Wildcard patterns, address patterns, IP lists and header names: validation and compilation.

Wildcards (every pattern in a policy): ``*`` matches any run of characters (also none), ``?``
exactly one character; everything else is literal (``.``, ``[``, ``+`` too: these are not
regular expressions and not ``fnmatch`` character classes); matching is case-insensitive and
anchored at both ends. The reference article's ``secureMailer.*@yourdomain.com`` therefore
means "``secureMailer``, a literal dot, anything, ``@yourdomain.com``": it does *not* match
``secureMailer@yourdomain.com`` (see ``policies.engine.reference``).

Address patterns (``sender_address``, ``recipient_address``), one rule for both:

* ``local@domain`` (wildcards on either side) matches the whole address;
* ``@domain`` matches any address at that domain (same as ``*@domain``);
* no ``@`` and a dot, e.g. ``partner.com`` or ``*.partner.com``: the domain (same as ``*@...``);
* no ``@`` and no dot, e.g. ``MAILER-DAEMON``: the local part at any domain (``...@*``).
  A dotted local part must be written with its ``@``: ``first.last@*``.

The null reverse-path ``<>`` is no address: it matches no address pattern.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .errors import PolicySyntaxError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_PATTERN_LENGTH = 998  # RFC 5322 §2.1.1: a line is at most 998 characters.
# RFC 5322 §3.6.8: field-name = 1*ftext; ftext = %d33-57 / %d59-126 (printable, no colon).
_FTEXT = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def wildcard_to_regex(pattern: str) -> str:
    """Translate one wildcard pattern to (unanchored) regular-expression source."""
    out: list[str] = []
    for char in pattern:
        if char == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "".join(out)


def compile_wildcards(patterns: Iterable[str]) -> re.Pattern[str]:
    """One anchored, case-insensitive regex matching any of ``patterns``."""
    alternatives = "|".join(wildcard_to_regex(p) for p in patterns)
    return re.compile(f"(?:{alternatives})\\Z", re.IGNORECASE | re.DOTALL)


def address_pattern_to_regex(pattern: str) -> str:
    """Regex source for one address pattern, matched against ``local@domain`` (see above)."""
    if "@" in pattern:
        local, _, domain = pattern.rpartition("@")
        local_src = wildcard_to_regex(local) if local else ".*"
        return f"{local_src}@{wildcard_to_regex(domain)}"
    if "." in pattern:
        return f".*@{wildcard_to_regex(pattern)}"
    return f"{wildcard_to_regex(pattern)}@[^@]*"


def compile_address_patterns(patterns: Iterable[str]) -> re.Pattern[str]:
    """One anchored, case-insensitive regex matching an address against any of ``patterns``."""
    alternatives = "|".join(address_pattern_to_regex(p) for p in patterns)
    return re.compile(f"(?:{alternatives})\\Z", re.IGNORECASE | re.DOTALL)


def _require_list(values: Any, field: str = "values") -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PolicySyntaxError(field, "must be a list")
    items = list(values)
    if not items:
        raise PolicySyntaxError(field, "needs at least one value")
    return items


def validate_text(value: Any, field: str = "value", *, max_length: int = 998) -> str:
    """A non-empty single-line string without control characters (tab allowed)."""
    if not isinstance(value, str):
        raise PolicySyntaxError(field, "must be a string")
    if not value.strip():
        raise PolicySyntaxError(field, "must not be empty")
    if _CONTROL.search(value):
        raise PolicySyntaxError(field, "must not contain line breaks or control characters")
    if len(value) > max_length:
        raise PolicySyntaxError(field, f"is longer than {max_length} characters")
    return value


def validate_patterns(values: Any, field: str = "values") -> tuple[str, ...]:
    """Wildcard patterns (subject, attachment, header value): non-empty, one line each."""
    items = _require_list(values, field)
    return tuple(
        validate_text(v, f"{field}[{i}]", max_length=MAX_PATTERN_LENGTH).strip()
        for i, v in enumerate(items)
    )


def validate_address_patterns(values: Any, field: str = "values") -> tuple[str, ...]:
    """Address patterns: wildcard patterns, no spaces, a non-empty domain after any ``@``."""
    patterns = validate_patterns(values, field)
    for i, pattern in enumerate(patterns):
        if any(c.isspace() for c in pattern):
            raise PolicySyntaxError(f"{field}[{i}]", f"{pattern!r} contains a space")
        if "@" in pattern and not pattern.rpartition("@")[2]:
            raise PolicySyntaxError(f"{field}[{i}]", f"{pattern!r} has nothing after '@'")
    return patterns


def parse_network(value: Any, field: str = "value") -> IPNetwork:
    """One IPv4/IPv6 address or CIDR range; host bits set in a range are an error."""
    if not isinstance(value, str) or not value.strip():
        raise PolicySyntaxError(field, "must be an IP address or CIDR range")
    text = value.strip()
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PolicySyntaxError(field, f"{text!r} is not an IP address or CIDR range") from None
    raise PolicySyntaxError(field, f"{text!r} has host bits set; did you mean {loose}?")


def validate_ip_list(values: Any, field: str = "values") -> tuple[IPNetwork, ...]:
    """IPv4/IPv6 addresses and CIDR ranges, as ``ip_network`` objects."""
    items = _require_list(values, field)
    return tuple(parse_network(v, f"{field}[{i}]") for i, v in enumerate(items))


def validate_header_name(name: Any, field: str = "name") -> str:
    """A header field name: 1*ftext (RFC 5322 §3.6.8), at most 76 characters."""
    if not isinstance(name, str) or not _FTEXT.match(name):
        raise PolicySyntaxError(
            field, f"{name!r} is not a header name (printable ASCII, no spaces or colon)"
        )
    if len(name) > 76:  # RFC 5322 §2.1.1 recommends 78-character lines, name and ": ".
        raise PolicySyntaxError(field, "is longer than 76 characters")
    return name


def validate_tags(values: Any, field: str = "values") -> tuple[str, ...]:
    """Tag names: non-empty single-line strings, compared case-insensitively."""
    items = _require_list(values, field)
    return tuple(
        validate_text(v, f"{field}[{i}]", max_length=200).strip() for i, v in enumerate(items)
    )


@lru_cache(maxsize=4096)  # a gateway sees few distinct client IPs; parsing costs ~1 µs
def client_address(value: str | None) -> IPAddress | None:
    """The client IP as an address object; IPv4-mapped IPv6 becomes IPv4, junk becomes None.

    A dual-stack listener reports an IPv4 client as ``::ffff:127.0.0.1`` (RFC 4291 §2.5.5.2);
    it must match a policy that says ``127.0.0.1``.
    """
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
