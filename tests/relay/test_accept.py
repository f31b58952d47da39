"""message_accept: spool + rows + doorbell, parsed fields, hop count, loopback linking."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import OperationalError, transaction

from relay.models import Message
from relay.received import header_block, own_received_ids, received_build
from relay.services import accept
from relay.services.accept import message_accept, queue_id_new
from relay.spool import SpoolError, spool_read

RAW = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@sender.example>\r\n"
    b"To: b@rcpt.example\r\n"
    b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Message-ID: <abc@sender.example>\r\n"
    b"\r\n"
    b"Body.\r\n"
)


@pytest.fixture
def spool_dir(settings, tmp_path: Path) -> Path:
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_HOSTNAME = "mailgate.test"
    return tmp_path / "spool"


@pytest.fixture
def rung(monkeypatch) -> list[int]:
    """Message ids whose doorbell rang (after commit)."""
    calls: list[int] = []
    monkeypatch.setattr(accept, "doorbell_ring", lambda message_id, _: calls.append(message_id))
    return calls


def spool_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def accept_one(**kwargs) -> Message:
    arguments = {
        "raw": RAW,
        "envelope_sender": "j@sender.example",
        "recipients": ["b@rcpt.example"],
        "client_ip": "127.0.0.10",
        "client_helo": "client.example",
    }
    return message_accept(**(arguments | kwargs))


@pytest.mark.django_db
def test_accept__rows_spool_fields_and_doorbell(
    spool_dir, rung, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = accept_one(recipients=["b@rcpt.example", "c@BÜCHER.example"], tags=["t", "t"])
    assert rung == [message.pk]
    message.refresh_from_db()
    assert message.subject == "Grüße"
    assert message.header_from == "Jürgen <j@sender.example>"
    assert message.message_id_header == "<abc@sender.example>"
    assert (message.hop_count, message.is_dsn, message.tags) == (1, False, ["t"])
    assert message.parent is None and message.relation == ""
    assert [(r.address, r.domain) for r in message.recipients.all()] == [
        ("b@rcpt.example", "rcpt.example"),
        ("c@BÜCHER.example", "xn--bcher-kva.example"),
    ]
    stored = spool_read(message.spool_name)
    assert stored.endswith(RAW)
    assert stored.startswith(b"Received: from client.example ([127.0.0.10])\r\n")
    assert f"by mailgate.test (Mailgate) with ESMTP id {message.queue_id}".encode() in stored
    assert message.size == len(stored)


@pytest.mark.django_db
def test_inj3__encoded_crlf_in_subject_is_displayed_flat_and_bytes_untouched(spool_dir, rung):
    raw = b"Subject: =?UTF-8?Q?hello=0D=0ABcc:_victim@evil.example?=\r\n\r\nx\r\n"
    message = accept_one(raw=raw)
    assert "\r" not in message.subject and "\n" not in message.subject
    assert message.subject.startswith("hello")
    assert spool_read(message.spool_name).endswith(raw)


@pytest.mark.django_db
def test_hop_count__counts_our_received_headers_only(spool_dir, rung):
    ours = received_build(
        hostname="mailgate.test", queue_id="01OLDER", client_ip="127.0.0.1", recipients=["x@y.z"]
    )
    theirs = received_build(hostname="other.example", queue_id="X", client_ip="192.0.2.1")
    message = accept_one(raw=ours + theirs + ours + RAW)
    assert message.hop_count == 3
    assert own_received_ids(header_block(spool_read(message.spool_name)), "mailgate.test") == [
        message.queue_id,
        "01OLDER",
        "01OLDER",
    ]


@pytest.mark.django_db
def test_loopback__linked_to_the_message_it_came_from(spool_dir, rung):
    first = accept_one()
    again = accept_one(raw=spool_read(first.spool_name), client_ip="127.0.0.1")
    assert (again.parent, again.relation, again.hop_count) == (first, "loopback", 2)
    # Not from loopback, made by Mailgate, or an unknown id: no link.
    assert accept_one(raw=spool_read(first.spool_name), client_ip="192.0.2.7").parent is None
    assert accept_one(raw=spool_read(first.spool_name), client_ip=None).parent is None
    forged = received_build(hostname="mailgate.test", queue_id="01UNKNOWN", client_ip="::1")
    assert accept_one(raw=forged + RAW, client_ip="127.0.0.1").parent is None


@pytest.mark.django_db
def test_explicit_parent_and_relation_are_kept(spool_dir, rung):
    first = accept_one()
    dsn = accept_one(raw=spool_read(first.spool_name), client_ip=None, parent=first, relation="dsn")
    assert (dsn.parent, dsn.relation) == (first, "dsn")
    head = spool_read(dsn.spool_name).split(b"\r\n")[:2]
    assert head[0] == f"Received: by mailgate.test (Mailgate) id {dsn.queue_id}".encode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sender", "content_type", "is_dsn"),
    [
        ("", "text/plain", True),
        ("a@b.example", 'multipart/report; report-type="delivery-status"; boundary=x', True),
        ("a@b.example", "multipart/report; report-type=Delivery-Status; boundary=x", True),
        ("a@b.example", "multipart/report; report-type=disposition-notification", False),
        ("a@b.example", "multipart/mixed; boundary=x", False),
        ("a@b.example", "broken;;; =", False),
    ],
)
def test_is_dsn(spool_dir, rung, sender, content_type, is_dsn):
    raw = f"Content-Type: {content_type}\r\nSubject: s\r\n\r\nx\r\n".encode()
    assert accept_one(raw=raw, envelope_sender=sender).is_dsn is is_dsn


@pytest.mark.django_db
def test_database_failure__spool_error_and_file_removed(spool_dir, rung, monkeypatch):
    real_insert = accept._insert

    def broken(message, recipients):
        real_insert(message, [])  # the message row is written, then the database fails
        raise OperationalError("database is locked")

    monkeypatch.setattr(accept, "_insert", broken)
    with pytest.raises(SpoolError, match="database is locked"):
        accept_one()
    assert spool_files(spool_dir) == []
    assert Message.objects.count() == 0
    assert rung == []


@pytest.mark.django_db
def test_spool_failure__no_rows(settings, tmp_path, rung):
    (tmp_path / "file").write_bytes(b"")
    settings.MAILGATE_SPOOL_DIR = tmp_path / "file"
    with pytest.raises(SpoolError):
        accept_one()
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_rollback_of_the_caller__no_doorbell(spool_dir, rung, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        accept_one()
        raise RuntimeError("caller failed")
    assert rung == [] and Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("recipients", [[], ["nodomain"], ["a@[127.0.0.1]"], ["a@bad_host!"]])
def test_invalid_recipients__value_error_before_any_write(spool_dir, rung, recipients):
    with pytest.raises(ValueError):
        accept_one(recipients=recipients)
    assert spool_files(spool_dir) == []


def test_queue_id__16_sortable_characters():
    first = queue_id_new()
    assert len(first) == 16 and first.isalnum() and first.isupper()
    assert len({queue_id_new() for _ in range(1000)}) == 1000
    ids = [queue_id_new(now_ms=ms) for ms in (1, 2, 31, 32, 2**40, 2**50 - 1)]
    assert ids == sorted(ids) and len({i[:10] for i in ids}) == 6


def test_received_build__forms():
    when = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    header = received_build(
        hostname="mg.example", queue_id="Q1", client_ip="::1", client_helo="x y\r",
        tls=True, recipients=["a@b.example"], when=when,
    )  # fmt: skip
    assert header == (
        b"Received: from x_y_ ([IPv6:::1])\r\n\tby mg.example (Mailgate) with ESMTPS id Q1\r\n"
        b"\tfor <a@b.example>; Thu, 03 Dec 2026 10:00:00 +0000\r\n"
    )
    two = received_build(hostname="mg.example", queue_id="Q2", client_ip="10.0.0.1",
                         recipients=["a@b", "c@d"], esmtp=False, when=when)  # fmt: skip
    assert two.endswith(b"with SMTP id Q2; Thu, 03 Dec 2026 10:00:00 +0000\r\n")


def test_own_received_ids__folded_and_case_insensitive():
    block = (
        b"received: from a ([1.2.3.4])\r\n by MailGate.Test  (Mailgate)\r\n  id 01AB; date\r\n"
        b"Received: by mailgate.test.evil.example (Mailgate) id 01EVIL; date\r\n"
        b"Received: by mailgate.test (Mailgate); no id\r\n"
        b"X-Received: by mailgate.test (Mailgate) id 01X; date\r\n"
        b"\r\n"
        b"Received: by mailgate.test (Mailgate) id 01BODY; in the body\r\n"
    )
    assert own_received_ids(header_block(block), "mailgate.test") == ["01AB", ""]


def test_doorbell__rings_from_its_own_thread(monkeypatch):
    sent: list[tuple[int, str]] = []
    done = threading.Event()
    monkeypatch.setattr(
        accept,
        "task_send",
        lambda i, q: (sent.append((i, q, threading.current_thread().name)), done.set()),
    )
    accept._Doorbell().ring(5, "Q5")
    assert done.wait(5)
    assert sent == [(5, "Q5", "mailgate-doorbell")]


def test_doorbell__broker_errors_are_swallowed_then_backed_off(monkeypatch):
    sent: list[int] = []

    def send(message_id: int, queue_id: str) -> None:
        sent.append(message_id)
        if message_id == 1:
            raise OSError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(accept, "task_send", send)
    bell = accept._Doorbell()
    bell.handle([(1, "Q1")])  # fails: logged, not raised
    bell.handle([(2, "Q2")])  # within the back-off: left to the sweep
    bell._down_until = 0.0  # the back-off is over
    bell.handle([(3, "Q3")])
    assert sent == [1, 3]


def test_doorbell__what_queued_up_meanwhile_goes_in_one_task(monkeypatch):
    """While one send is under way, the messages stored meanwhile wait for the next one,
    which carries them all (and their queue ids); a message alone goes alone."""
    single: list[tuple[int, str]] = []
    many: list[tuple[list[int], list[str]]] = []
    first_sent, release = threading.Event(), threading.Event()
    done = threading.Event()

    def send(message_id: int, queue_id: str) -> None:
        single.append((message_id, queue_id))
        first_sent.set()
        assert release.wait(5)

    def send_many(ids: list[int], queue_ids: list[str]) -> None:
        many.append((ids, queue_ids))
        done.set()

    monkeypatch.setattr(accept, "task_send", send)
    monkeypatch.setattr(accept, "tasks_send", send_many)
    bell = accept._Doorbell()
    bell.ring(1, "Q1")
    assert first_sent.wait(5)
    for pk in (2, 3, 4):
        bell.ring(pk, f"Q{pk}")
    release.set()
    assert done.wait(5)
    assert single == [(1, "Q1")]
    assert many == [([2, 3, 4], ["Q2", "Q3", "Q4"])]


def _recording_bell(monkeypatch, linger: float) -> tuple[accept._Doorbell, list, threading.Event]:
    batches: list[list[int]] = []
    rang = threading.Event()

    def send(message_id: int, queue_id: str) -> None:
        batches.append([message_id])
        rang.set()

    def send_many(ids: list[int], queue_ids: list[str]) -> None:
        assert queue_ids == [f"Q{pk}" for pk in ids]
        batches.append(ids)
        rang.set()

    monkeypatch.setattr(accept, "task_send", send)
    monkeypatch.setattr(accept, "tasks_send", send_many)
    bell = accept._Doorbell()
    bell.LINGER = linger
    return bell, batches, rang


def test_doorbell__while_mail_keeps_coming_it_waits_for_more_before_it_rings(monkeypatch):
    """The last send was a moment ago: messages that arrive one by one within the linger
    time, none during a send, still go in one task."""
    bell, batches, rang = _recording_bell(monkeypatch, linger=2.0)
    bell._last_send = time.monotonic()  # a send just went out: the smtpd is busy
    for pk in (1, 2, 3):
        bell.ring(pk, f"Q{pk}")
        time.sleep(0.05)
    assert rang.wait(10)
    assert batches == [[1, 2, 3]]


def test_doorbell__after_a_quiet_spell_a_message_goes_at_once(monkeypatch):
    """No send for longer than the linger time: the bell rings for the message alone without
    waiting (with a linger of a minute, waiting would fail the five-second wait)."""
    bell, batches, rang = _recording_bell(monkeypatch, linger=60.0)
    bell._last_send = time.monotonic() - 120.0
    bell.ring(9, "Q9")
    assert rang.wait(5)
    assert batches == [[9]]


def test_tasks_send__one_messages_process_task_with_the_queue_ids(monkeypatch):
    calls = []

    class App:
        def send_task(self, name, args, **options):
            calls.append((name, args, options))

    monkeypatch.setattr("celery.current_app", App())
    accept.tasks_send([7, 8], ["Q7", "Q8"])
    assert calls == [("relay.tasks.messages_process", [[7, 8], ["Q7", "Q8"]], {"retry": False})]


def test_task_send__uses_the_task_name_and_carries_the_queue_id(monkeypatch):
    calls = []

    class App:
        def send_task(self, name, args, **options):
            calls.append((name, args, options))

    monkeypatch.setattr("celery.current_app", App())
    accept.task_send(7, "Q7")
    assert calls == [("relay.tasks.message_process", [7, "Q7"], {"retry": False})]


@pytest.mark.django_db
def test_rows__the_written_out_inserts_store_what_the_orm_would(spool_dir):
    """accept._insert writes the rows with SQL of its own: every column is what
    Model.save / bulk_create would have written (defaults, auto_now_add, JSON, the link)."""
    parent = accept_one()
    message = message_accept(
        raw=RAW, envelope_sender="a@sender.test", recipients=["x@one.test", "y@two.test"],
        client_ip="127.0.0.10", tags=["Secure Collaboration: PURL", "t2"], parent=parent,
        relation="dsn",
    )  # fmt: skip
    stored = Message.objects.get(pk=message.pk)
    for field in Message._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(message, field.attname), field.name
    assert stored.state == "received" and stored.tags == ["Secure Collaboration: PURL", "t2"]
    assert stored.parent_id == parent.pk and stored.created_at is not None
    assert stored.verdict == {} and stored.policy_trace == [] and stored.lease_until is None
    rows = list(stored.recipients.order_by("id").values_list("address", "domain", "state"))
    assert rows == [("x@one.test", "one.test", "queued"), ("y@two.test", "two.test", "queued")]
    assert all(r.attempts == 0 and r.next_attempt_at is None for r in stored.recipients.all())
