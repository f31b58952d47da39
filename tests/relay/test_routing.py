"""Candidates: MX hosts first, then the route's hosts; DNS failures do not stop the route."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

from relay.delivery import DeliveryJob, deliver
from relay.mx import DNSStatus, make_resolver
from relay.routing import RouteSpec, candidates_for
from relay.tls import TLSPolicy

pytest_plugins = ["tests.support.dns_server", "tests.support.smtp_sinks"]

PORT = 2500


@pytest.fixture
def resolver(dns_server: Any) -> Any:
    return make_resolver([dns_server.nameserver], timeout=0.5)


def _hosts(result: Any) -> list[tuple[str, str, int, str]]:
    return [(c.host, c.ip, c.port, c.source) for c in result.hosts]


def test_mx_hosts_then_route_hosts(dns_server: Any, resolver: Any) -> None:
    dns_server.add_mx("partner.test", 10, "mx1.partner.test")
    dns_server.add_a("mx1.partner.test", "127.0.0.2")
    dns_server.add_a("relay.internal.test", "127.0.0.8")
    route = RouteSpec(True, ("127.0.0.1", "relay.internal.test:2526", "[::1]:26"))

    result = candidates_for("partner.test", route, resolver=resolver, default_port=PORT)

    assert result.status is DNSStatus.OK and result.errors == ()
    assert _hosts(result) == [
        ("mx1.partner.test", "127.0.0.2", PORT, "mx"),
        ("127.0.0.1", "127.0.0.1", PORT, "route"),
        ("relay.internal.test", "127.0.0.8", 2526, "route"),
        ("::1", "::1", 26, "route"),
    ]


def test_route_only_does_not_query_dns_for_the_domain(dns_server: Any, resolver: Any) -> None:
    result = candidates_for("partner.test", RouteSpec(False, ("127.0.0.1:2525",)),
                            resolver=resolver, default_port=PORT)  # fmt: skip
    assert _hosts(result) == [("127.0.0.1", "127.0.0.1", 2525, "route")]
    assert result.dns is None and dns_server.queries == []


@pytest.mark.parametrize("failure", ["nxdomain", "null", "servfail"])
def test_dns_failure_is_recorded_and_route_hosts_still_tried(
    failure: str, dns_server: Any, resolver: Any
) -> None:
    if failure == "null":
        dns_server.add_null_mx("partner.test")
    elif failure == "servfail":
        dns_server.set_servfail("partner.test")
    result = candidates_for("partner.test", RouteSpec(True, ("127.0.0.1",)),
                            resolver=resolver, default_port=PORT)  # fmt: skip
    assert _hosts(result) == [("127.0.0.1", "127.0.0.1", PORT, "route")]
    assert result.status is DNSStatus.OK and result.dns is not None and not result.dns.ok
    assert result.errors


def test_nothing_left_the_dns_outcome_decides(dns_server: Any, resolver: Any) -> None:
    dns_server.set_servfail("broken.test")
    dns_server.add_null_mx("nomail.test")
    temporary = candidates_for("broken.test", RouteSpec(True), resolver=resolver,
                               default_port=PORT)  # fmt: skip
    permanent = candidates_for("nomail.test", RouteSpec(True), resolver=resolver,
                               default_port=PORT)  # fmt: skip
    missing = candidates_for("missing.test", RouteSpec(True), resolver=resolver,
                             default_port=PORT)  # fmt: skip
    assert (temporary.status, permanent.status, missing.status) == (
        DNSStatus.TEMPORARY,
        DNSStatus.PERMANENT,
        DNSStatus.PERMANENT,
    )
    assert temporary.hosts == permanent.hosts == ()


def test_unresolvable_route_host_defers(dns_server: Any, resolver: Any) -> None:
    result = candidates_for("partner.test", RouteSpec(False, ("gone.internal.test",)),
                            resolver=resolver, default_port=PORT)  # fmt: skip
    assert result.hosts == () and result.status is DNSStatus.TEMPORARY
    assert "gone.internal.test" in result.reason


def test_identical_ip_and_port_are_tried_once(dns_server: Any, resolver: Any) -> None:
    dns_server.add_mx("partner.test", 10, "mx1.partner.test")
    dns_server.add_mx("partner.test", 20, "mx2.partner.test")
    dns_server.add_a("mx1.partner.test", "127.0.0.2")
    dns_server.add_a("mx2.partner.test", "127.0.0.2")
    route = RouteSpec(True, ("127.0.0.2", f"127.0.0.2:{PORT}", "127.0.0.2:2600"))
    result = candidates_for("partner.test", route, resolver=resolver, default_port=PORT)
    assert _hosts(result) == [
        ("mx1.partner.test", "127.0.0.2", PORT, "mx"),
        ("127.0.0.2", "127.0.0.2", 2600, "route"),
    ]


def test_mx_delivery_end_to_end(
    dns_server: Any, resolver: Any, tls_partner: Any, plain_partner: Any, delivery_port: int
) -> None:
    """The reference shape: a partner's MX without TLS, then one with TLS; require TLS."""
    dns_server.add_mx("partner.test", 10, "mx1.partner.test")
    dns_server.add_mx("partner.test", 20, "mx2.partner.test")
    dns_server.add_a("mx1.partner.test", plain_partner.address)
    dns_server.add_a("mx2.partner.test", tls_partner.address)
    candidates = candidates_for("partner.test", RouteSpec(True), resolver=resolver,
                                default_port=delivery_port, rng=random.Random(1))  # fmt: skip
    job = DeliveryJob("QE", "a@sender.test", ("b@partner.test",),
                      lambda: io.BytesIO(b"Subject: e2e\r\n\r\nhi\r\n"))  # fmt: skip

    result = deliver(job, candidates, TLSPolicy(require_tls=True, connect_timeout=2),
                     local_hostname="mailgate.test")  # fmt: skip

    assert [(a.host, a.source, a.outcome) for a in result.attempts] == [
        ("mx1.partner.test", "mx", "skipped"),
        ("mx2.partner.test", "mx", "delivered"),
    ]
    assert tls_partner.wait_for(1)[0].tls and plain_partner.mail_commands == []
