"""Known queue rows for the dashboard, metrics and selector tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from relay.models import DeliveryAttempt, Message, MessageState, Recipient, RecipientState


def make_message(queue_id: str, *, age: timedelta = timedelta(0), **fields: Any) -> Message:
    message = Message.objects.create(queue_id=queue_id, spool_name=f"{queue_id}.eml", **fields)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)
    message.refresh_from_db()
    return message


def make_recipient(message: Message, address: str, state: str, *,
                   final_age: timedelta | None = None) -> Recipient:  # fmt: skip
    final_at = timezone.now() - final_age if final_age is not None else None
    return Recipient.objects.create(
        message=message, address=address, domain=address.rpartition("@")[2], state=state,
        final_at=final_at,
    )  # fmt: skip


def make_attempt(
    message: Message,
    recipients: list[str],
    outcome: str,
    *,
    tls: bool = False,
    age: timedelta = timedelta(0),
    host: str = "mx.example",
) -> DeliveryAttempt:
    attempt = DeliveryAttempt.objects.create(
        message=message, recipients=recipients, outcome=outcome, tls=tls, host=host,
        tls_version="TLSv1.3" if tls else "",
    )  # fmt: skip
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(started_at=timezone.now() - age)
    return attempt


@dataclass
class Traffic:
    now: datetime
    oldest_queue_id: str


MIN = timedelta(minutes=1)
HOURS = timedelta(hours=1)
DAYS = timedelta(days=1)


@pytest.fixture
def traffic(db: Any) -> Traffic:
    """A known mix, in three windows:

    last hour:  m1 (2 recipients delivered over TLS in one attempt), m2 redirected (after a
                'skipped' attempt at partner.example), m3 deferred (a tls-failed attempt)
    2 h ago:    m4 delivered without TLS, m5 bounced, m6 held
    3 days ago: m7 delivered over TLS, m8 deferred (the oldest in the queue), m9 in received
    """
    m1 = make_message("M1", age=10 * MIN, state=MessageState.DONE)
    make_recipient(m1, "a@tls.example", RecipientState.DELIVERED, final_age=9 * MIN)
    make_recipient(m1, "b@tls.example", RecipientState.DELIVERED, final_age=9 * MIN)
    make_attempt(m1, ["a@tls.example", "b@tls.example"], "delivered", tls=True, age=9 * MIN)

    m2 = make_message("M2", age=20 * MIN, state=MessageState.DONE)
    make_recipient(m2, "c@partner.example", RecipientState.REDIRECTED, final_age=19 * MIN)
    make_attempt(m2, ["c@partner.example"], "skipped", age=19 * MIN)

    m3 = make_message("M3", age=30 * MIN, state=MessageState.ACTIVE)
    make_recipient(m3, "d@partner.example", RecipientState.DEFERRED)
    make_attempt(m3, ["d@partner.example"], "tls-failed", age=29 * MIN)

    m4 = make_message("M4", age=2 * HOURS, state=MessageState.DONE)
    make_recipient(m4, "e@plain.example", RecipientState.DELIVERED, final_age=2 * HOURS)
    make_attempt(m4, ["e@plain.example"], "delivered", tls=False, age=2 * HOURS)

    m5 = make_message("M5", age=2 * HOURS, state=MessageState.DONE)
    make_recipient(m5, "f@gone.example", RecipientState.BOUNCED, final_age=2 * HOURS)

    m6 = make_message("M6", age=2 * HOURS, state=MessageState.HELD)
    make_recipient(m6, "g@held.example", RecipientState.HELD)

    m7 = make_message("M7", age=3 * DAYS, state=MessageState.DONE)
    make_recipient(m7, "h@tls.example", RecipientState.DELIVERED, final_age=3 * DAYS)
    make_attempt(m7, ["h@tls.example"], "delivered", tls=True, age=3 * DAYS)
    make_attempt(m7, ["h@tls.example"], "tls-failed", age=3 * DAYS, host="mx2.other.example")

    m8 = make_message("M8", age=3 * DAYS + HOURS, state=MessageState.ACTIVE)
    make_recipient(m8, "i@slow.example", RecipientState.DEFERRED)
    make_recipient(m8, "j@slow.example", RecipientState.QUEUED)

    make_message("M9", age=3 * DAYS, state=MessageState.RECEIVED)
    return Traffic(now=timezone.now(), oldest_queue_id="M8")
