"""Secure Mailbox writes: redirect, the admin's actions, expiry and purge.

Messages Mailgate makes (notifications) enter the same pipeline as any other message, through
``relay.services.accept.message_accept`` with ``client_ip=None`` (docs/INTERFACES.md), so the
reference setup's policies 2 and 3 apply to them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from mailgate.logging import message_logger
from relay.models import Message, Recipient, RecipientState
from relay.models.queue import Relation

from . import TAG_PURL, pipeline
from .conf import setting
from .crypto import store_delete, store_name_for, store_write
from .models import DeliveryProfile, ItemState, SecureMessage
from .notify import expires_text, notification_build
from .purl import default_token_generator, purl_for
from .ratelimit import throttle_prune
from .render import header_decode

log = logging.getLogger(__name__)  # lines about one message: mlog(queue_id) instead
OPEN_DEBOUNCE = dt.timedelta(seconds=60)


def mlog(queue_id: str) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """This module's logger, every line tagged with the message's queue id (never a token)."""
    return message_logger(queue_id, __name__)


def profile_get(*, name: str) -> DeliveryProfile:
    """The profile by name (exact, else ignoring case). Raises DeliveryProfile.DoesNotExist."""
    profile = DeliveryProfile.objects.filter(name=name).first()
    return profile or DeliveryProfile.objects.get(name__iexact=name)


def securemessage_redirect(
    *,
    message: Message,
    recipients: Sequence[Recipient],
    profile_name: str,
    now: dt.datetime | None = None,
) -> list[SecureMessage]:
    """Store the message encrypted, make one item and one notification per recipient, and
    mark the recipients redirected. Idempotent per (message, recipient): a second call
    returns the existing items and sends nothing. Raises DeliveryProfile.DoesNotExist
    (nothing is changed) when the profile is unknown, so the message is never delivered."""
    now = now or timezone.now()
    profile = profile_get(name=profile_name)
    existing = {
        item.recipient_address: item
        for item in SecureMessage.objects.filter(queue_id=message.queue_id)
    }
    todo = [r for r in recipients if r.address not in existing]
    store_name = next(
        (item.store_name for item in existing.values()), store_name_for(message.queue_id)
    )
    raw = b""
    if todo:
        raw = pipeline.raw_read(message.spool_name)
        store_write(store_name, raw)  # before the rows: a row never points at nothing
    with transaction.atomic():
        for recipient in todo:
            existing[recipient.address] = _item_create(
                message=message, recipient=recipient, profile=profile,
                store_name=store_name, size=len(raw), now=now,
            )  # fmt: skip
        Recipient.objects.filter(pk__in=[r.pk for r in recipients]).update(
            state=RecipientState.REDIRECTED,
            final_at=now,
            lease_until=None,
            next_attempt_at=None,
            last_response=f"Redirected to the Secure Mailbox (profile '{profile.name}')",
        )
    for recipient in todo:
        item = existing[recipient.address]
        mlog(message.queue_id).info(
            "redirected to the Secure Mailbox: item %s for %s, profile %r, notification %s",
            item.pk, item.recipient_address, profile.name,
            item.notification.queue_id if item.notification else "-",
        )  # fmt: skip
    return [existing[r.address] for r in recipients]


def _item_create(
    *,
    message: Message,
    recipient: Recipient,
    profile: DeliveryProfile,
    store_name: str,
    size: int,
    now: dt.datetime,
) -> SecureMessage:
    token, token_hash = default_token_generator.make_token()
    item = SecureMessage.objects.create(
        message=message,
        recipient=recipient,
        profile=profile,
        queue_id=message.queue_id,
        recipient_address=recipient.address,
        sender=message.envelope_sender,
        header_from=header_decode(message.header_from, 998),
        subject=header_decode(message.subject, 998),
        message_id_header=message.message_id_header[:998],
        size=size,
        store_name=store_name,
        token_hash=token_hash,
        token_issued_at=now,
        created_at=now,
        expires_at=now + dt.timedelta(days=profile.expiry_days),
    )
    _notify(item=item, token=token, now=now)
    return item


def _notify(*, item: SecureMessage, token: str, now: dt.datetime) -> Message:
    profile = item.profile
    values = {
        "purl": purl_for(profile.portal_base_url, token),
        "sender": item.header_from or item.sender or "(unknown sender)",
        "subject": item.subject or "(no subject)",
        "expires": expires_text(item.expires_at),
        "organisation": profile.organisation_name,
    }
    raw = notification_build(
        profile=profile, recipient=item.recipient_address, values=values, now=now
    )
    notification = pipeline.mail_submit(
        raw=raw,
        envelope_sender=profile.notification_sender,
        recipients=[item.recipient_address],
        client_ip=None,
        tags=[TAG_PURL],
        parent=item.message,
        relation=Relation.NOTIFICATION,
    )
    SecureMessage.objects.filter(pk=item.pk).update(
        notification=notification, notifications_sent=F("notifications_sent") + 1
    )
    item.notification = notification
    item.notifications_sent += 1
    return notification


def securemessage_resend(*, item: SecureMessage, now: dt.datetime | None = None) -> bool:
    """A new pURL (the old one stops working at once) and a new notification."""
    now = now or timezone.now()
    with transaction.atomic():
        item = SecureMessage.objects.select_for_update().select_related("profile").get(pk=item.pk)
        if item.state != ItemState.ACTIVE or item.expires_at <= now:
            return False
        token, item.token_hash = default_token_generator.make_token()
        item.token_issued_at = now
        item.code_hash, item.code_expires_at, item.code_attempts = "", None, 0
        item.save(update_fields=["token_hash", "token_issued_at", "code_hash",
                                 "code_expires_at", "code_attempts"])  # fmt: skip
        note = _notify(item=item, token=token, now=now)
    mlog(item.queue_id).info(
        "item %s: new pURL, notification %s; the old pURL is dead", item.pk, note.queue_id
    )
    return True


def securemessage_revoke(*, item: SecureMessage, now: dt.datetime | None = None) -> bool:
    updated = SecureMessage.objects.filter(
        pk=item.pk, state__in=[ItemState.ACTIVE, ItemState.EXPIRED]
    ).update(state=ItemState.REVOKED, revoked_at=now or timezone.now())
    if updated:
        mlog(item.queue_id).info("item %s revoked", item.pk)
    return bool(updated)


def securemessage_extend(*, item: SecureMessage, days: int, now: dt.datetime | None = None) -> bool:
    """Push the expiry back by `days` (from now, if it has passed); re-opens an expired item
    whose message is not purged yet."""
    now = now or timezone.now()
    with transaction.atomic():
        item = SecureMessage.objects.select_for_update().get(pk=item.pk)
        if item.state not in (ItemState.ACTIVE, ItemState.EXPIRED):
            return False
        item.expires_at = max(now, item.expires_at) + dt.timedelta(days=days)
        item.state = ItemState.ACTIVE
        item.save(update_fields=["expires_at", "state"])
    mlog(item.queue_id).info("item %s extended by %s day(s), until %s", item.pk, days,
                             item.expires_at.isoformat())  # fmt: skip
    return True


def securemessage_open(*, item: SecureMessage, now: dt.datetime | None = None) -> bool:
    """Count a reading. Views within OPEN_DEBOUNCE of the last counted one (reloads, the
    body frame, a scanner and its browser) are the same reading and write nothing, so busy
    pages do not queue on the database's write lock. GET changes nothing else (T-5)."""
    now = now or timezone.now()
    if item.last_opened_at and now - item.last_opened_at < OPEN_DEBOUNCE:
        return False
    updated = SecureMessage.objects.filter(pk=item.pk).update(
        open_count=F("open_count") + 1,
        last_opened_at=now,
        first_opened_at=Coalesce("first_opened_at", Value(now)),
    )
    return bool(updated)


def purge_grace() -> dt.timedelta:
    return dt.timedelta(days=setting("MAILGATE_SECURE_PURGE_GRACE_DAYS"))


def securemessage_expire(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat: expire due items; purge the stored message once no item can be read or
    extended any more (revoked, or expired longer than the grace period); drop purged
    records after MAILGATE_RECORD_RETENTION_DAYS; prune old rate-limit counters."""
    now = now or timezone.now()
    expired = SecureMessage.objects.filter(state=ItemState.ACTIVE, expires_at__lte=now).update(
        state=ItemState.EXPIRED
    )
    dead = Q(state=ItemState.REVOKED) | Q(
        state=ItemState.EXPIRED, expires_at__lte=now - purge_grace()
    )
    purged = 0
    for item in SecureMessage.objects.filter(dead)[:1000]:
        with transaction.atomic():
            SecureMessage.objects.filter(pk=item.pk).update(
                state=ItemState.PURGED, password_hash="", code_hash=""
            )
            still_used = SecureMessage.objects.filter(store_name=item.store_name).filter(
                Q(state=ItemState.ACTIVE)
                | Q(state=ItemState.EXPIRED, expires_at__gt=now - purge_grace())
            )
            if not still_used.exists():
                transaction.on_commit(partial(store_delete, item.store_name))
        mlog(item.queue_id).info("item %s purged (was %s)", item.pk, item.state)
        purged += 1
    cutoff = now - dt.timedelta(days=settings.MAILGATE_RECORD_RETENTION_DAYS)
    deleted, _ = SecureMessage.objects.filter(
        state=ItemState.PURGED, expires_at__lt=cutoff
    ).delete()
    return {"expired": expired, "purged": purged, "deleted": deleted,
            "throttles": throttle_prune(now=now)}  # fmt: skip
