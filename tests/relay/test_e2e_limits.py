"""End to end: queue lifetime, loops back into Mailgate, the hop limit, tracking the flow.

The stack runs with a hop limit of 4 and a queue lifetime of 3 seconds."""

from __future__ import annotations

import pytest

from policies.services import policy_create
from relay.models import (
    DeliveryRoute,
    ExternalDomain,
    Message,
    MessageState,
    RecipientState,
    SendingConnectionPolicy,
)
from relay.models.queue import Relation
from relay.spool import spool_read
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAILGATE_STACK_ENV = {"MAILGATE_MAX_HOPS": "4", "MAILGATE_MAX_QUEUE_LIFETIME": "3"}
SENDER = "alice@sender.test"


@pytest.fixture
def dns_server(e2e_dns):
    e2e_dns.add_mx("sender.test", 10, "mx.sender.test")
    e2e_dns.add_a("mx.sender.test", "127.0.0.4")
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


@pytest.fixture
def sender_sink(sink_factory):
    return sink_factory("127.0.0.4", tls=True)


def route_to_mailgate(stack, domain: str, *, dns_first: bool = False, require_tls=False):
    """The reference setup's loop-back: the route's last host is Mailgate's own smtpd."""
    route = DeliveryRoute.objects.create(
        name="Loopback route", use_dns_first=dns_first, hosts=[f"127.0.0.1:{stack.smtp_port}"]
    )
    policy = SendingConnectionPolicy.objects.create(name="Partners", require_tls=require_tls)
    ExternalDomain.objects.create(domain=domain, route=route, sending_policy=policy)


def test_expiry_bounces_with_4_4_7(mailgate_stack, dns_server, tls_partner, sender_sink):
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.2")
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 busy")
    queue_id = mailgate_stack.submit(
        make_message("Slow", sender=SENDER, to="bob@partner.test"), SENDER, ["bob@partner.test"]
    )
    (dsn,) = sender_sink.wait_for(1, timeout=30)
    assert dsn.mail_from == "<>" and b"Status: 4.4.7" in dsn.content and b"busy" in dsn.content
    message = Message.objects.get(queue_id=queue_id)
    assert message.attempts.filter(outcome="deferred").count() >= 2  # retried before giving up
    assert message.recipients.get().state == RecipientState.BOUNCED


def test_a_forced_loop_is_held_at_the_hop_limit(mailgate_stack, dns_server, admin_client):
    route_to_mailgate(mailgate_stack, "loop.test")  # and no policy that ever redirects
    first = mailgate_stack.submit(
        make_message("Round", sender=SENDER, to="x@loop.test"), SENDER, ["x@loop.test"]
    )
    held = mailgate_stack.wait_for(
        lambda: Message.objects.filter(state=MessageState.HELD).first(), what="a held copy"
    )
    # Copies 1-5 arrived with 0-4 of our Received headers and were passed on; the sixth
    # arrived with 5, more than the limit of 4.
    assert held.hold_reason == "hop limit: arrived with 5 Mailgate Received headers (more than 4)"
    assert held.recipients.get().state == RecipientState.HELD
    assert spool_read(held.spool_name).count(b"by mailgate.test (Mailgate)") == 6
    # Each copy re-entered from 127.0.0.1 and is linked to the one before it.
    chain = [held]
    while chain[-1].parent_id:
        chain.append(chain[-1].parent)
    assert [m.queue_id for m in chain][-1] == first and len(chain) == 6
    assert {m.relation for m in chain[:-1]} == {Relation.LOOPBACK}
    assert {m.client_ip for m in chain[:-1]} == {"127.0.0.1"}
    # Never passed on: nothing after the held copy, whatever the sweep does meanwhile.
    assert Message.objects.count() == 6
    page = admin_client.get(held.get_absolute_url()).content.decode()
    assert "hop limit: arrived with 5 Mailgate Received headers (more than 4)" in page
    assert first in page  # the whole flow on one page


def test_a_loop_back_goes_through_the_policies_again(
    mailgate_stack, dns_server, tls_partner, plain_partner, admin_client
):
    """Setup A in small: the partner's MX has no STARTTLS and TLS is required, so the route
    hands the message back to Mailgate (from 127.0.0.1), where a policy sends it on."""
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.3")
    route_to_mailgate(mailgate_stack, "partner.test", dns_first=True, require_tls=True)
    DeliveryRoute.objects.create(name="Direct", use_dns_first=False, hosts=["127.0.0.2"])
    policy_create(
        name="Looped back",
        if_conditions=[{"kind": "sender_ip", "params": {"values": ["127.0.0.1"]}}],
        actions=[
            {"kind": "add_header", "params": {"name": "X-Looped", "value": "yes"}},
            {"kind": "route", "params": {"route": "Direct"}},
        ],
    )
    first = mailgate_stack.submit(
        make_message("Round trip", sender=SENDER, to="bob@partner.test"),
        SENDER,
        ["bob@partner.test"],
    )
    (received,) = tls_partner.wait_for(1, timeout=30)
    assert received.tls and received.content.startswith(b"X-Looped: yes\r\n")
    assert received.content.count(b"by mailgate.test (Mailgate)") == 2
    assert plain_partner.mail_commands == []  # never in clear
    copy = Message.objects.get(relation=Relation.LOOPBACK)
    assert copy.parent.queue_id == first and copy.client_ip == "127.0.0.1"
    assert copy.policy_trace[0]["fired"]
    origin = Message.objects.get(queue_id=first)
    page = admin_client.get(origin.get_absolute_url()).content.decode()
    assert copy.queue_id in page and "Looped-back copy" in page
