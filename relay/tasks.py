"""Celery tasks: the doorbell. Each takes an id (or a few), calls one service and returns.

Every task is idempotent (the services claim rows before they act), so `acks_late` and a
broker that hands a task out twice are safe. Retries are never Celery countdowns: the
database holds `next_attempt_at` and the beat sweep rings again when it is due.

The work for one message runs inside `queue_id_context`: every line logged meanwhile, by
whichever module, carries that message's queue id (mailgate/logging.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown

from mailgate.logging import queue_id_context
from relay.services import processing, queue, sending

# The sweep rings in batches: when the workers are behind, most of what it finds still has
# its first doorbell waiting in the broker, and a batch checks those in one query instead
# of one task each (a flood of duplicate tasks slowed the real ones down).
SWEEP_CHUNK = 50

log = logging.getLogger(__name__)


@contextmanager
def _about(message_id: int, queue_id: str = "") -> Iterator[None]:
    """Tag what is logged inside with the message's queue id: the doorbells send it along,
    and only a task without it (the sweep's, one queued by an older version) looks it up."""
    with queue_id_context(queue_id or queue.message_queue_id(message_id)):
        yield


@shared_task(acks_late=True, ignore_result=True)
def message_process(message_id: int, queue_id: str = "") -> str:
    with _about(message_id, queue_id):
        return processing.message_process(message_id, deliver_now=True)


@shared_task(acks_late=True, ignore_result=True)
def message_deliver(message_id: int, queue_id: str = "") -> int:
    with _about(message_id, queue_id):
        return sending.message_deliver(message_id)


@shared_task(acks_late=True, ignore_result=True)
def messages_process(message_ids: list[int], queue_ids: list[str] | None = None) -> int:
    """The policy stage (and delivery) of those of `message_ids` still waiting for it
    (`queue_ids`, when the sender knows them: the smtpd's doorbell, not the sweep)."""
    known = dict(zip(message_ids, queue_ids or (), strict=False))
    waiting = queue.messages_claimable(message_ids)
    for message_id in waiting:
        with _about(message_id, known.get(message_id, "")):
            try:
                processing.message_process(message_id, deliver_now=True)
            except Exception:  # the others are not kept waiting for the sweep
                log.exception("policy stage failed; the sweep will try again")
    return len(waiting)


@shared_task(acks_late=True, ignore_result=True)
def messages_deliver(message_ids: list[int]) -> int:
    """Delivery of those of `message_ids` that still have recipients due."""
    due = queue.messages_with_due_recipients(message_ids)
    for message_id in due:
        with _about(message_id):
            sending.message_deliver(message_id)
    return len(due)


@shared_task(acks_late=True, ignore_result=True)
def queue_sweep() -> tuple[int, int]:
    """Ring again for whatever the database says is due or was abandoned by a worker."""
    to_process, to_deliver = queue.sweep_targets()
    for start in range(0, len(to_process), SWEEP_CHUNK):
        messages_process.delay(to_process[start : start + SWEEP_CHUNK])
    for start in range(0, len(to_deliver), SWEEP_CHUNK):
        messages_deliver.delay(to_deliver[start : start + SWEEP_CHUNK])
    return len(to_process), len(to_deliver)


@shared_task(acks_late=True, ignore_result=True)
def records_prune() -> int:
    return queue.records_prune()


@worker_process_shutdown.connect
def _connection_cache_close(**_: Any) -> None:
    """Say QUIT to the partners this pool process still has sessions with."""
    sending.connection_cache_close()
