"""Admin UI forms for the relay policies, in the order of the vendor article's steps."""

from __future__ import annotations

from typing import Any

from crispy_forms.layout import Fieldset, Layout
from django import forms

from mailgate.forms import CrispyModelForm
from relay.hosts import HostSyntaxError, domain_to_ascii, domain_to_unicode, parse_host
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy


class SendingConnectionPolicyForm(CrispyModelForm):
    class Meta:
        model = SendingConnectionPolicy
        fields = [
            "name",
            "enable_tls",
            "require_tls",
            "no_tls_for_notifications",
            "verify_certificate",
            "min_tls_version",
            "connect_timeout",
            "command_timeout",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper.layout = Layout(
            Fieldset("General", "name"),
            Fieldset("TLS", "enable_tls", "require_tls", "no_tls_for_notifications"),
            Fieldset(
                "Advanced",
                "verify_certificate",
                "min_tls_version",
                "connect_timeout",
                "command_timeout",
            ),
        )
        if self.instance.pk and self.instance.is_default:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "The Default policy applies when no entry matches."


class DeliveryRouteForm(CrispyModelForm):
    hosts_text = forms.CharField(
        label="Mail routing hosts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono", "spellcheck": "false"}),
        help_text="One per line, tried in this order after the MX hosts: host, host:port, "
        "IPv4, or IPv6 in brackets such as [2001:db8::1]:25. Move a line (or use the arrows) "
        "to reorder.",
    )

    class Meta:
        model = DeliveryRoute
        fields = ["name", "use_dns_first"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["hosts_text"] = "\n".join(self.instance.hosts or [])
            if self.instance.is_default:
                self.fields["name"].disabled = True
        self.helper.layout = Layout(
            Fieldset("General", "name"), Fieldset("Routing", "use_dns_first", "hosts_text")
        )

    def clean_hosts_text(self) -> list[str]:
        hosts: list[str] = []
        errors: list[str] = []
        lines = self.cleaned_data.get("hosts_text", "").splitlines()
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                spec = str(parse_host(line))
            except HostSyntaxError as exc:
                errors.append(f"Line {lineno}: {exc}")
                continue
            if spec in hosts:
                errors.append(f"Line {lineno}: '{spec}' is listed twice.")
            hosts.append(spec)
        if errors:
            raise forms.ValidationError(errors)
        return hosts

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "hosts_text" in cleaned:
            self.instance.hosts = cleaned["hosts_text"]
        return cleaned


def _entry_shown(stored: str) -> str:
    """How a stored entry is written in the form: its U-label, an IPv6 host in brackets (as
    `parse_host` reads it back)."""
    if ":" in stored:
        return f"[{stored}]"
    return domain_to_unicode(stored)


class ExternalDomainForm(CrispyModelForm):
    unique_name_field = None

    class Meta:
        model = ExternalDomain
        fields = ["kind", "domain", "include_subdomains", "route", "sending_policy", "comment"]
        widgets = {"kind": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        help_text = "An internationalised name is stored in its A-label (xn--) form."
        if self.instance.pk:
            stored = self.instance.domain
            shown = _entry_shown(stored)
            self.initial["domain"] = shown
            if shown != stored and not shown.startswith("["):
                help_text = f"Stored in its A-label form: {stored}."
        self.fields["domain"].help_text = help_text
        self.helper.layout = Layout(
            Fieldset("Domain or host", "kind", "domain", "include_subdomains", "comment"),
            Fieldset("Delivery", "route", "sending_policy"),
        )

    def clean_domain(self) -> str:
        raw = self.cleaned_data["domain"]
        kind = self.data.get(self.add_prefix("kind"), ExternalDomain.Kind.DOMAIN)
        try:
            if kind == ExternalDomain.Kind.HOST:
                spec = parse_host(raw)
                if spec.port is not None:
                    raise HostSyntaxError("An external host has no port; set it on the route.")
                return spec.host
            return domain_to_ascii(raw)
        except HostSyntaxError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("kind") == ExternalDomain.Kind.HOST and cleaned.get("include_subdomains"):
            self.add_error("include_subdomains", "Only a domain can include its subdomains.")
        return cleaned
