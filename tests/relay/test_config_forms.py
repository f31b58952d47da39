"""Validation of the relay policy forms."""

import pytest

from relay.forms import DeliveryRouteForm, ExternalDomainForm, SendingConnectionPolicyForm
from relay.models import DeliveryRoute, SendingConnectionPolicy

pytestmark = pytest.mark.django_db


def policy_data(**over):
    data = {
        "name": "Require TLS",
        "enable_tls": "on",
        "require_tls": "on",
        "no_tls_for_notifications": "on",
        "min_tls_version": "TLSv1.2",
        "connect_timeout": "30",
        "command_timeout": "300",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_defaults_exist_after_migration():
    policy = SendingConnectionPolicy.objects.get(name="Default")
    assert policy.enable_tls and not policy.require_tls
    route = DeliveryRoute.objects.get(name="Default")
    assert route.use_dns_first and route.hosts == []


def test_sending_policy_form__saves_the_article_settings():
    form = SendingConnectionPolicyForm(data=policy_data())
    assert form.is_valid(), form.errors
    policy = form.save()
    assert (policy.enable_tls, policy.require_tls, policy.no_tls_for_notifications) == (
        True,
        True,
        True,
    )
    assert policy.verify_certificate is False


def test_sending_policy_form__require_tls_needs_enable_tls():
    form = SendingConnectionPolicyForm(data=policy_data(enable_tls=None))
    assert not form.is_valid()
    assert "Require TLS needs Enable TLS." in form.errors["require_tls"]


def test_sending_policy_form__duplicate_name_ignoring_case_is_an_error():
    form = SendingConnectionPolicyForm(data=policy_data(name="default"))
    assert not form.is_valid()
    assert "already used" in form.errors["name"][0]


@pytest.mark.parametrize(
    ("field", "value"), [("connect_timeout", "0"), ("command_timeout", "99999")]
)
def test_sending_policy_form__timeouts_out_of_range(field, value):
    form = SendingConnectionPolicyForm(data=policy_data(**{field: value}))
    assert not form.is_valid()
    assert field in form.errors


def test_route_form__stores_hosts_in_order():
    form = DeliveryRouteForm(
        data={
            "name": "Loopback route",
            "use_dns_first": "on",
            "hosts_text": "127.0.0.1:2525\n\n[::1]:2525\nrelay.example.org",
        }
    )
    assert form.is_valid(), form.errors
    route = form.save()
    assert route.hosts == ["127.0.0.1:2525", "[::1]:2525", "relay.example.org"]


def test_route_form__bad_host_and_port_are_reported_per_line():
    form = DeliveryRouteForm(
        data={"name": "Bad", "use_dns_first": "on", "hosts_text": "ok.example\nhost:70000\n::1"}
    )
    assert not form.is_valid()
    errors = form.errors["hosts_text"]
    assert any(e.startswith("Line 2:") and "out of range" in e for e in errors)
    assert any(e.startswith("Line 3:") and "brackets" in e for e in errors)


def test_route_form__duplicate_host_is_an_error():
    form = DeliveryRouteForm(data={"name": "Dup", "hosts_text": "a.example\nA.example"})
    assert not form.is_valid()
    assert "listed twice" in form.errors["hosts_text"][0]


def test_route_form__neither_dns_nor_hosts_is_an_error():
    form = DeliveryRouteForm(data={"name": "Empty", "hosts_text": ""})
    assert not form.is_valid()
    assert "Try using DNS first" in form.non_field_errors()[0]


def domain_data(**over):
    data = {
        "kind": "domain",
        "domain": "partner.example",
        "route": DeliveryRoute.objects.get(name="Default").pk,
        "sending_policy": SendingConnectionPolicy.objects.get(name="Default").pk,
    }
    data.update(over)
    return data


def test_domain_form__idn_stored_as_a_label_and_duplicate_rejected():
    form = ExternalDomainForm(data=domain_data(domain="Bücher.example"))
    assert form.is_valid(), form.errors
    entry = form.save()
    assert entry.domain == "xn--bcher-kva.example"
    assert entry.unicode_domain == "bücher.example"
    again = ExternalDomainForm(data=domain_data(domain="xn--bcher-kva.example"))
    assert not again.is_valid()
    assert "already exists" in again.errors["domain"][0]
    edit = ExternalDomainForm(instance=entry)
    assert edit.initial["domain"] == "bücher.example"


@pytest.mark.parametrize("bad", ["not a domain", "-x.example", "exa_mple.com", "a" * 64 + ".com"])
def test_domain_form__bad_domain_is_a_form_error(bad):
    form = ExternalDomainForm(data=domain_data(domain=bad))
    assert not form.is_valid()
    assert "domain" in form.errors


def test_domain_form__host_entry_takes_ip_but_no_port_nor_subdomains():
    ok = ExternalDomainForm(data=domain_data(kind="host", domain="192.0.2.7"))
    assert ok.is_valid(), ok.errors
    with_port = ExternalDomainForm(data=domain_data(kind="host", domain="192.0.2.7:25"))
    assert not with_port.is_valid()
    subs = ExternalDomainForm(
        data=domain_data(kind="host", domain="mx.example.org", include_subdomains="on")
    )
    assert not subs.is_valid()
    assert "include_subdomains" in subs.errors


def test_domain_form__missing_route_is_an_error():
    form = ExternalDomainForm(data=domain_data(route=""))
    assert not form.is_valid()
    assert "route" in form.errors


def test_domain_form__edit_shows_the_u_label_and_names_the_a_label():
    form = ExternalDomainForm(data=domain_data(domain="bücher.example"))
    assert form.is_valid(), form.errors
    edit = ExternalDomainForm(instance=form.save())
    assert edit.initial["domain"] == "bücher.example"
    assert edit.fields["domain"].help_text == "Stored in its A-label form: xn--bcher-kva.example."
    plain = ExternalDomainForm(instance=ExternalDomainForm(data=domain_data()).save())
    assert plain.initial["domain"] == "partner.example"
    assert "A-label (xn--) form" in plain.fields["domain"].help_text


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("[2001:DB8:0::7]", "2001:db8::7", "[2001:db8::7]"),
        ("192.0.2.7", "192.0.2.7", "192.0.2.7"),
        ("MX.Bücher.example", "mx.xn--bcher-kva.example", "mx.bücher.example"),
    ],
)
def test_domain_form__host_entry_is_normalised_and_saves_again_unchanged(typed, stored, shown):
    form = ExternalDomainForm(data=domain_data(kind="host", domain=typed))
    assert form.is_valid(), form.errors
    entry = form.save()
    assert entry.domain == stored
    edit = ExternalDomainForm(instance=entry)
    assert edit.initial["domain"] == shown
    again = ExternalDomainForm(instance=entry, data=domain_data(kind="host", domain=shown))
    assert again.is_valid(), again.errors
    assert again.save().domain == stored
