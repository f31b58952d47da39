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


@pytest.fixture
def host_entries(setup_entries):
    route, strict, default = setup_entries
    host = ExternalDomain.Kind.HOST
    for name in ["mx.partner.example", "192.0.2.7", "2001:db8::7"]:
        ExternalDomain.objects.create(kind=host, domain=name, route=route, sending_policy=strict)
    ExternalDomain.objects.create(
        domain="hosts.example", include_subdomains=True, route=route, sending_policy=default
    )
    ExternalDomain.objects.create(
        kind=host, domain="relay.hosts.example", route=route, sending_policy=strict
    )
    return setup_entries


def test_lookup__host_entry_matches_exactly_that_host(host_entries):
    entry = external_domain_match("MX.Partner.Example.")
    assert (entry.kind, entry.domain) == ("host", "mx.partner.example")
    # A Host entry covers no other name: its subdomains fall back to the parent domain.
    assert external_domain_match("a.mx.partner.example").domain == "partner.example"


def test_lookup__exact_host_beats_a_parent_including_subdomains(host_entries):
    assert external_domain_match("relay.hosts.example").kind == "host"
    assert external_domain_match("other.hosts.example").domain == "hosts.example"


@pytest.mark.parametrize(
    ("recipient_domain", "expected"),
    [
        ("[192.0.2.7]", "192.0.2.7"),
        (" [192.0.2.7] ", "192.0.2.7"),
        ("[IPv6:2001:db8::7]", "2001:db8::7"),
        ("[ipv6:2001:DB8:0:0:0:0:0:7]", "2001:db8::7"),  # normalised to the compressed form
        ("[IPv6:2001:0db8::0007]", "2001:db8::7"),
    ],
)
def test_lookup__address_literal_matches_the_ip_host_entry(
    host_entries, recipient_domain, expected
):
    entry = external_domain_match(recipient_domain)
    assert entry is not None and (entry.kind, entry.domain) == ("host", expected)


@pytest.mark.parametrize(
    "recipient_domain",
    [
        "192.0.2.7",  # a bare IP is not a domain (RFC 5321 §4.1.3: literals are bracketed)
        "[192.0.2.8]",
        "[2001:db8::7]",  # an IPv6 literal needs its "IPv6:" tag
        "[IPv6:192.0.2.7]",
        "[192.0.2.007]",
        "[IPv6:2001:db8::7%eth0]",
        "[x-tag:2001:db8::7]",
        "[192.0.2.7",
        "[]",
        "",
    ],
)
def test_lookup__other_literals_and_bare_ips_match_nothing(host_entries, recipient_domain):
    assert external_domain_match(recipient_domain) is None


def test_lookup__ip_stored_as_a_domain_entry_does_not_match_a_literal(setup_entries):
    route, strict, _ = setup_entries
    ExternalDomain.objects.create(domain="198.51.100.1", route=route, sending_policy=strict)
    assert external_domain_match("[198.51.100.1]") is None


def test_lookup__host_entry_never_includes_subdomains(setup_entries):
    route, strict, _ = setup_entries
    ExternalDomain.objects.create(
        kind=ExternalDomain.Kind.HOST,
        domain="gw.example",
        include_subdomains=True,  # the form refuses this; the lookup ignores it too
        route=route,
        sending_policy=strict,
    )
    assert external_domain_match("gw.example").domain == "gw.example"
    assert external_domain_match("a.gw.example") is None


def test_lookup__idn_host_entry_matches_its_u_label(setup_entries):
    route, strict, _ = setup_entries
    ExternalDomain.objects.create(
        kind=ExternalDomain.Kind.HOST,
        domain="mx.xn--bcher-kva.example",
        route=route,
        sending_policy=strict,
    )
    assert external_domain_match("mx.bücher.example").domain == "mx.xn--bcher-kva.example"


def test_domain_settings__address_literal_gets_the_host_entry_settings(host_entries):
    found = domain_settings("[IPv6:2001:db8:0::7]")
    assert found.entry is not None and found.entry.domain == "2001:db8::7"
    assert found.sending_policy.require_tls and found.route.name == "Loopback route"
    assert domain_settings("[192.0.2.99]").route.name == "Default"


def test_delivery_settings__uses_the_host_entry(host_entries):
    """The delivery stage reads its route and TLS policy through this selector."""
    from relay.services.sending import delivery_settings

    spec, tls = delivery_settings("mx.partner.example")
    assert spec.hosts == ("127.0.0.1:2525",) and tls.require_tls
    spec, tls = delivery_settings("[192.0.2.7]")
    assert spec.hosts == ("127.0.0.1:2525",) and tls.require_tls
    _, tls = delivery_settings("elsewhere.example")
    assert not tls.require_tls


def test_cache__one_query_per_look_up_once_read(setup_entries, django_assert_num_queries):
    domain_settings("a.partner.example")  # builds the process's snapshot
    with django_assert_num_queries(1):  # the version row only
        assert domain_settings("a.partner.example").sending_policy.require_tls
        # ... and the delivery stage's look-up, the route a policy chose included
    from relay.services.sending import delivery_settings

    with django_assert_num_queries(1):
        spec, _ = delivery_settings("elsewhere.example", "Loopback route")
    assert spec.hosts == ("127.0.0.1:2525",)


def test_cache__every_kind_of_change_is_seen_at_once(setup_entries):
    route, strict, _ = setup_entries
    assert domain_settings("a.partner.example").route.hosts == ["127.0.0.1:2525"]
    route.hosts = ["127.0.0.2:2525"]
    route.save()
    assert domain_settings("a.partner.example").route.hosts == ["127.0.0.2:2525"]
    strict.require_tls = False
    strict.save()
    assert not domain_settings("a.partner.example").sending_policy.require_tls
    ExternalDomain.objects.create(domain="new.example", route=route, sending_policy=strict)
    assert domain_settings("new.example").entry is not None
    ExternalDomain.objects.filter(domain="new.example").delete()  # a queryset delete too
    assert domain_settings("new.example").entry is None


def test_cache__a_rolled_back_change_is_not_served(setup_entries):
    from django.db import transaction

    assert domain_settings("a.partner.example").route.name == "Loopback route"

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        ExternalDomain.objects.filter(domain="partner.example").get().delete()
        assert domain_settings("a.partner.example").entry is None  # seen inside
        raise Undo
    assert domain_settings("a.partner.example").route.name == "Loopback route"


def test_cache__without_the_version_row_nothing_is_cached(setup_entries):
    from relay.models import ConfigVersion

    ConfigVersion.objects.all().delete()  # as a flushed test database has it
    assert domain_settings("exact.example").entry is not None
    ExternalDomain.objects.filter(domain="exact.example").update(include_subdomains=True)
    assert domain_settings("sub.exact.example").entry is not None  # no signal, still seen
