"""The configuration the loop check reads, as plain frozen data (no Django, no ORM).

``policies.loopcheck.collect`` fills a ``LoopConfig`` from the database; tests build one by
hand. Hosts are parsed with ``relay.hosts`` (pure), the same parser delivery uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.engine import PolicySpec
from relay.hosts import HostSyntaxError, domain_to_ascii, parse_host

DEFAULT_NAME = "Default"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class RouteInfo:
    name: str
    use_dns_first: bool = True
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendingInfo:
    name: str
    enable_tls: bool = True
    require_tls: bool = False
    no_tls_for_notifications: bool = False

    def requires_tls(self, *, notification_tagged: bool) -> bool:
        """Whether delivery must use TLS; a tagged notification may be exempt."""
        if not (self.enable_tls and self.require_tls):
            return False
        return not (notification_tagged and self.no_tls_for_notifications)


@dataclass(frozen=True)
class DomainInfo:
    domain: str  # A-label form, as ExternalDomain stores it
    route: str
    sending_policy: str
    include_subdomains: bool = False


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    notification_sender: str


@dataclass(frozen=True)
class LoopConfig:
    """Everything that decides where a message goes, read at one moment."""

    policies: tuple[PolicySpec, ...] = ()  # in evaluation order, disabled ones included
    routes: Mapping[str, RouteInfo] = field(default_factory=dict)
    sending_policies: Mapping[str, SendingInfo] = field(default_factory=dict)
    domains: tuple[DomainInfo, ...] = ()
    profiles: Mapping[str, ProfileInfo] = field(default_factory=dict)
    local_domain: str = "yourdomain.com"
    hostname: str = "mailgate.localdomain"
    smtp_port: int = 2525
    delivery_port: int = 25
    #: stored policies that do not compile: (name, error)
    invalid_policies: tuple[tuple[str, str], ...] = ()

    @property
    def self_names(self) -> frozenset[str]:
        return LOOPBACK_NAMES | {self.hostname.lower().rstrip(".")}

    def route(self, name: str | None) -> RouteInfo | None:
        return self.routes.get(name or "")

    def domain_entry(self, domain: str) -> DomainInfo | None:
        """The most specific entry: exact, else the longest parent that includes subdomains
        (the same rule as ``relay.selectors.external_domain_match``)."""
        try:
            name = domain_to_ascii(domain)
        except HostSyntaxError:
            name = domain.strip().lower().rstrip(".")
        entries = {d.domain: d for d in self.domains}
        if name in entries:
            return entries[name]
        labels = name.split(".")
        for i in range(1, len(labels)):
            entry = entries.get(".".join(labels[i:]))
            if entry is not None and entry.include_subdomains:
                return entry
        return None

    def domain_route(self, domain: str) -> str:
        entry = self.domain_entry(domain)
        return entry.route if entry else DEFAULT_NAME

    def domain_sending(self, domain: str) -> SendingInfo:
        entry = self.domain_entry(domain)
        name = entry.sending_policy if entry else DEFAULT_NAME
        return self.sending_policies.get(name) or SendingInfo(name)

    def self_host(self, route: RouteInfo | None) -> str | None:
        """The first of the route's hosts that is Mailgate's own smtpd, or None."""
        if route is None:
            return None
        for text in route.hosts:
            if host_is_self(text, self):
                return text
        return None


def host_is_self(text: str, config: LoopConfig) -> bool:
    """A route host that ends at Mailgate's own smtpd: a loopback name or our host name, at
    the smtpd port (a bare host means MAILGATE_DELIVERY_PORT, as in delivery)."""
    try:
        spec = parse_host(text)
    except HostSyntaxError:
        return False
    port = spec.port or config.delivery_port
    return spec.host.lower() in config.self_names and port == config.smtp_port


def loopback_client_ip(host_text: str) -> str:
    """The client address a message handed to ``host_text`` arrives from."""
    try:
        return "::1" if parse_host(host_text).host == "::1" else "127.0.0.1"
    except HostSyntaxError:
        return "127.0.0.1"
