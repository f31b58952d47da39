"""MX lookup against a real DNS server on loopback (dnslib), never the system resolver."""

from __future__ import annotations

import random
from typing import Any

import pytest

from relay.mx import DNSStatus, lookup_mx, make_resolver

pytest_plugins = ["tests.support.dns_server"]


@pytest.fixture
def resolver(dns_server: Any) -> Any:
    return make_resolver([dns_server.nameserver], timeout=0.5)


def test_make_resolver_uses_only_the_given_servers(dns_server: Any) -> None:
    resolver = make_resolver([dns_server.nameserver, "[::1]:5353", "127.0.0.9"], timeout=1)
    servers = [(ns.address, ns.port) for ns in resolver.nameservers]  # type: ignore[attr-defined]
    assert servers == [("127.0.0.1", dns_server.port), ("::1", 5353), ("127.0.0.9", 53)]
    assert resolver.search == [] and resolver.lifetime == 1
    with pytest.raises(ValueError):
        make_resolver(["dns.example:53"])  # a name would need another resolver


def test_mx_hosts_in_ascending_preference_with_addresses(dns_server: Any, resolver: Any) -> None:
    dns_server.add_mx("partner.test", 20, "mx2.partner.test")
    dns_server.add_mx("partner.test", 10, "mx1.partner.test")
    dns_server.add_a("mx1.partner.test", "127.0.0.2")
    dns_server.add_a("mx2.partner.test", "127.0.0.3")
    dns_server.add_aaaa("mx2.partner.test", "::1")

    result = lookup_mx("partner.test", resolver=resolver)

    assert result.status is DNSStatus.OK
    assert [(h.name, h.preference, h.addresses, h.source) for h in result.hosts] == [
        ("mx1.partner.test", 10, ("127.0.0.2",), "mx"),
        ("mx2.partner.test", 20, ("127.0.0.3", "::1"), "mx"),
    ]


def test_equal_preferences_are_shuffled(dns_server: Any, resolver: Any) -> None:
    for name in ("a", "b", "c"):
        dns_server.add_mx("partner.test", 10, f"{name}.partner.test")
        dns_server.add_a(f"{name}.partner.test", "127.0.0.2")
    dns_server.add_mx("partner.test", 5, "first.partner.test")
    dns_server.add_a("first.partner.test", "127.0.0.3")

    orders = set()
    for seed in range(12):
        result = lookup_mx("partner.test", resolver=resolver, rng=random.Random(seed))
        names = [h.name for h in result.hosts]
        assert names[0] == "first.partner.test"
        orders.add(tuple(names[1:]))
    assert len(orders) > 1  # different seeds, different orders of the equal ones
    assert all(sorted(order) == ["a.partner.test", "b.partner.test", "c.partner.test"]
               for order in orders)  # fmt: skip


def test_null_mx_is_permanent(dns_server: Any, resolver: Any) -> None:
    dns_server.add_null_mx("nomail.test")
    result = lookup_mx("nomail.test", resolver=resolver)
    assert result.status is DNSStatus.PERMANENT and "null MX" in result.reason


def test_nxdomain_is_permanent(resolver: Any) -> None:
    result = lookup_mx("missing.test", resolver=resolver)
    assert result.status is DNSStatus.PERMANENT and "NXDOMAIN" in result.reason


def test_servfail_is_temporary(dns_server: Any, resolver: Any) -> None:
    dns_server.set_servfail("broken.test")
    result = lookup_mx("broken.test", resolver=resolver)
    assert result.status is DNSStatus.TEMPORARY and "SERVFAIL" in result.reason


def test_timeout_is_temporary(dns_server: Any) -> None:
    dns_server.set_timeout("slow.test")
    resolver = make_resolver([dns_server.nameserver], timeout=0.3)
    result = lookup_mx("slow.test", resolver=resolver)
    assert result.status is DNSStatus.TEMPORARY and "timeout" in result.reason


def test_no_mx_falls_back_to_the_domain_address(dns_server: Any, resolver: Any) -> None:
    dns_server.add_a("plain.test", "127.0.0.3")  # RFC 5321 §5.1 implicit MX
    result = lookup_mx("plain.test", resolver=resolver)
    assert [(h.name, h.addresses, h.source) for h in result.hosts] == [
        ("plain.test", ("127.0.0.3",), "a")
    ]


def test_no_mx_and_no_address_is_permanent(dns_server: Any, resolver: Any) -> None:
    dns_server.add_name("empty.test")
    assert lookup_mx("empty.test", resolver=resolver).status is DNSStatus.PERMANENT


def test_unresolvable_exchanges(dns_server: Any, resolver: Any) -> None:
    dns_server.add_mx("gone.test", 10, "nowhere.gone.test")  # NXDOMAIN exchange
    assert lookup_mx("gone.test", resolver=resolver).status is DNSStatus.PERMANENT

    dns_server.add_mx("flaky.test", 10, "mx.flaky.test")
    dns_server.set_servfail("mx.flaky.test")
    assert lookup_mx("flaky.test", resolver=resolver).status is DNSStatus.TEMPORARY

    dns_server.add_mx("half.test", 10, "bad.half.test")
    dns_server.add_mx("half.test", 20, "good.half.test")
    dns_server.add_a("good.half.test", "127.0.0.2")
    result = lookup_mx("half.test", resolver=resolver)
    assert [h.name for h in result.hosts] == ["good.half.test"] and result.errors


def test_null_mx_among_real_ones_is_ignored(dns_server: Any, resolver: Any) -> None:
    dns_server.add_null_mx("mixed.test")
    dns_server.add_mx("mixed.test", 10, "mx.mixed.test")
    dns_server.add_a("mx.mixed.test", "127.0.0.2")
    result = lookup_mx("mixed.test", resolver=resolver)
    assert [h.name for h in result.hosts] == ["mx.mixed.test"]


def test_zone_changes_at_run_time(dns_server: Any, resolver: Any) -> None:
    dns_server.set_servfail("later.test")
    assert lookup_mx("later.test", resolver=resolver).status is DNSStatus.TEMPORARY
    dns_server.remove("later.test")
    dns_server.add_a("later.test", "127.0.0.2")
    assert lookup_mx("later.test", resolver=resolver).ok
    assert ("later.test", "MX") in dns_server.queries
