"""Admin UI for the relay policies (thin: forms validate, models store)."""

from __future__ import annotations

from typing import Any

from mailgate.crud import CrudCreateView, CrudDeleteView, CrudListView, CrudUpdateView
from relay.forms import DeliveryRouteForm, ExternalDomainForm, SendingConnectionPolicyForm
from relay.hosts import HostSyntaxError, domain_to_ascii
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy

RELAY = "Relay Policies"


class _SendingPolicy:
    model: Any = SendingConnectionPolicy
    form_class: Any = SendingConnectionPolicyForm
    title = "Sending Connection Policies"
    url_prefix = "relay:sendingpolicy"
    section = RELAY


class SendingPolicyList(_SendingPolicy, CrudListView):
    columns = (
        ("Name", "name"),
        ("Enable TLS", "enable_tls"),
        ("Require TLS", "require_tls"),
        ("No TLS for notifications", "no_tls_for_notifications"),
        ("Verify certificate", "verify_certificate"),
        ("Min. TLS", "min_tls_version"),
    )


class SendingPolicyCreate(_SendingPolicy, CrudCreateView):
    pass


class SendingPolicyUpdate(_SendingPolicy, CrudUpdateView):
    pass


class _DefaultProtected(CrudDeleteView):
    def refuse_reason(self, obj: Any) -> str | None:
        if obj.is_default:
            return f"'{obj}' is the built-in default and cannot be deleted."
        return None


class SendingPolicyDelete(_SendingPolicy, _DefaultProtected):
    pass


class _Route:
    model: Any = DeliveryRoute
    form_class: Any = DeliveryRouteForm
    title = "Delivery Routes"
    url_prefix = "relay:route"
    section = RELAY


class RouteList(_Route, CrudListView):
    columns = (
        ("Name", "name"),
        ("Try using DNS first", "use_dns_first"),
        ("Hosts", "hosts_display"),
    )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        for route in self.object_list:
            route.hosts_display = ", ".join(route.hosts) or "—"
        return super().get_context_data(**kwargs)


class RouteCreate(_Route, CrudCreateView):
    template_name = "relay/route_form.html"


class RouteUpdate(_Route, CrudUpdateView):
    template_name = "relay/route_form.html"


class RouteDelete(_Route, _DefaultProtected):
    pass


class _Domain:
    model: Any = ExternalDomain
    form_class: Any = ExternalDomainForm
    title = "External Domains/Hosts"
    url_prefix = "relay:domain"
    section = RELAY


def _a_label_term(term: str) -> str | None:
    """The A-label form of a non-ASCII search term, or None when it has none."""
    term = term.strip()
    if term.isascii():
        return None
    try:
        return domain_to_ascii(term)
    except HostSyntaxError:
        return None


class DomainList(_Domain, CrudListView):
    search_fields = ("domain", "comment", "route__name", "sending_policy__name")
    columns = (
        ("Domain or host", "display_name"),
        ("Type", "get_kind_display"),
        ("Subdomains", "include_subdomains"),
        ("Delivery route", "route"),
        ("Sending connection policy", "sending_policy"),
    )

    def get_queryset(self) -> Any:
        qs = super().get_queryset()  # the term as typed, over `search_fields`
        a_label = _a_label_term(self.request.GET.get("q", ""))
        if a_label:
            # Entries are stored as A-labels: "bücher" must find "xn--bcher-kva.example".
            qs = qs | ExternalDomain.objects.filter(domain__icontains=a_label)
        return qs.select_related("route", "sending_policy")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        for entry in self.object_list:
            shown = entry.unicode_domain
            entry.display_name = (
                entry.domain if shown == entry.domain else f"{shown} ({entry.domain})"
            )
            entry.get_kind_display = entry.get_kind_display()
        return super().get_context_data(**kwargs)


class DomainCreate(_Domain, CrudCreateView):
    pass


class DomainUpdate(_Domain, CrudUpdateView):
    pass


class DomainDelete(_Domain, CrudDeleteView):
    pass
