"""The recipient's side: verification (one-time code or password), session grants, replies.

A grant is stored in the Django session (database-backed, cookie HttpOnly, SameSite as in
settings) under the item's id, with a marker derived from the item's current token and
password: a new token (resend), a revocation or a new password ends every old grant. The
session key is rotated when a grant is given (session fixation, portal-attacks.md C-4).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from mailgate.logging import message_logger
from relay.models import Message
from relay.models.queue import Relation

from . import TAG_PURL, pipeline
from .models import ItemState, SecureMessage, Verification
from .notify import code_build, reply_build

CODE_DIGITS = 8
CODE_LIFETIME = dt.timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
GRANT_LIFETIME = dt.timedelta(hours=2)
SESSION_KEY = "securemailbox.grants"


def _log(item: SecureMessage) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """Lines about an item carry its message's queue id; never a token, code or body."""
    return message_logger(item.queue_id, __name__)


def _secret() -> str:
    return settings.MAILGATE_PURL_SECRET or settings.SECRET_KEY


def _code_hash(item: SecureMessage, code: str) -> str:
    value = f"{item.pk}:{item.token_hash}:{code}"
    return salted_hmac(
        "securemailbox.code", value, secret=_secret(), algorithm="sha256"
    ).hexdigest()


def securemessage_code_send(*, item: SecureMessage, now: dt.datetime | None = None) -> Message:
    """A new one-time code (the previous one stops working), mailed to the recipient."""
    now = now or timezone.now()
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    expires = now + CODE_LIFETIME
    with transaction.atomic():
        SecureMessage.objects.filter(pk=item.pk).update(
            code_hash=_code_hash(item, code), code_expires_at=expires, code_attempts=0
        )
        raw = code_build(
            sender=item.profile.notification_sender,
            recipient=item.recipient_address,
            code=code,
            expires=expires,
            now=now,
        )
        mail = pipeline.mail_submit(
            raw=raw,
            envelope_sender=item.profile.notification_sender,
            recipients=[item.recipient_address],
            client_ip=None,
            tags=[TAG_PURL],
            parent=item.message,
            relation=Relation.CODE,
        )
    _log(item).info("item %s: one-time code sent in %s", item.pk, mail.queue_id)
    return mail


def securemessage_code_check(
    *, item: SecureMessage, code: str, now: dt.datetime | None = None
) -> bool:
    """True once for the right code within its lifetime; a code dies after too many tries."""
    now = now or timezone.now()
    code = "".join(ch for ch in code if not ch.isspace())
    with transaction.atomic():
        row = SecureMessage.objects.select_for_update().get(pk=item.pk)
        if not row.code_hash or not row.code_expires_at or row.code_expires_at <= now:
            return False
        ok = hmac.compare_digest(row.code_hash, _code_hash(row, code))
        if ok or row.code_attempts + 1 >= CODE_MAX_ATTEMPTS:
            row.code_hash, row.code_expires_at, row.code_attempts = "", None, 0
        else:
            row.code_attempts += 1
        row.save(update_fields=["code_hash", "code_expires_at", "code_attempts"])
    _log(item).info("item %s: %s one-time code", item.pk, "right" if ok else "wrong")
    return ok


def securemessage_password_set(*, item: SecureMessage, password: str) -> bool:
    """Set the password on the first visit only (a conditional UPDATE: the first one wins)."""
    updated = SecureMessage.objects.filter(pk=item.pk, password_hash="").update(
        password_hash=make_password(password)
    )
    if updated:
        item.refresh_from_db(fields=["password_hash"])
        _log(item).info("item %s: password set on the first visit", item.pk)
    return bool(updated)


def securemessage_password_check(*, item: SecureMessage, password: str) -> bool:
    ok = bool(item.password_hash) and check_password(password, item.password_hash)
    _log(item).info("item %s: %s password", item.pk, "right" if ok else "wrong")
    return ok


def securemessage_reply(
    *, item: SecureMessage, text: str, now: dt.datetime | None = None
) -> Message:
    """The reader's reply, back to the original sender through Mailgate."""
    now = now or timezone.now()
    to = reply_address(item)
    raw = reply_build(
        sender=item.recipient_address,
        to=to,
        subject=item.subject,
        text=text,
        in_reply_to=item.message_id_header,
        now=now,
    )
    reply = pipeline.mail_submit(
        raw=raw,
        envelope_sender=item.recipient_address,
        recipients=[to],
        client_ip=None,
        parent=item.message,
        relation=Relation.REPLY,
    )
    SecureMessage.objects.filter(pk=item.pk).update(replies_sent=F("replies_sent") + 1)
    _log(item).info("item %s: secure reply %s to %s", item.pk, reply.queue_id, to)
    return reply


def reply_address(item: SecureMessage) -> str:
    """Where a reply goes: the envelope sender, else the From address; "" for none."""
    from email.utils import parseaddr

    address = item.sender or parseaddr(item.header_from)[1]
    return address if "@" in address.strip("@") else ""


# --- session grants ---------------------------------------------------------------------


def _marker(item: SecureMessage) -> str:
    value = f"{item.pk}:{item.token_hash}:{item.password_hash}"
    return salted_hmac("securemailbox.grant", value, secret=_secret()).hexdigest()


def grant_give(
    request: HttpRequest, item: SecureMessage, *, now: dt.datetime | None = None
) -> None:
    now = now or timezone.now()
    grants = dict(request.session.get(SESSION_KEY, {}))
    grants[str(item.pk)] = [_marker(item), (now + GRANT_LIFETIME).timestamp()]
    request.session.cycle_key()
    request.session[SESSION_KEY] = grants


def grant_valid(
    request: HttpRequest, item: SecureMessage, *, now: dt.datetime | None = None
) -> bool:
    if item.profile.verification == Verification.NONE:
        return True
    if item.state != ItemState.ACTIVE:
        return False
    entry = request.session.get(SESSION_KEY, {}).get(str(item.pk))
    if not entry or len(entry) != 2:
        return False
    marker, until = entry
    now = now or timezone.now()
    return hmac.compare_digest(str(marker), _marker(item)) and now.timestamp() < float(until)
