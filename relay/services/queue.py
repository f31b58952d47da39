"""The queue in the database: claims, leases, backoff and the sweep's targets.

A worker owns a message (policy stage) or a recipient (delivery stage) only while its lease
runs: it takes it with one conditional UPDATE, so two workers (or one task run twice) can
never both win. A worker that dies leaves the lease to run out; the beat sweep then rings
the doorbell again. Nothing here relies on the broker keeping a task.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from mailgate.logging import message_logger, queue_id_context
from relay.models import Message, MessageState, Recipient, RecipientState
from relay.models.queue import FINAL_RECIPIENT_STATES
from relay.spool import spool_delete

# A message in `received` without a lease normally has its task in the broker already
# (enqueued on commit by message_accept); the sweep leaves it alone this long.
RECEIVED_GRACE = dt.timedelta(seconds=5)
SWEEP_BATCH = 500

log = logging.getLogger(__name__)


def doorbell(task_name: str, message_id: int, *, queue_id: str) -> None:
    """Enqueue `task_name` for a message once the current transaction commits.

    A broker that is down only delays the message: the failure is logged and the beat
    sweep finds the work in the database later (never raise after the commit)."""

    def ring() -> None:
        from celery import current_app

        with queue_id_context(queue_id):  # the commit may come after the caller's context
            try:
                current_app.send_task(task_name, args=[message_id, queue_id], retry=False)
            except Exception:
                log.warning("cannot enqueue %s; the sweep will", task_name)

    transaction.on_commit(ring)


def message_queue_id(message_id: int) -> str:
    """The queue id of a message, "" if it is gone: what the lines logged about it carry."""
    found = Message.objects.filter(pk=message_id).values_list("queue_id", flat=True).first()
    return found or ""


def lease_delta() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MAILGATE_LEASE_SECONDS)


def _lease_free(now: dt.datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def message_claim(message_id: int, *, now: dt.datetime | None = None) -> bool:
    """Take the policy-stage lease of a `received` message; False if someone holds it or
    the message has moved on (a second run of the same task ends here).

    Plain SQL, as ``message_finish_if_done``: it runs for every message, and the ORM took
    four times the statements' own cost building the two (py-spy on the worker)."""
    now = now or timezone.now()
    table = connection.ops.quote_name(Message._meta.db_table)
    claimable = "id = %s AND state = %s AND (lease_until IS NULL OR lease_until <= %s)"
    at = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = [message_id, str(MessageState.RECEIVED), at]
    with connection.cursor() as cursor:
        # Read first: a duplicate doorbell (the sweep rang while the first one was still
        # queued) then ends without taking SQLite's single write lock away from real work.
        cursor.execute(f"SELECT 1 FROM {table} WHERE {claimable}", params)  # noqa: S608
        if cursor.fetchone() is None:
            return False
        lease = connection.ops.adapt_datetimefield_value(now + lease_delta())
        cursor.execute(
            f"UPDATE {table} SET lease_until = %s WHERE {claimable}",  # noqa: S608
            [lease, *params],
        )
        return cursor.rowcount == 1


def recipients_due_q(now: dt.datetime) -> Q:
    """Recipients a delivery run may take: due ones, and those whose worker's lease ran out."""
    waiting = Q(state__in=[RecipientState.QUEUED, RecipientState.DEFERRED]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    abandoned = Q(state=RecipientState.DELIVERING, lease_until__lte=now)
    return waiting | abandoned


def recipients_claim(message_id: int, *, now: dt.datetime | None = None) -> list[Recipient]:
    """Move the due recipients of an active message to `delivering` under a lease.

    One conditional UPDATE per recipient: the row changes only if it is still due, so a
    recipient is never claimed twice. Where the database can (PostgreSQL), the candidate
    rows are also locked with SKIP LOCKED so that concurrent workers do not even contend."""
    now = now or timezone.now()
    due = recipients_due_q(now)
    base = Recipient.objects.filter(message_id=message_id, message__state=MessageState.ACTIVE)
    claimed: list[int] = []
    skip_locked = connection.features.has_select_for_update_skip_locked
    # Read first, outside the transaction: nothing due (a duplicate doorbell) means no write
    # transaction at all, and SQLite's write lock is held only for the UPDATEs, which check
    # again that each row is still due.
    found = [] if skip_locked else list(base.filter(due).values_list("pk", flat=True))
    if not skip_locked and not found:
        return []
    with transaction.atomic():
        if skip_locked:
            candidates = base.filter(due).select_for_update(skip_locked=True, of=("self",))
            found = list(candidates.values_list("pk", flat=True))
        for pk in found:
            won = (
                Recipient.objects.filter(pk=pk)
                .filter(due)
                .update(state=RecipientState.DELIVERING, lease_until=now + lease_delta())
            )
            if won:
                claimed.append(pk)
    return list(Recipient.objects.filter(pk__in=claimed).order_by("id"))


def backoff(attempts: int) -> dt.timedelta:
    """MAILGATE_RETRY_BASE * 2**(attempts-1), capped at MAILGATE_RETRY_MAX (RFC 5321
    §4.5.4.1: the retry interval should grow, at least 30 minutes in production)."""
    base = settings.MAILGATE_RETRY_BASE
    exponent = max(attempts - 1, 0)
    seconds = settings.MAILGATE_RETRY_MAX if exponent > 40 else base * 2**exponent
    return dt.timedelta(seconds=min(seconds, settings.MAILGATE_RETRY_MAX))


def is_expired(message: Message, now: dt.datetime) -> bool:
    """Past the maximum queue lifetime (RFC 5321 §4.5.4.1: give up after 4-5 days)."""
    return now - message.created_at >= dt.timedelta(seconds=settings.MAILGATE_MAX_QUEUE_LIFETIME)


def message_finish_if_done(message_id: int) -> bool:
    """Mark an active message done once every recipient is final; True if it is done.

    One conditional UPDATE (no recipient left open) does it: the check and the change are
    atomic without a transaction around them. Only when it changed nothing (a recipient is
    still open, or the message was done already) does a read tell which. Plain SQL: this
    runs once per delivered message, and building it with the ORM (a correlated NOT EXISTS)
    cost more than a millisecond of the worker's CPU each time (cProfile)."""
    final = sorted(FINAL_RECIPIENT_STATES)
    marks = ", ".join(["%s"] * len(final))
    message_table = connection.ops.quote_name(Message._meta.db_table)
    recipient_table = connection.ops.quote_name(Recipient._meta.db_table)
    none_open = (
        f"NOT EXISTS (SELECT 1 FROM {recipient_table} r"  # noqa: S608 - names, not input
        f" WHERE r.message_id = %s AND r.state NOT IN ({marks}))"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {message_table} SET state = %s, lease_until = NULL, updated_at = %s"  # noqa: S608
            f" WHERE id = %s AND state = %s AND {none_open}",
            [MessageState.DONE, now, message_id, MessageState.ACTIVE, message_id, *final],
        )
        if cursor.rowcount:
            return True
        cursor.execute(
            f"SELECT 1 FROM {message_table} WHERE id = %s AND {none_open}",  # noqa: S608
            [message_id, message_id, *final],
        )
        return cursor.fetchone() is not None


def messages_claimable(message_ids: Sequence[int], *, now: dt.datetime | None = None) -> list[int]:
    """Those of `message_ids` whose policy stage nobody runs: one read, no lock."""
    now = now or timezone.now()
    found = Message.objects.filter(pk__in=list(message_ids), state=MessageState.RECEIVED)
    return list(found.filter(_lease_free(now)).order_by("id").values_list("pk", flat=True))


def messages_with_due_recipients(
    message_ids: Sequence[int], *, now: dt.datetime | None = None
) -> list[int]:
    """Those of `message_ids` (active) with recipients a delivery run may take: one read."""
    now = now or timezone.now()
    found = Recipient.objects.filter(
        message_id__in=list(message_ids), message__state=MessageState.ACTIVE
    ).filter(recipients_due_q(now))
    return sorted(set(found.values_list("message_id", flat=True)))


def sweep_targets(*, now: dt.datetime | None = None) -> tuple[list[int], list[int]]:
    """(messages whose policy stage must run, messages with recipients to deliver)."""
    now = now or timezone.now()
    stale = Q(lease_until__isnull=True, created_at__lte=now - RECEIVED_GRACE) | Q(
        lease_until__lte=now
    )
    to_process = list(
        Message.objects.filter(state=MessageState.RECEIVED)
        .filter(stale)
        .order_by("id")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    to_deliver = list(
        Recipient.objects.filter(message__state=MessageState.ACTIVE)
        .filter(recipients_due_q(now))
        .order_by("message_id")
        .values_list("message_id", flat=True)
        .distinct()[:SWEEP_BATCH]
    )
    return to_process, to_deliver


def recipients_renew(
    recipients: Sequence[Recipient], *, now: dt.datetime | None = None
) -> list[Recipient]:
    """Extend our lease before a (possibly long) delivery; return the rows still ours.

    The lease value is our fencing token: a row whose lease ran out and was claimed by
    another run has another value, and this run no longer touches it."""
    now = now or timezone.now()
    new = now + lease_delta()
    by_lease: dict[dt.datetime | None, list[int]] = {}
    for recipient in recipients:
        by_lease.setdefault(recipient.lease_until, []).append(recipient.pk)
    for lease, ids in by_lease.items():
        Recipient.objects.filter(
            pk__in=ids, state=RecipientState.DELIVERING, lease_until=lease
        ).update(lease_until=new)
    ours = set(
        Recipient.objects.filter(
            pk__in=[r.pk for r in recipients], state=RecipientState.DELIVERING, lease_until=new
        ).values_list("pk", flat=True)
    )
    kept = [r for r in recipients if r.pk in ours]
    for recipient in kept:
        recipient.lease_until = new
    return kept


def recipients_release_lease(recipients: Sequence[Recipient]) -> None:
    """Give back recipients this run still holds (it stopped early): due again at once."""
    for recipient in recipients:
        Recipient.objects.filter(
            pk=recipient.pk, state=RecipientState.DELIVERING, lease_until=recipient.lease_until
        ).update(state=RecipientState.DEFERRED, lease_until=None)


def records_prune(*, now: dt.datetime | None = None) -> int:
    """Delete done messages older than MAILGATE_RECORD_RETENTION_DAYS, spool files too."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MAILGATE_RECORD_RETENTION_DAYS)
    old = Message.objects.filter(state=MessageState.DONE, updated_at__lt=cutoff)
    count = 0
    for pk, queue_id, spool_name in old.values_list("pk", "queue_id", "spool_name")[
        : SWEEP_BATCH * 10
    ]:
        with transaction.atomic():
            deleted, _ = Message.objects.filter(pk=pk, state=MessageState.DONE).delete()
        if deleted:
            count += 1
            try:
                spool_delete(spool_name)
            except OSError:
                message_logger(queue_id, __name__).warning(
                    "could not delete spool file %s", spool_name
                )
    return count
