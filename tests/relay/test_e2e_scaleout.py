"""Scale-out: two Celery worker processes on one broker and one database share the queue,
and every recipient is delivered exactly once (the claims in relay.services.queue)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter

import pytest

from relay.models import Message, MessageState, Recipient, RecipientState
from relay.selectors import default_route
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "alice@sender.test"
MESSAGES = 200


@pytest.fixture
def dns_server(e2e_dns):
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


@pytest.fixture
def second_worker(mailgate_stack):
    mailgate_stack.start_worker(name="worker-b")
    yield "worker-b"
    proc = mailgate_stack.procs.pop("worker-b", None)
    if proc is not None:  # a cold shutdown of it and its pool, as the stack does at the end
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGQUIT)
        proc.wait(15)


def _header(content: bytes, name: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(name + b":"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def test_two_workers_deliver_every_recipient_exactly_once(
    mailgate_stack, second_worker, dns_server, tls_partner, plain_partner
):
    dns_server.add_mx("tls.example", 10, "mx.tls.example")
    dns_server.add_a("mx.tls.example", "127.0.0.2")
    dns_server.add_mx("plain.example", 10, "mx.plain.example")
    dns_server.add_a("mx.plain.example", "127.0.0.3")
    assert default_route().use_dns_first  # recreated if an earlier test flushed it

    sent: list[str] = []
    for n in range(MESSAGES):
        msg = make_message(f"Load {n}", sender=SENDER, to="one@tls.example")
        rcpts = ["one@tls.example", "two@tls.example", "three@plain.example"]
        mailgate_stack.submit(msg, SENDER, rcpts)
        sent.append(msg["Message-ID"])

    tls_partner.wait_for(MESSAGES, timeout=300)
    plain_partner.wait_for(MESSAGES, timeout=300)
    mailgate_stack.wait_for(
        lambda: Message.objects.filter(state=MessageState.DONE).count() == MESSAGES,
        timeout=120,
        what="every message done",
    )

    # Every (message, recipient) pair arrived exactly once, across both partners.
    arrivals = Counter(
        (_header(m.content, b"message-id"), rcpt)
        for sink in (tls_partner, plain_partner)
        for m in sink.messages
        for rcpt in m.rcpt_tos
    )
    expected = {
        (mid, rcpt)
        for mid in sent
        for rcpt in ("one@tls.example", "two@tls.example", "three@plain.example")
    }
    assert set(arrivals) == expected
    assert max(arrivals.values()) == 1, arrivals.most_common(3)
    assert set(Recipient.objects.values_list("state", flat=True)) == {RecipientState.DELIVERED}
    # Both workers took part: the database queue, not one process, shared the work.
    for name in ("worker", second_worker):
        log = mailgate_stack.worker_log(name)
        assert "relay.tasks.message_deliver" in log and "received" in log, name
