"""End to end: the broker can lose every task and no mail is lost (DESIGN.md: "the database
is the queue; Celery is the doorbell").

The worker is stopped, mail is accepted (its doorbells wait in Redis), then Redis loses
everything it holds, as a Redis restarted without persistence does. A new worker finds no
task at all; the beat sweep reads the database and rings again, and every accepted message
arrives exactly once."""

from __future__ import annotations

import collections

import pytest
import redis

from relay.models import Message, MessageState
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "alice@sender.test"
COUNT = 6


@pytest.fixture
def dns_server(e2e_dns):
    e2e_dns.add_mx("partner.test", 10, "mx.partner.test")
    e2e_dns.add_a("mx.partner.test", "127.0.0.2")
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


def broker_client(stack) -> redis.Redis:
    url = stack.env["CELERY_BROKER_URL"]
    assert url.startswith("redis+socket://")
    return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"))


def test_tasks_lost_in_the_broker_delay_mail_but_lose_none(mailgate_stack, dns_server, tls_partner):
    mailgate_stack.kill_worker()
    queue_ids = [
        mailgate_stack.submit(
            make_message(f"Kept {n}", sender=SENDER, to="bob@partner.test"),
            SENDER,
            ["bob@partner.test"],
        )
        for n in range(COUNT)
    ]
    client = broker_client(mailgate_stack)
    # The doorbells are in the broker's queue: they are what is about to be lost.
    mailgate_stack.wait_for(lambda: client.llen("celery") >= COUNT, what="doorbells queued")
    client.flushall()
    assert client.llen("celery") == 0
    assert Message.objects.filter(queue_id__in=queue_ids).count() == COUNT  # still queued

    mailgate_stack.start_worker()
    received = tls_partner.wait_for(COUNT, timeout=60)
    mailgate_stack.wait_for(
        lambda: (
            Message.objects.filter(queue_id__in=queue_ids, state=MessageState.DONE).count() == COUNT
        ),
        timeout=30,
        what="every message done",
    )
    subjects = collections.Counter(
        line for m in received for line in m.content.split(b"\r\n") if line.startswith(b"Subj")
    )
    assert subjects == {f"Subject: Kept {n}".encode(): 1 for n in range(COUNT)}
    assert mailgate_stack.beat_sends("queue-sweep") > 0
