"""Reads of the relay configuration."""

from __future__ import annotations

from dataclasses import dataclass

from relay.hosts import HostSyntaxError, domain_to_ascii
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from relay.models.config import DEFAULT_NAME


@dataclass(frozen=True)
class DomainSettings:
    """The route and sending connection policy that apply to one recipient domain."""

    route: DeliveryRoute
    sending_policy: SendingConnectionPolicy
    entry: ExternalDomain | None  # None: the defaults applied


def external_domain_match(domain: str) -> ExternalDomain | None:
    """The most specific entry for `domain`: an exact entry, else the longest parent domain
    whose entry includes subdomains."""
    try:
        name = domain_to_ascii(domain)
    except HostSyntaxError:
        name = domain.strip().lower().rstrip(".")
    labels = name.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels))]
    entries = {e.domain: e for e in ExternalDomain.objects.filter(domain__in=candidates)}
    exact = entries.get(name)
    if exact is not None:
        return exact
    for parent in candidates[1:]:  # longest parent first
        entry = entries.get(parent)
        if entry is not None and entry.include_subdomains:
            return entry
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


def domain_settings(domain: str) -> DomainSettings:
    entry = external_domain_match(domain)
    if entry is not None:
        return DomainSettings(entry.route, entry.sending_policy, entry)
    return DomainSettings(default_route(), default_sending_policy(), None)
