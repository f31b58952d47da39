"""Which hosts to try for a domain: its MX hosts, then the delivery route's hosts.

Pure: plain inputs (a `RouteSpec`, a resolver) in, `Candidates` out; no ORM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import dns.resolver

from relay.hosts import HostSyntaxError, parse_host
from relay.mx import (
    DNSStatus,
    MXResult,
    PermanentDNSError,
    TemporaryDNSError,
    lookup_mx,
    resolve_addresses,
)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    use_dns_first: bool
    hosts: tuple[str, ...] = ()  # "host" or "host:port", IPv6 in brackets


@dataclass(frozen=True, slots=True)
class Candidate:
    host: str  # the MX or route host name (or the IP literal)
    ip: str
    port: int
    source: str  # "mx", "a" (implicit MX, RFC 5321 §5.1) or "route"


@dataclass(frozen=True, slots=True)
class Candidates:
    domain: str
    hosts: tuple[Candidate, ...]
    status: DNSStatus  # what to do when `hosts` is empty or every host failed
    dns: MXResult | None = None  # None when the route does not use DNS
    errors: tuple[str, ...] = ()  # DNS and route host problems, for the attempt log

    @property
    def reason(self) -> str:
        return "; ".join(self.errors)


def candidates_for(
    domain: str,
    route: RouteSpec,
    *,
    resolver: dns.resolver.Resolver,
    default_port: int,
    rng: random.Random | None = None,
) -> Candidates:
    """MX hosts first (when the route says "Try using DNS first"), then the route's hosts.

    MX hosts and route hosts without a port use `default_port` (MAILGATE_DELIVERY_PORT).
    A DNS failure does not stop the route's hosts from being tried; when nothing is left
    to try, the DNS outcome decides: permanent → bounce, temporary → defer."""
    found: list[Candidate] = []
    errors: list[str] = []
    mx: MXResult | None = None
    if route.use_dns_first:
        mx = lookup_mx(domain, resolver=resolver, rng=rng)
        errors.extend(mx.errors if mx.ok else (mx.reason,))
        for mx_host in mx.hosts:
            found.extend(
                Candidate(mx_host.name, ip, default_port, mx_host.source)
                for ip in mx_host.addresses
            )
    route_temporary = False
    for text in route.hosts:
        try:
            found.extend(_route_candidates(text, resolver, default_port))
        except TemporaryDNSError as exc:
            route_temporary = True
            errors.append(f"route host {text}: {exc}")
        except (PermanentDNSError, HostSyntaxError) as exc:
            errors.append(f"route host {text}: {exc}")
    unique = tuple(_dedupe(found))
    return Candidates(domain, unique, _status(unique, mx, route_temporary), mx, tuple(errors))


def _status(found: tuple[Candidate, ...], mx: MXResult | None, route_temporary: bool) -> DNSStatus:
    if found:
        return DNSStatus.OK
    if mx is not None and not mx.ok and not route_temporary:
        return mx.status
    # Nothing usable and no final DNS answer: a route host that does not resolve is our own
    # configuration, not the recipient's fault, so it defers (the admin can fix it).
    return DNSStatus.TEMPORARY


def _route_candidates(
    text: str, resolver: dns.resolver.Resolver, default_port: int
) -> list[Candidate]:
    spec = parse_host(text)
    port = spec.port or default_port
    if spec.is_ip:
        return [Candidate(spec.host, spec.host, port, "route")]
    addresses = resolve_addresses(spec.host, resolver=resolver)
    if not addresses:
        raise PermanentDNSError(f"{spec.host}: no A/AAAA records")
    return [Candidate(spec.host, ip, port, "route") for ip in addresses]


def _dedupe(found: list[Candidate]) -> list[Candidate]:
    """Keep the first of each (ip, port): a host listed twice is tried once."""
    seen: set[tuple[str, int]] = set()
    kept: list[Candidate] = []
    for candidate in found:
        key = (candidate.ip, candidate.port)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept
