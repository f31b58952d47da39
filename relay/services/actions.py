"""What an administrator can do to a queued message from message tracking.

Each action is a small atomic write on the database queue; the worker is told by the
doorbell after the commit. None of them can make a recipient be delivered twice: they only
move recipients that no worker holds (`delivering` rows are left to their lease).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mailgate.logging import message_logger
from relay.models import Message, MessageState, Recipient, RecipientState
from relay.services import queue
from relay.services.bounce import Failure, message_bounce
from relay.spool import spool_delete

TASK_PROCESS = "relay.tasks.message_process"
TASK_DELIVER = "relay.tasks.message_deliver"
WAITING = (RecipientState.QUEUED, RecipientState.DEFERRED)
OPEN = (RecipientState.QUEUED, RecipientState.DEFERRED, RecipientState.HELD)


@transaction.atomic
def message_retry(*, message: Message) -> int:
    """Make the waiting recipients due now (or the policy stage run again); how many."""
    if message.state == MessageState.RECEIVED:
        Message.objects.filter(pk=message.pk).update(lease_until=None)
        queue.doorbell(TASK_PROCESS, message.pk, queue_id=message.queue_id)
        return message.recipients.count()
    if message.state != MessageState.ACTIVE:
        return 0
    count = message.recipients.filter(state__in=WAITING).update(next_attempt_at=timezone.now())
    if count:
        queue.doorbell(TASK_DELIVER, message.pk, queue_id=message.queue_id)
    return count


@transaction.atomic
def message_hold(*, message: Message, reason: str = "held by an administrator") -> int:
    """Quarantine a message that is not done; its waiting recipients are held."""
    updated = Message.objects.filter(
        pk=message.pk, state__in=[MessageState.RECEIVED, MessageState.ACTIVE]
    ).update(state=MessageState.HELD, hold_reason=reason, updated_at=timezone.now())
    if not updated:
        return 0
    return message.recipients.filter(state__in=WAITING).update(
        state=RecipientState.HELD, last_response=reason
    )


@transaction.atomic
def message_release(*, message: Message) -> int:
    """Let a held message go on: delivery, or the policy stage if it never ran.

    A message held by the hop limit goes back to the policy stage, where the hop limit is
    checked first again: a loop cannot be released, only deleted or bounced."""
    policies_ran = bool(message.verdict)
    state = MessageState.ACTIVE if policies_ran else MessageState.RECEIVED
    updated = Message.objects.filter(pk=message.pk, state=MessageState.HELD).update(
        state=state, hold_reason="", lease_until=None, updated_at=timezone.now()
    )
    if not updated:
        return 0
    count = message.recipients.filter(state=RecipientState.HELD).update(
        state=RecipientState.QUEUED, next_attempt_at=timezone.now(), last_response=""
    )
    task = TASK_DELIVER if policies_ran else TASK_PROCESS
    queue.doorbell(task, message.pk, queue_id=message.queue_id)
    return count


def message_in_flight(message: Message) -> bool:
    """A worker holds a live lease on it: its policy stage or a delivery is running now."""
    now = timezone.now()
    if message.state == MessageState.RECEIVED and message.lease_until and message.lease_until > now:
        return True
    return message.recipients.filter(state=RecipientState.DELIVERING, lease_until__gt=now).exists()


def message_delete(*, message: Message) -> bool:
    """Remove the message, its recipients and attempts, and its spool file; False (nothing
    removed) while a worker is working on it: pulling the spool file from under a running
    SMTP transaction would fail it half-way. The lease ends within minutes; hold first to
    stop further attempts."""
    spool_name = message.spool_name
    message_log = message_logger(message.queue_id, __name__)
    with transaction.atomic():
        # Lock the rows before looking (PostgreSQL): a worker's claim (SKIP LOCKED) then
        # passes them by instead of starting a delivery between the check and the delete.
        # On SQLite the transaction holds the write lock from its start (IMMEDIATE).
        fresh = Message.objects.select_for_update().filter(pk=message.pk).first()
        if fresh is None:
            return True  # already gone (a second click): nothing left to delete
        list(fresh.recipients.select_for_update().values_list("pk", flat=True))
        if message_in_flight(fresh):
            message_log.info("%s not deleted: a worker is on it", message.queue_id)
            return False
        fresh.delete()
    try:
        spool_delete(spool_name)
    except OSError:
        message_log.warning("could not delete spool file %s", spool_name)
    message_log.info("%s deleted by an administrator", message.queue_id)
    return True


@transaction.atomic
def message_return(*, message: Message, reason: str = "Returned by the administrator") -> int:
    """Bounce every open recipient now, with one DSN to the sender; the message is done."""
    now = timezone.now()
    recipients = list(message.recipients.filter(state__in=OPEN))
    ids = [r.pk for r in recipients]
    count = Recipient.objects.filter(pk__in=ids, state__in=OPEN).update(
        state=RecipientState.BOUNCED,
        final_at=now,
        next_attempt_at=None,
        last_response=f"550 5.0.0 {reason}",
    )
    fresh = list(Recipient.objects.filter(pk__in=ids, state=RecipientState.BOUNCED))
    # RFC 3463 X.0.0: other or undefined status; the reason says what happened.
    message_bounce(message=message, failures=[Failure(r, "5.0.0", reason) for r in fresh])
    open_left = message.recipients.exclude(
        state__in=[RecipientState.DELIVERED, RecipientState.BOUNCED, RecipientState.REDIRECTED]
    )
    if not open_left.exists():
        Message.objects.filter(pk=message.pk).update(
            state=MessageState.DONE, lease_until=None, updated_at=now
        )
    return count


ACTIONS = {
    "retry": message_retry,
    "hold": message_hold,
    "release": message_release,
    "bounce": message_return,
}
