"""The queue in the database: claims, leases, backoff, expiry, the sweep and pruning."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from relay.models import Message, MessageState, Recipient, RecipientState
from relay.services import queue
from relay.services.accept import message_accept
from relay.spool import spool_path

pytestmark = pytest.mark.django_db

RAW = b"From: a@sender.test\r\nTo: b@partner.test\r\nSubject: hi\r\n\r\nHello.\r\n"


@pytest.fixture(autouse=True)
def _spool(settings, tmp_path):
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_LEASE_SECONDS = 60
    settings.MAILGATE_RETRY_BASE = 300
    settings.MAILGATE_RETRY_MAX = 4 * 3600


def accepted(*rcpts: str, state: str = MessageState.ACTIVE) -> Message:
    message = message_accept(
        raw=RAW,
        envelope_sender="a@sender.test",
        recipients=list(rcpts or ["b@partner.test"]),
        client_ip="127.0.0.10",
    )
    Message.objects.filter(pk=message.pk).update(state=state)
    message.refresh_from_db()
    return message


def test_message_claim__only_once_while_the_lease_runs():
    message = accepted(state=MessageState.RECEIVED)
    now = timezone.now()
    assert queue.message_claim(message.pk, now=now)
    assert not queue.message_claim(message.pk, now=now + dt.timedelta(seconds=30))
    # The worker died: once the lease ran out, another run may take it.
    assert queue.message_claim(message.pk, now=now + dt.timedelta(seconds=61))


def test_message_claim__not_once_the_message_moved_on():
    message = accepted(state=MessageState.ACTIVE)
    assert not queue.message_claim(message.pk)


def test_recipients_claim__a_second_run_gets_nothing():
    message = accepted("b@partner.test", "c@partner.test")
    first = queue.recipients_claim(message.pk)
    assert [r.address for r in first] == ["b@partner.test", "c@partner.test"]
    assert all(r.state == RecipientState.DELIVERING and r.lease_until for r in first)
    assert queue.recipients_claim(message.pk) == []


def test_recipients_claim__takes_over_an_expired_lease_only():
    message = accepted()
    now = timezone.now()
    assert len(queue.recipients_claim(message.pk, now=now)) == 1
    assert queue.recipients_claim(message.pk, now=now + dt.timedelta(seconds=59)) == []
    again = queue.recipients_claim(message.pk, now=now + dt.timedelta(seconds=61))
    assert len(again) == 1


def test_recipients_claim__not_before_next_attempt_and_not_when_held():
    message = accepted("b@partner.test", "c@partner.test")
    later = timezone.now() + dt.timedelta(minutes=5)
    Recipient.objects.filter(address="b@partner.test").update(
        state=RecipientState.DEFERRED, next_attempt_at=later
    )
    Recipient.objects.filter(address="c@partner.test").update(state=RecipientState.HELD)
    assert queue.recipients_claim(message.pk) == []
    assert len(queue.recipients_claim(message.pk, now=later)) == 1


def test_recipients_claim__none_for_a_held_message():
    message = accepted(state=MessageState.HELD)
    assert queue.recipients_claim(message.pk) == []


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 300), (2, 600), (3, 1200), (6, 9600), (7, 14400), (50, 14400), (10**6, 14400)],
)
def test_backoff__doubles_up_to_the_cap(attempts, seconds):
    assert queue.backoff(attempts) == dt.timedelta(seconds=seconds)


def test_is_expired__after_the_maximum_queue_lifetime(settings):
    settings.MAILGATE_MAX_QUEUE_LIFETIME = 3600
    message = accepted()
    assert not queue.is_expired(message, message.created_at + dt.timedelta(seconds=3599))
    assert queue.is_expired(message, message.created_at + dt.timedelta(seconds=3600))


def test_message_finish_if_done__only_when_every_recipient_is_final():
    message = accepted("b@partner.test", "c@partner.test")
    Recipient.objects.filter(address="b@partner.test").update(state=RecipientState.DELIVERED)
    assert not queue.message_finish_if_done(message.pk)
    assert Message.objects.get(pk=message.pk).state == MessageState.ACTIVE
    Recipient.objects.filter(address="c@partner.test").update(state=RecipientState.HELD)
    assert not queue.message_finish_if_done(message.pk)  # held is not final
    before = timezone.now()
    Message.objects.filter(pk=message.pk).update(lease_until=before)
    Recipient.objects.filter(address="c@partner.test").update(state=RecipientState.BOUNCED)
    assert queue.message_finish_if_done(message.pk)
    done = Message.objects.get(pk=message.pk)
    assert done.state == MessageState.DONE
    assert done.lease_until is None and done.updated_at >= before
    assert queue.message_finish_if_done(message.pk)  # done already: still True, no change
    assert Message.objects.get(pk=message.pk).updated_at == done.updated_at


def test_message_finish_if_done__a_held_message_is_not_made_done():
    message = accepted("b@partner.test")
    Message.objects.filter(pk=message.pk).update(state=MessageState.HELD)
    Recipient.objects.filter(message=message).update(state=RecipientState.BOUNCED)
    assert queue.message_finish_if_done(message.pk)  # nothing open: it is finished ...
    assert Message.objects.get(pk=message.pk).state == MessageState.HELD  # ... but stays held


def test_sweep_targets__received_after_grace_or_expired_lease_and_due_recipients():
    now = timezone.now()
    fresh = accepted(state=MessageState.RECEIVED)
    stale = accepted(state=MessageState.RECEIVED)
    Message.objects.filter(pk=stale.pk).update(created_at=now - dt.timedelta(seconds=10))
    leased = accepted(state=MessageState.RECEIVED)
    Message.objects.filter(pk=leased.pk).update(lease_until=now + dt.timedelta(seconds=30))
    due = accepted()
    Recipient.objects.filter(message=due).update(next_attempt_at=now)
    waiting = accepted()
    Recipient.objects.filter(message=waiting).update(
        state=RecipientState.DEFERRED, next_attempt_at=now + dt.timedelta(minutes=5)
    )
    abandoned = accepted()
    Recipient.objects.filter(message=abandoned).update(
        state=RecipientState.DELIVERING, lease_until=now - dt.timedelta(seconds=1)
    )
    to_process, to_deliver = queue.sweep_targets(now=now)
    assert to_process == [stale.pk]
    assert fresh.pk not in to_process
    assert sorted(to_deliver) == sorted([due.pk, abandoned.pk])


def test_records_prune__removes_old_done_messages_and_their_spool_files(settings):
    settings.MAILGATE_RECORD_RETENTION_DAYS = 30
    old, recent, active = accepted(), accepted(), accepted()
    long_ago = timezone.now() - dt.timedelta(days=31)
    Message.objects.filter(pk__in=[old.pk, recent.pk]).update(state=MessageState.DONE)
    Message.objects.filter(pk=old.pk).update(updated_at=long_ago)
    Message.objects.filter(pk=active.pk).update(updated_at=long_ago)
    assert queue.records_prune() == 1
    assert not Message.objects.filter(pk=old.pk).exists()
    assert not spool_path(old.spool_name).exists()
    assert spool_path(recent.spool_name).exists()
    assert Message.objects.filter(pk=active.pk).exists()


def test_queue_sweep_task__rings_for_what_is_due(memory_broker):
    from relay import tasks

    stale = accepted(state=MessageState.RECEIVED)
    Message.objects.filter(pk=stale.pk).update(created_at=timezone.now() - dt.timedelta(seconds=10))
    due = accepted()
    Recipient.objects.filter(message=due).update(next_attempt_at=timezone.now())
    assert tasks.queue_sweep() == (1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "not __import__('django.db').db.connection.features.has_select_for_update_skip_locked",
    reason="SKIP LOCKED is PostgreSQL's (CI runs this on PostgreSQL); SQLite has one writer",
)
def test_recipients_claim__passes_by_rows_another_worker_has_locked():
    """Two workers at once: the rows one of them holds locked are skipped by the other's
    claim (SELECT ... FOR UPDATE SKIP LOCKED), not waited for, and never claimed twice."""
    import threading

    from django.db import connection, transaction

    message = accepted("b@partner.test", "c@partner.test")
    locked, release = threading.Event(), threading.Event()
    first_pk = message.recipients.order_by("id").first().pk

    def other_worker() -> None:
        try:
            with transaction.atomic():
                list(Recipient.objects.select_for_update().filter(pk=first_pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        claimed = queue.recipients_claim(message.pk)  # returns at once: no wait on the lock
        assert [r.address for r in claimed] == ["c@partner.test"]
    finally:
        release.set()
        thread.join(10)
    # Once the other worker let go, the skipped row is still due and can be claimed.
    assert [r.address for r in queue.recipients_claim(message.pk)] == ["b@partner.test"]
