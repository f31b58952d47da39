"""Accepting a message: spool it, commit its rows, ring the doorbell (docs/INTERFACES.md).

Used by the smtpd for every inbound message and by Mailgate itself for the messages it
makes (DSNs, Secure Mailbox notifications; ``client_ip=None``). "Store before 250": when
this returns, the bytes are fsync'ed and the rows committed (or, inside a caller's atomic
block, written in it).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from email.policy import default as email_policy
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction

from mailgate.logging import queue_id_context
from mailgate.rows import row_insert, rows_insert
from relay.hosts import HostSyntaxError, domain_to_ascii
from relay.models import Message, Recipient
from relay.models.queue import Relation
from relay.received import header_block, header_fields, own_received_ids, received_build
from relay.services.groupcommit import GroupCommit
from relay.spool import SpoolError, spool_delete, spool_write

log = logging.getLogger(__name__)

# Crockford base32: its characters sort in ASCII order, so the ids sort by time.
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DISPLAY_MAX = 998  # the model fields' length (RFC 5322 §2.1.1 line limit)
_DECODE_MAX = 8 * 1024  # PARSE-1: longer header values are shown raw, never parsed


TASK_PROCESS = "relay.tasks.message_process"
TASK_PROCESS_MANY = "relay.tasks.messages_process"
_BROKER_BACKOFF = 30.0  # seconds without trying after a broker error: the sweep catches up


class _Doorbell:
    """Sends the policy-stage tasks from one daemon thread, off the SMTP reply path.

    The database is the queue and Celery only the doorbell (DESIGN.md): a send that fails
    (broker down) is logged and dropped, and the beat sweep re-enqueues the message. A
    broker that refuses connections can take seconds per attempt, so sending here keeps the
    250 reply fast, and after a failure sends are skipped for a while.

    A send costs the smtpd about 0.6 ms of CPU (Celery's ``send_task`` on Redis, measured),
    as much as a tenth of what a message costs it. So the messages that queued up during a
    send go out in one ``messages_process`` task, and while mail keeps coming (the last send
    less than ``LINGER`` ago) the bell waits up to ``LINGER`` for more before it rings: the
    busier the smtpd, the fewer sends per message. After a quiet spell a message goes at
    once: a lone message is never kept waiting for company."""

    BATCH_MAX = 16
    LINGER = 0.02  # seconds: the most a busy smtpd adds to a message's way to the worker

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_send = 0.0

    def ring(self, message_id: int, queue_id: str) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mailgate-doorbell", daemon=True
                )
                self._thread.start()
        self._queue.put((message_id, queue_id))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            now = time.monotonic()
            busy = now - self._last_send < self.LINGER
            deadline = now + self.LINGER if busy else now
            while len(batch) < self.BATCH_MAX:
                try:
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        batch.append(self._queue.get(timeout=remaining))
                    else:
                        batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.handle(batch)
            self._last_send = time.monotonic()

    def handle(self, batch: Sequence[tuple[int, str]]) -> None:
        # this thread serves every message: the context is set for each send
        with queue_id_context(batch[0][1] if len(batch) == 1 else ""):
            if time.monotonic() < self._down_until:
                log.info("broker down: %d message(s) left to the sweep", len(batch))
                return
            try:
                if len(batch) == 1:
                    task_send(*batch[0])
                else:
                    tasks_send([pk for pk, _ in batch], [qid for _, qid in batch])
            except Exception:
                self._down_until = time.monotonic() + _BROKER_BACKOFF
                log.warning("cannot enqueue the policy stage; the sweep will", exc_info=True)


def task_send(message_id: int, queue_id: str = "") -> None:
    """Enqueue the policy stage by task name: no import of the worker code is needed."""
    from celery import current_app

    current_app.send_task(TASK_PROCESS, args=[message_id, queue_id], retry=False)


def tasks_send(message_ids: list[int], queue_ids: list[str]) -> None:
    """Enqueue the policy stage of several messages in one task."""
    from celery import current_app

    current_app.send_task(TASK_PROCESS_MANY, args=[message_ids, queue_ids], retry=False)


_doorbell = _Doorbell()

# The smtpd's threads commit their rows together (relay/services/groupcommit.py): one
# durable commit, and one turn at SQLite's write lock, for the messages that finished DATA
# at about the same time.
_group_commit = GroupCommit()


def doorbell_ring(message_id: int, queue_id: str) -> None:
    _doorbell.ring(message_id, queue_id)


def queue_id_new(now_ms: int | None = None) -> str:
    """16 characters: 10 of milliseconds since the epoch, then 6 random (30 bits)."""
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    value = now_ms << 30 | secrets.randbits(30)
    return "".join(_B32[(value >> shift) & 31] for shift in range(75, -1, -5))


def recipient_domain(address: str) -> str:
    """The A-label, lower-case domain of an address (the part after the *last* "@")."""
    _, at, domain = address.rpartition("@")
    if not at:
        raise ValueError(f"recipient {address!r} has no domain")
    try:
        return domain_to_ascii(domain)
    except HostSyntaxError as exc:
        raise ValueError(f"recipient {address!r}: {exc}") from None


@functools.lru_cache(maxsize=16)
def _header_class(name: str) -> Any:
    """The `email` header class for a field name. ``header_factory(name, value)`` builds a
    new class for every call (HeaderRegistry.__getitem__): 240 µs for a From field instead
    of 65 µs, measured, and a sixth of the smtpd's CPU per message."""
    return email_policy.header_factory[name]  # type: ignore[index]


def _display(name: str, value: bytes) -> str:
    """A header value decoded for display (RFC 2047 / RFC 6532), read-only.

    The parsed object is never set back on a message (CVE-2024-6923); control characters
    that decoding may produce (``=0D=0A`` in an encoded-word) become spaces."""
    text = value.decode("utf-8", "replace")
    if len(text) <= _DECODE_MAX:
        try:
            text = str(_header_class(name)(name, text))
        except Exception:  # PARSE-3: a broken header is shown raw
            log.debug("cannot decode %s header", name, exc_info=True)
    cleaned = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return cleaned.strip()[:_DISPLAY_MAX]


def _is_delivery_report(fields: dict[str, bytes]) -> bool:
    """RFC 3462/6522 multipart/report with report-type=delivery-status (RFC 3464)."""
    value = fields.get("content-type")
    if value is None or len(value) > _DECODE_MAX:
        return False
    try:
        header = _header_class("content-type")("content-type", value.decode("utf-8", "replace"))
        report_type = str(header.params.get("report-type", "")).lower()  # type: ignore[attr-defined]
        return bool(
            header.content_type == "multipart/report"  # type: ignore[attr-defined]
            and report_type == "delivery-status"
        )
    except Exception:  # a broken Content-Type is simply not a report
        return False


def _loopback_parent(client_ip: str | None, own_ids: list[str]) -> Message | None:
    """A message re-entering from loopback with our newest Received ``id X``: its origin."""
    if client_ip is None or not own_ids or not own_ids[0]:
        return None
    if not ipaddress.ip_address(client_ip).is_loopback:
        return None
    return Message.objects.filter(queue_id=own_ids[0]).first()


def _insert(message: Message, recipients: list[Recipient]) -> None:
    """Insert `message` (its pk is set) and `recipients` in the current transaction.

    Written-out SQL (mailgate.rows): ``Model.save`` and ``bulk_create`` spent about 0.4 ms
    of the smtpd's CPU per message building the statements, inside the group commit, which
    holds SQLite's single write lock (measured in-process: 398 µs against 213 µs). Nothing
    listens for these two models' save signals."""
    row_insert(message)
    for recipient in recipients:
        recipient.message_id = message.pk
    rows_insert(Recipient, recipients)


def _rows_store(message: Message, rows: Sequence[tuple[str, str]]) -> None:
    """Insert the message and its recipients: inside the caller's transaction when there is
    one (a DSN, a notification: part of its commit), else in a group commit. Returns once
    the rows are committed (or written in the caller's transaction)."""

    def insert() -> Message:
        _insert(message, [Recipient(message=message, address=a, domain=d) for a, d in rows])
        # robust: once committed, a failing doorbell must not turn the 250 into a 451 (the
        # sweep rings for the message anyway).
        transaction.on_commit(lambda: doorbell_ring(message.pk, message.queue_id), robust=True)
        return message

    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            insert()
    else:
        _group_commit.run(insert)


def message_accept(
    *,
    raw: bytes,
    envelope_sender: str,
    recipients: Sequence[str],
    client_ip: str | None,
    client_helo: str = "",
    client_tls: bool = False,
    tags: Sequence[str] = (),
    parent: Message | None = None,
    relation: str = "",
) -> Message:
    """Spool `raw` behind our Received header, commit Message + Recipients, enqueue on commit.

    Raises `SpoolError` when the file or the rows cannot be stored; then nothing is left
    behind. Raises `ValueError` for a recipient without a valid domain (before any write).
    """
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    rows = [(address, recipient_domain(address)) for address in recipients]
    hostname = settings.MAILGATE_HOSTNAME
    queue_id = queue_id_new()
    # From here on every log line (the smtpd's thread, a DSN made by the worker) is about
    # this message.
    with queue_id_context(queue_id):
        block = header_block(raw)
        fields = dict(reversed(header_fields(block)))  # the first occurrence wins
        own_ids = own_received_ids(block, hostname)
        if parent is None and not relation:
            parent = _loopback_parent(client_ip, own_ids)
            relation = Relation.LOOPBACK if parent is not None else ""
        received = received_build(
            hostname=hostname,
            queue_id=queue_id,
            client_ip=client_ip,
            client_helo=client_helo,
            tls=client_tls,
            recipients=list(recipients),
        )
        # Two chunks, never `received + raw`: a large message is not copied again.
        spool_name = spool_write(queue_id, (received, raw))

        # Built here, not in `_rows_store`: a group commit's leader runs that while it
        # holds the database's write lock.
        message = Message(
            queue_id=queue_id,
            client_ip=client_ip,
            client_helo=client_helo[:255],
            client_tls=client_tls,
            envelope_sender=envelope_sender,
            spool_name=spool_name,
            size=len(received) + len(raw),
            subject=_display("subject", fields.get("subject", b"")),
            header_from=_display("from", fields.get("from", b"")),
            message_id_header=_display("message-id", fields.get("message-id", b"")),
            hop_count=len(own_ids) + 1,  # ours included: the count in the spool file
            is_dsn=envelope_sender == "" or _is_delivery_report(fields),
            tags=list(dict.fromkeys(tags)),
            parent=parent,
            relation=relation,
        )

        try:
            _rows_store(message, rows)
        except BaseException as exc:
            spool_delete(spool_name)
            if isinstance(exc, DatabaseError):
                raise SpoolError(f"cannot store message rows: {exc}") from exc
            raise
        log.info(
            "%s: accepted from %s, %d recipient(s), %d bytes%s",
            queue_id,
            client_ip or "mailgate",
            len(rows),
            message.size,
            f" ({relation} of {parent.queue_id})" if parent is not None else "",
        )
    return message
