# ruff: noqa: F811 - pytest fixtures imported from tests.support.smtpd_server
"""The queue id on every line logged about a message, and never its body (mailgate/logging.py).

A real message each time: the smtpd accepts it, the worker's task runs the policy stage and
delivers it to a real partner. The lines are captured through the project's QueueIdFilter
and KeyValueFormatter, as the console handler of `logging_config` writes them."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterator

import pytest

from mailgate.logging import KeyValueFormatter, QueueIdFilter
from policies.services import policy_create
from relay import tasks
from relay.models import Message
from relay.services import accept, processing
from tests.support.smtpd_server import (  # noqa: F401 - fixtures
    CLIENT_IP,
    smtpd_factory,
    smtpd_server,
    smtpd_spool,
    smtpd_tls_dir,
)

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "alice@sender.test"
RCPT = "bob@partner.test"
BODY_TEXT = "Quarterly figures 7419, strictly confidential"
RAW = (
    f"From: Alice <{SENDER}>\r\nTo: {RCPT}\r\nSubject: Quarterly\r\n"
    f"Message-ID: <q1@sender.test>\r\n\r\n{BODY_TEXT}\r\n"
).encode()
OURS = ("relay", "mailgate")


class Captured(logging.Handler):
    """The lines of the relay and mailgate loggers, formatted when they are written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(QueueIdFilter())
        self.setFormatter(KeyValueFormatter())
        self.lines: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OURS:
            self.lines.append((record, self.format(record)))

    def messages(self) -> list[str]:
        return [record.getMessage() for record, _ in self.lines]


@pytest.fixture(autouse=True)
def outbound(settings, dns_server, delivery_port, smtpd_spool):
    settings.MAILGATE_DELIVERY_PORT = delivery_port
    settings.MAILGATE_DNS_NAMESERVERS = [dns_server.nameserver]
    settings.MAILGATE_DNS_TIMEOUT = 2
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.2")


@pytest.fixture
def rung(monkeypatch) -> Iterator[list[int]]:
    """The doorbell without a broker: the ids it sent; the test runs the task itself."""
    sent: list[int] = []
    done = threading.Event()

    def send(message_id: int, queue_id: str) -> None:
        sent.append(message_id)
        done.set()

    monkeypatch.setattr(accept, "task_send", send)
    # An earlier test's broker error may have left the doorbell backing off: it would skip
    # the send (and log that it did) instead of calling `send`.
    monkeypatch.setattr(accept._doorbell, "_down_until", 0.0)
    yield sent
    done.wait(5)  # the doorbell's thread is done with it before the real one comes back


@pytest.fixture
def captured(smtpd_server, tls_partner) -> Iterator[Captured]:
    """Started after the servers: their start-up lines are about no message."""
    handler = Captured()
    loggers = [logging.getLogger(name) for name in OURS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def submit(server) -> Message:
    with smtplib.SMTP(server.host, server.port, timeout=10, source_address=(CLIENT_IP, 0)) as c:
        c.ehlo("client.sender.test")
        code, text = c.data(RAW) if c.mail(SENDER) and c.rcpt(RCPT) else (0, b"")
    assert code == 250, text
    return Message.objects.get(queue_id=text.split()[-1].decode())


def assert_all_about(captured: Captured, queue_id: str, *, others: set[str] = frozenset()):
    """Every captured line carries `queue_id` (or one of the `others`), none the body."""
    assert captured.lines
    for record, line in captured.lines:
        assert record.queue_id == queue_id or record.queue_id in others, line
        assert f"queue_id={record.queue_id}" in line
        assert BODY_TEXT not in line and "7419" not in line


def test_accepted_and_delivered__every_line_carries_the_queue_id(
    smtpd_server, tls_partner, rung, captured
):
    message = submit(smtpd_server)
    assert tasks.message_process(message.pk) == "queued"  # the task's body, in-process
    (received,) = tls_partner.wait_for(1)
    assert BODY_TEXT.encode() in received.content

    assert_all_about(captured, message.queue_id)
    messages = captured.messages()
    assert f"{message.queue_id}: accepted from {CLIENT_IP}, 1 recipient(s)" in messages[0]
    (delivered,) = [m for m in messages if m.startswith("delivered ")]
    attempt = message.attempts.get()
    assert delivered.startswith(
        f"delivered {RCPT}: mx.partner.test [127.0.0.2]:{attempt.port}, {attempt.tls_version}, 250"
    )
    assert attempt.tls_version.startswith("TLSv")


def test_deferred__the_line_gives_the_reply(smtpd_server, tls_partner, rung, captured):
    tls_partner.on_rcpt(RCPT, "451 4.3.0 Mailbox busy")
    message = submit(smtpd_server)
    assert tasks.message_process(message.pk) == "queued"

    assert_all_about(captured, message.queue_id)
    assert f"deferred {RCPT} (attempt 1): 451 4.3.0 Mailbox busy" in captured.messages()


def test_bounced__the_dsn_is_logged_under_its_own_queue_id(
    smtpd_server, tls_partner, rung, captured
):
    tls_partner.on_rcpt(RCPT, "550 5.1.1 No such user")
    message = submit(smtpd_server)
    assert tasks.message_process(message.pk) == "queued"

    dsn = Message.objects.get(parent=message)
    assert_all_about(captured, message.queue_id, others={dsn.queue_id})
    about_dsn = [r.getMessage() for r, _ in captured.lines if r.queue_id == dsn.queue_id]
    assert [m.split(",")[0] for m in about_dsn] == [f"{dsn.queue_id}: accepted from mailgate"]
    assert f"(dsn of {message.queue_id})" in about_dsn[0]
    messages = captured.messages()
    assert f"bounced {RCPT}: 5.1.1 550 5.1.1 No such user" in messages
    assert f"{message.queue_id}: DSN {dsn.queue_id} for 1 recipient(s)" in messages


def test_held_by_a_policy__through_the_sweep_s_batch_task(
    smtpd_server, tls_partner, rung, captured
):
    policy_create(name="Quarantine", actions=[{"kind": "hold", "params": {"reason": "review"}}])
    message = submit(smtpd_server)
    assert tasks.messages_process([message.pk]) == 1

    assert_all_about(captured, message.queue_id)
    assert f"held {RCPT}: review" in captured.messages()
    assert tls_partner.messages == []


def test_lines_of_code_that_knows_no_message_get_the_id_from_the_task(
    smtpd_server, tls_partner, rung, captured
):
    """delivery_settings() is told only a domain and a route name: the task's context
    gives its warning the queue id."""
    message = submit(smtpd_server)
    assert processing.message_process(message.pk) == "queued"
    Message.objects.filter(pk=message.pk).update(
        route_name="Gone", headers_added=[["X-Bad:Name", "1"]]
    )
    assert tasks.message_deliver(message.pk) == 1

    assert_all_about(captured, message.queue_id)
    messages = captured.messages()
    assert any(m.startswith("route 'Gone' chosen by a policy does not exist") for m in messages)
    assert "dropped an invalid policy header 'X-Bad:Name'" in messages
    assert any(m.startswith(f"delivered {RCPT}: ") for m in messages)


def test_batch_task__one_failing_message_does_not_hold_up_the_others(
    smtpd_server, tls_partner, rung, captured, monkeypatch
):
    """The smtpd's doorbell sends what queued up in one task, with the queue ids: a message
    whose policy stage fails is logged under its own id and left to the sweep, and the next
    one is still processed and delivered now."""
    first, second = submit(smtpd_server), submit(smtpd_server)
    real = processing.message_process

    def fail_first(message_id, **kwargs):
        if message_id == first.pk:
            raise RuntimeError("spool unreadable")
        return real(message_id, **kwargs)

    monkeypatch.setattr(processing, "message_process", fail_first)
    assert tasks.messages_process([first.pk, second.pk], [first.queue_id, second.queue_id]) == 2
    failed = [r for r, _ in captured.lines if r.getMessage().startswith("policy stage failed")]
    assert [r.queue_id for r in failed] == [first.queue_id]
    assert f"delivered {RCPT}" in " ".join(
        r.getMessage() for r, _ in captured.lines if r.queue_id == second.queue_id
    )
    assert len(tls_partner.wait_for(1)) == 1
    first.refresh_from_db()
    assert first.state == "received"  # for the sweep, once its lease runs out
