"""Reads of the relay configuration.

The delivery stage asks for the settings of a domain for every message; the routes,
sending policies and external domains change seldom. So each process keeps them in memory
under ``ConfigVersion``'s token and reads that one row per look-up (the policy engine's
ruleset is cached the same way, policies/loader.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailgate.versions import VersionedCache
from relay.hosts import HostSyntaxError, address_literal_ip, domain_to_ascii
from relay.models import ConfigVersion, DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from relay.models.config import DEFAULT_NAME

Kind = ExternalDomain.Kind


@dataclass(frozen=True)
class DomainSettings:
    """The route and sending connection policy that apply to one recipient domain."""

    route: DeliveryRoute
    sending_policy: SendingConnectionPolicy
    entry: ExternalDomain | None  # None: the defaults applied


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ConfigSnapshot:
    """The relay configuration as one process last read it (shared: never modify)."""

    entries: dict[str, ExternalDomain]  # by domain (or IP), with route and policy loaded
    routes: dict[str, DeliveryRoute]  # by name
    default_route: DeliveryRoute
    default_policy: SendingConnectionPolicy


def _snapshot_read() -> ConfigSnapshot:
    return ConfigSnapshot(
        entries={
            entry.domain: entry
            for entry in ExternalDomain.objects.select_related("route", "sending_policy")
        },
        routes={route.name: route for route in DeliveryRoute.objects.all()},
        default_route=default_route(),
        default_policy=default_sending_policy(),
    )


_snapshots = VersionedCache(ConfigVersion.current, _snapshot_read)


def config_snapshot() -> ConfigSnapshot:
    """The current configuration: rebuilt only when the version row changed."""
    return _snapshots.get()


def clear_cache() -> None:
    _snapshots.clear()


def _ip_host_match(domain: str, entries: dict[str, ExternalDomain]) -> ExternalDomain | None:
    """An address literal (RFC 5321 §4.1.3) matches only the Host entry of its IP."""
    ip = address_literal_ip(domain)
    if ip is None:
        return None
    entry = entries.get(ip)
    return entry if entry is not None and entry.kind == Kind.HOST else None


def external_domain_match(
    domain: str, snapshot: ConfigSnapshot | None = None
) -> ExternalDomain | None:
    """The most specific entry for the domain part of a recipient address, or None (the
    Default route and policy apply).

    Precedence: a Host entry naming exactly this host (for an IP entry: the address literal
    `[192.0.2.7]` or `[IPv6:2001:db8::1]`), then a Domain entry for exactly this domain, then
    the closest parent Domain entry that includes its subdomains. A Host entry never covers
    other names, and a bare IP is not a domain: it matches nothing."""
    known = (snapshot or config_snapshot()).entries
    if domain.strip().startswith("["):
        return _ip_host_match(domain, known)
    try:
        name = domain_to_ascii(domain)
    except HostSyntaxError:
        name = domain.strip().lower().rstrip(".")
    if not name or _is_ip(name):
        return None
    labels = name.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels))]
    entries = [known[candidate] for candidate in candidates if candidate in known]
    for kind in (Kind.HOST, Kind.DOMAIN):
        for entry in entries:
            if entry.kind == kind and entry.domain == name:
                return entry
    parents = {e.domain: e for e in entries if e.kind == Kind.DOMAIN and e.include_subdomains}
    for parent in candidates[1:]:  # the closest parent first
        if parent in parents:
            return parents[parent]
    return None


def default_route() -> DeliveryRoute:
    route, _ = DeliveryRoute.objects.get_or_create(
        name=DEFAULT_NAME, defaults={"use_dns_first": True, "hosts": []}
    )
    return route


def default_sending_policy() -> SendingConnectionPolicy:
    policy, _ = SendingConnectionPolicy.objects.get_or_create(
        name=DEFAULT_NAME, defaults={"enable_tls": True, "require_tls": False}
    )
    return policy


def domain_settings(domain: str, snapshot: ConfigSnapshot | None = None) -> DomainSettings:
    snapshot = snapshot or config_snapshot()
    entry = external_domain_match(domain, snapshot)
    if entry is not None:
        return DomainSettings(entry.route, entry.sending_policy, entry)
    return DomainSettings(snapshot.default_route, snapshot.default_policy, None)
