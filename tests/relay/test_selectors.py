"""Which external domain entry applies to a recipient domain."""

import pytest

from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from relay.selectors import domain_settings, external_domain_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup_entries():
    route = DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1:2525"])
    strict = SendingConnectionPolicy.objects.create(name="Require TLS", require_tls=True)
    default = SendingConnectionPolicy.objects.get(name="Default")
    ExternalDomain.objects.create(
        domain="partner.example", include_subdomains=True, route=route, sending_policy=strict
    )
    ExternalDomain.objects.create(domain="eu.partner.example", route=route, sending_policy=default)
    ExternalDomain.objects.create(domain="exact.example", route=route, sending_policy=strict)
    return route, strict, default


def test_lookup__most_specific_entry_wins(setup_entries):
    assert external_domain_match("eu.partner.example").domain == "eu.partner.example"
    assert external_domain_match("x.eu.partner.example").domain == "partner.example"
    assert external_domain_match("PARTNER.example.").domain == "partner.example"


def test_lookup__subdomain_only_when_included(setup_entries):
    assert external_domain_match("exact.example").domain == "exact.example"
    assert external_domain_match("sub.exact.example") is None


def test_lookup__defaults_apply_when_nothing_matches(setup_entries):
    settings = domain_settings("elsewhere.example")
    assert settings.entry is None
    assert settings.route.name == "Default" and settings.sending_policy.name == "Default"
    strict = domain_settings("a.partner.example")
    assert strict.sending_policy.require_tls and strict.route.name == "Loopback route"
