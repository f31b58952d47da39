"""Bounces: one delivery status notification (RFC 3464) per batch of failed recipients.

The DSN comes from MAILER-DAEMON@MAILGATE_HOSTNAME with the null reverse-path, so that it
can never cause another bounce (RFC 5321 §4.5.5), and goes to the original envelope sender.
A message with the null sender gets no DSN at all (RFC 3464 §2.1 / RFC 5321 §6.1): its
recipients stay bounced and the failure is logged. The DSN enters the queue like any other
message (`message_accept`, client_ip=None), linked to the original (relation "dsn").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from mailgate.logging import message_logger
from relay.dsn import MAX_HEADERS, FailedRecipient, build_dsn
from relay.models import Message, Recipient
from relay.models.queue import Relation
from relay.services.accept import message_accept
from relay.spool import spool_open


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one recipient failed, for its per-recipient DSN fields (RFC 3464 §2.3)."""

    recipient: Recipient
    status: str  # RFC 3463 enhanced status, e.g. "5.1.1", "4.4.7"
    diagnostic: str  # the remote reply, or our own reason
    remote_mta: str | None = None


def message_bounce(*, message: Message, failures: Sequence[Failure]) -> Message | None:
    """Send one DSN for `failures` (recipients already marked bounced) and link it to them.

    Returns the DSN message, or None when no DSN is due (null sender, nothing failed, or
    every recipient already had one: running this twice sends one DSN)."""
    pending = [f for f in failures if f.recipient.dsn_message_id is None]
    if not pending:
        return None
    message_log = message_logger(message.queue_id, __name__)  # the DSN's own lines carry its id
    if not message.envelope_sender:
        message_log.warning(
            "%s: %d recipient(s) bounced; no DSN for a null-sender message (RFC 3464 §2.1)",
            message.queue_id,
            len(pending),
        )
        return None
    try:
        raw = dsn_render(message, pending)
    except ValueError as exc:  # e.g. a sender address no DSN can be sent to
        message_log.warning("%s: no DSN: %s", message.queue_id, exc)
        return None
    with transaction.atomic():
        dsn = message_accept(
            raw=raw,
            envelope_sender="",
            recipients=[message.envelope_sender],
            client_ip=None,
            parent=message,
            relation=Relation.DSN,
        )
        Recipient.objects.filter(pk__in=[f.recipient.pk for f in pending]).update(dsn_message=dsn)
    message_log.info("%s: DSN %s for %d recipient(s)", message.queue_id, dsn.queue_id, len(pending))
    return dsn


def dsn_render(message: Message, failures: Sequence[Failure]) -> bytes:
    """The DSN's raw bytes (CRLF), built by the pure `relay.dsn.build_dsn`; it quotes the
    original's header section only (RFC 3464 §2: text/rfc822-headers)."""
    try:
        with spool_open(message.spool_name) as stream:
            original_headers = stream.read(MAX_HEADERS)
    except OSError:  # the spool file is gone (deleted, pruned): the DSN is still due
        original_headers = b""
    hostname = settings.MAILGATE_HOSTNAME
    return build_dsn(
        reporting_mta=hostname,
        original_envelope_sender=message.envelope_sender,
        original_headers=original_headers,
        failed=[
            FailedRecipient(
                address=f.recipient.address,
                status=f.status,
                diagnostic=f.diagnostic,
                remote_mta=f.remote_mta,
            )
            for f in failures
        ],
        arrival_date=message.created_at,
        queue_id=message.queue_id,
        from_address=f"MAILER-DAEMON@{hostname}",
    )
