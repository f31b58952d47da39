"""MX lookup for outbound delivery (RFC 5321 §5.1, RFC 7505), with dnspython.

Pure network client: plain inputs, a result dataclass out, no ORM. The resolver is always an
argument (as Modoboa's DNS helpers do), so tests point it at a loopback DNS server.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from enum import StrEnum

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver


class DNSStatus(StrEnum):
    OK = "ok"
    PERMANENT = "permanent"  # bounce: the domain cannot receive mail
    TEMPORARY = "temporary"  # defer: ask again later


@dataclass(frozen=True, slots=True)
class MXHost:
    name: str  # the exchange name, lower case, without the trailing dot
    preference: int
    addresses: tuple[str, ...]  # A then AAAA records, in the order the server gave them
    source: str = "mx"  # "mx", or "a" for the implicit MX of RFC 5321 §5.1


@dataclass(frozen=True, slots=True)
class MXResult:
    domain: str
    status: DNSStatus
    hosts: tuple[MXHost, ...] = ()
    reason: str = ""  # why not OK, or which exchanges could not be resolved
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status is DNSStatus.OK


def make_resolver(nameservers: list[str], timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver for `nameservers` ("ip", "ip:port" or "[ipv6]:port").

    With nameservers given, /etc/resolv.conf is never read (configure=False): no search list,
    no system servers. An empty list means the system resolver (production default)."""
    if not nameservers:
        resolver = dns.resolver.Resolver(configure=True)
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(text) for text in nameservers]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None
    return resolver


def _nameserver(text: str) -> dns.nameserver.Nameserver:
    value = text.strip()
    port = 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = int(port_text)
    else:
        host = value
    ipaddress.ip_address(host)  # a name here would need the system resolver: refuse it
    return dns.nameserver.Do53Nameserver(host, port)


class TemporaryDNSError(Exception):
    """SERVFAIL, timeout, no reachable name server: ask again later."""


class PermanentDNSError(Exception):
    """NXDOMAIN: the name does not exist."""


def _query(name: str, rdtype: str, resolver: dns.resolver.Resolver) -> list[object] | None:
    """Answer records, or None for NoAnswer (the name exists, no records of that type)."""
    qname = dns.name.from_text(name)  # absolute: no search list is ever applied
    try:
        answer = resolver.resolve(qname, rdtype, search=False)
    except dns.resolver.NXDOMAIN as exc:
        raise PermanentDNSError(f"{name}: no such domain (NXDOMAIN)") from exc
    except dns.resolver.NoAnswer:
        return None
    except dns.resolver.NoNameservers as exc:  # SERVFAIL, REFUSED... from every server
        raise TemporaryDNSError(f"{name} {rdtype}: name servers failed (SERVFAIL)") from exc
    except dns.exception.Timeout as exc:
        raise TemporaryDNSError(f"{name} {rdtype}: DNS timeout") from exc
    except dns.exception.DNSException as exc:
        raise TemporaryDNSError(f"{name} {rdtype}: {type(exc).__name__}") from exc
    return list(answer)


def resolve_addresses(name: str, *, resolver: dns.resolver.Resolver) -> tuple[str, ...]:
    """A then AAAA addresses of `name`; () when it exists without any.

    Raise PermanentDNSError (NXDOMAIN) or TemporaryDNSError (SERVFAIL, timeout). A
    temporary failure of one family does not hide the other's addresses."""
    found: list[str] = []
    temporary: TemporaryDNSError | None = None
    for rdtype in ("A", "AAAA"):
        try:
            records = _query(name, rdtype, resolver)
        except TemporaryDNSError as exc:
            temporary = exc
            continue
        found.extend(str(rr) for rr in records or ())
    if not found and temporary is not None:
        raise temporary
    return tuple(found)


def lookup_mx(
    domain: str, *, resolver: dns.resolver.Resolver, rng: random.Random | None = None
) -> MXResult:
    """The mail exchangers of `domain` (an A-label), best first, with their addresses."""
    rng = rng or random.Random()  # load spreading, not security
    try:
        records = _query(domain, "MX", resolver)
    except PermanentDNSError as exc:
        return MXResult(domain, DNSStatus.PERMANENT, reason=str(exc))
    except TemporaryDNSError as exc:
        return MXResult(domain, DNSStatus.TEMPORARY, reason=str(exc))
    if records is None:
        return _implicit_mx(domain, resolver)
    pairs = [(int(rr.preference), str(rr.exchange).rstrip(".").lower()) for rr in records]  # type: ignore[attr-defined]
    # RFC 7505 §3: one MX whose exchange is the root ("." → "") means "no mail accepted".
    if len(pairs) == 1 and pairs[0][1] == "":
        return MXResult(domain, DNSStatus.PERMANENT, reason=f"{domain}: null MX (RFC 7505)")
    # A null MX mixed with real ones is a misconfiguration (RFC 7505 §3): ignore the null one.
    pairs = [pair for pair in pairs if pair[1]]
    return _resolve_exchanges(domain, _order(pairs, rng), resolver)


def _order(pairs: list[tuple[int, str]], rng: random.Random) -> list[tuple[int, str]]:
    """RFC 5321 §5.1: lowest preference first; equal preferences in random order."""
    shuffled = list(dict.fromkeys(pairs))  # duplicate records count once
    rng.shuffle(shuffled)
    return sorted(shuffled, key=lambda pair: pair[0])  # sort is stable: the shuffle stays


def _resolve_exchanges(
    domain: str, pairs: list[tuple[int, str]], resolver: dns.resolver.Resolver
) -> MXResult:
    hosts: list[MXHost] = []
    errors: list[str] = []
    temporary = False
    for preference, name in pairs:
        try:
            addresses = resolve_addresses(name, resolver=resolver)
        except TemporaryDNSError as exc:
            temporary = True
            errors.append(str(exc))
            continue
        except PermanentDNSError as exc:
            errors.append(str(exc))
            continue
        if not addresses:
            errors.append(f"{name}: no A/AAAA records")
            continue
        hosts.append(MXHost(name, preference, addresses, "mx"))
    if hosts:
        return MXResult(domain, DNSStatus.OK, tuple(hosts), errors=tuple(errors))
    # RFC 5321 §5.1: MX records present but none usable is an error; it is only final when
    # no lookup failed temporarily (a broken name server may answer correctly later).
    status = DNSStatus.TEMPORARY if temporary else DNSStatus.PERMANENT
    reason = f"{domain}: no usable mail exchanger ({'; '.join(errors)})"
    return MXResult(domain, status, reason=reason, errors=tuple(errors))


def _implicit_mx(domain: str, resolver: dns.resolver.Resolver) -> MXResult:
    """RFC 5321 §5.1: without MX records the domain itself is the only, implicit, MX."""
    try:
        addresses = resolve_addresses(domain, resolver=resolver)
    except PermanentDNSError as exc:
        return MXResult(domain, DNSStatus.PERMANENT, reason=str(exc))
    except TemporaryDNSError as exc:
        return MXResult(domain, DNSStatus.TEMPORARY, reason=str(exc))
    if not addresses:
        reason = f"{domain}: no MX and no A/AAAA records"
        return MXResult(domain, DNSStatus.PERMANENT, reason=reason)
    return MXResult(domain, DNSStatus.OK, (MXHost(domain, 0, addresses, "a"),))
