"""The policy stage of a message: hop limit, policies, and carrying out their verdict.

Runs once per message in the worker (DESIGN.md "How one message flows", steps 2-3). The
message is claimed with a lease first; the verdict and the state change are committed in
one transaction, so a second run of the same task finds nothing to do, and a worker that
dies half-way leaves the message `received` for the sweep to hand out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailgate.logging import message_logger
from mailgate.rows import rows_select, rows_update
from relay.models import Message, MessageState, Recipient, RecipientState
from relay.services import queue
from relay.services.bounce import Failure, message_bounce

TASK_DELIVER = "relay.tasks.message_deliver"


class Superseded(Exception):
    """The message left `received` while we worked (another run won): roll back."""


def message_process(message_id: int, *, deliver_now: bool = False) -> str:
    """Run the policy stage of one message; return what happened (for logs and tests).

    With `deliver_now` (the worker's task), recipients left to deliver are claimed for
    delivery in the policy stage's own transaction and delivered in this same run instead
    of through another doorbell: no broker round trip, no second task, no second claim.
    Should this run die, their lease runs out and the sweep hands them out again."""
    if not queue.message_claim(message_id):
        return "not-claimed"
    # Written-out reads (mailgate.rows): these two ran for every message at ~0.3 ms of the
    # worker's CPU each through the ORM.
    found = rows_select(Message, "t.id = %s", [message_id])
    if not found:
        raise Message.DoesNotExist(f"message {message_id} is gone")
    message = found[0]
    # hop_count includes the Received header we prepended: the limit is on those the
    # message arrived with.
    arrived = message.hop_count - 1
    if arrived > settings.MAILGATE_MAX_HOPS:
        # A loop (e.g. a route back to ourselves for a message no policy redirects):
        # RFC 5321 §6.3 says a looping message must be detected and stopped; held, it is
        # never passed round again, and tracking shows why.
        reason = (
            f"hop limit: arrived with {arrived} Mailgate Received headers"
            f" (more than {settings.MAILGATE_MAX_HOPS})"
        )
        message_logger(message.queue_id, __name__).warning("loop stopped: %s", reason)
        _hold(message, reason)
        return "held"
    from policies.services import policies_evaluate  # the policies app owns evaluation

    recipients = rows_select(Recipient, "t.message_id = %s", [message.pk], order_by="t.id")
    link = Recipient._meta.get_field("message")
    for recipient in recipients:
        link.set_cached_value(recipient, message)  # type: ignore[union-attr]
    verdict = policies_evaluate(message, recipients=[r.address for r in recipients])
    queued = [r for r in recipients if r.state == RecipientState.QUEUED]
    try:
        with transaction.atomic():
            fields = _verdict_fields(message, verdict)
            outcome = _apply(message, verdict, queued, fields, claim=deliver_now)
    except Superseded:
        return "superseded"
    if deliver_now and outcome == "queued":
        from relay.services.sending import message_deliver

        message_deliver(message_id, message=message, claimed=queued)
    elif deliver_now and outcome == "redirected":
        from relay.services.sending import message_deliver

        message_deliver(message_id, message=message)
    return outcome


def _verdict_fields(message: Message, verdict: Any) -> dict[str, Any]:
    """What the verdict stores on the message: set on it, and written with its new state."""
    fields: dict[str, Any] = {
        "policy_trace": [entry.to_dict() for entry in verdict.trace],
        "verdict": verdict.to_dict(),
        "tags": list(dict.fromkeys([*message.tags, *verdict.tags])),
        "headers_added": [[name, value] for name, value in verdict.headers_added],
        "route_name": verdict.route or "",
    }
    for name, value in fields.items():
        setattr(message, name, value)
    return fields


def _apply(
    message: Message,
    verdict: Any,
    recipients: list[Recipient],
    fields: dict[str, Any],
    *,
    claim: bool = False,
) -> str:
    """Carry out the verdict for the `queued` recipients. With `claim`, those left to
    deliver are moved to `delivering` under a lease (set on the objects too): the caller
    delivers them; without it, a doorbell for the delivery stage rings on commit."""
    now = timezone.now()
    if verdict.final == "reject":
        reason = verdict.reason or "Rejected by policy"
        _set_state(message, MessageState.ACTIVE, fields)
        Recipient.objects.filter(pk__in=[r.pk for r in recipients]).update(
            state=RecipientState.BOUNCED, final_at=now, last_response=f"550 5.7.1 {reason}"
        )
        # The DSN is accepted in the same transaction: bounced without a DSN cannot happen.
        fresh = list(Recipient.objects.filter(pk__in=[r.pk for r in recipients]))
        failures = [Failure(r, "5.7.1", f"Rejected by policy: {reason}") for r in fresh]
        message_bounce(message=message, failures=failures)
        queue.message_finish_if_done(message.pk)
        _log_outcome(message, "bounced", fresh, f"5.7.1 rejected by policy: {reason}")
        return "rejected"
    if verdict.final == "hold":
        _hold(message, verdict.reason or "held by policy", fields)
        return "held"
    if verdict.final == "redirect":
        from securemailbox.models import DeliveryProfile
        from securemailbox.services import securemessage_redirect

        try:
            with transaction.atomic():
                securemessage_redirect(
                    message=message, recipients=recipients, profile_name=verdict.profile or ""
                )
        except DeliveryProfile.DoesNotExist:
            # Never deliver what a policy meant to keep off the wire: hold it instead.
            reason = f"Secure Mailbox delivery profile {verdict.profile!r} not found"
            _hold(message, reason, fields)
            return "held"
        _set_state(message, MessageState.ACTIVE, fields)
        queue.message_finish_if_done(message.pk)
        profile = verdict.profile or ""
        _log_outcome(message, "redirected", recipients, f"Secure Mailbox profile {profile!r}")
        if not claim:
            _enqueue_deliver_if_due(message)
        return "redirected"
    _set_state(message, MessageState.ACTIVE, fields)
    if claim:
        lease = now + queue.lease_delta()
        if recipients:
            claiming = {
                "state": RecipientState.DELIVERING,
                "lease_until": lease,
                "next_attempt_at": now,
            }
            marks = ", ".join(["%s"] * len(recipients))
            rows_update(Recipient, claiming, f"id IN ({marks})", [r.pk for r in recipients])
        for recipient in recipients:
            recipient.state, recipient.lease_until = RecipientState.DELIVERING, lease
            recipient.next_attempt_at = now
    else:
        Recipient.objects.filter(pk__in=[r.pk for r in recipients]).update(next_attempt_at=now)
        _enqueue_deliver_if_due(message)
    return "queued"


def _enqueue_deliver_if_due(message: Message) -> None:
    if Recipient.objects.filter(message_id=message.pk, state=RecipientState.QUEUED).exists():
        queue.doorbell(TASK_DELIVER, message.pk, queue_id=message.queue_id)


def _set_state(message: Message, state: str, fields: dict[str, Any] | None = None) -> None:
    values = {"state": state, "lease_until": None, "updated_at": timezone.now(), **(fields or {})}
    updated = rows_update(
        Message, values, "id = %s AND state = %s", [message.pk, str(MessageState.RECEIVED)]
    )
    if updated != 1:  # another run finished first: roll this one back
        raise Superseded(message.queue_id)
    message.state = state


def _hold(message: Message, reason: str, fields: dict[str, Any] | None = None) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, state=MessageState.RECEIVED).update(
            state=MessageState.HELD, hold_reason=reason, lease_until=None,
            updated_at=timezone.now(), **(fields or {}),
        )  # fmt: skip
        waiting = list(message.recipients.filter(state=RecipientState.QUEUED))
        Recipient.objects.filter(
            pk__in=[r.pk for r in waiting], state=RecipientState.QUEUED
        ).update(state=RecipientState.HELD, last_response=reason)
    _log_outcome(message, "held", waiting, reason)


def _log_outcome(message: Message, outcome: str, recipients: Sequence[Recipient], why: str) -> None:
    """One INFO line per recipient: addresses, codes and reasons only, never content."""
    message_log = message_logger(message.queue_id, __name__)
    for recipient in recipients:
        message_log.info("%s %s: %s", outcome, recipient.address, why)
