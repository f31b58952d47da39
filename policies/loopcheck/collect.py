"""Read the whole configuration into the loop check's plain data (the Django side).

``loop_check_run()`` is what the page, the policy list and ``manage.py loop_check`` call.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from policies.engine import PolicySpec, PolicySyntaxError
from policies.loader import policy_queryset
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from securemailbox.models import DeliveryProfile

from .check import check_loops
from .config import DomainInfo, LoopConfig, ProfileInfo, RouteInfo, SendingInfo
from .findings import LoopReport


def _policies() -> tuple[tuple[PolicySpec, ...], tuple[tuple[str, str], ...]]:
    specs, invalid = [], []
    for policy in policy_queryset():
        try:
            specs.append(PolicySpec.from_dict(policy.to_spec()))
        except PolicySyntaxError as error:
            invalid.append((policy.name, str(error)))
    return tuple(specs), tuple(invalid)


def local_domain(profiles: list[DeliveryProfile]) -> str:
    """MAILGATE_LOCAL_DOMAINS' first entry, else the domain of a notification sender."""
    configured = list(getattr(settings, "MAILGATE_LOCAL_DOMAINS", []) or [])
    if configured:
        return str(configured[0]).strip().lower()
    for profile in profiles:
        domain = profile.notification_sender.rpartition("@")[2]
        if domain:
            return domain.lower()
    return "localhost.localdomain"


def loop_config(*, policies: Sequence[PolicySpec] | None = None) -> LoopConfig:
    """Policies (all, in order), routes, external domains, sending policies and profiles.

    ``policies``: draft specs to check instead of the stored ones (e.g. before enabling)."""
    stored, invalid = _policies()
    if policies is not None:
        stored, invalid = tuple(policies), ()
    profiles = list(DeliveryProfile.objects.order_by("name"))
    return LoopConfig(
        policies=stored,
        invalid_policies=invalid,
        routes={
            r.name: RouteInfo(r.name, r.use_dns_first, tuple(str(h) for h in r.hosts or ()))
            for r in DeliveryRoute.objects.all()
        },
        sending_policies={
            s.name: SendingInfo(s.name, s.enable_tls, s.require_tls, s.no_tls_for_notifications)
            for s in SendingConnectionPolicy.objects.all()
        },
        domains=tuple(
            DomainInfo(d.domain, d.route.name, d.sending_policy.name, d.include_subdomains)
            for d in ExternalDomain.objects.select_related("route", "sending_policy")
        ),
        profiles={p.name: ProfileInfo(p.name, p.notification_sender) for p in profiles},
        local_domain=local_domain(profiles),
        hostname=settings.MAILGATE_HOSTNAME,
        smtp_port=settings.MAILGATE_SMTP_PORT,
        delivery_port=settings.MAILGATE_DELIVERY_PORT,
    )


def loop_check_run(*, policies: Sequence[PolicySpec] | None = None) -> LoopReport:
    """The loop check over the configuration as it is stored now (or with draft policies)."""
    return check_loops(loop_config(policies=policies))
