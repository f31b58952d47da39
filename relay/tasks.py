"""Celery tasks: the doorbell. Each takes an id, calls one service and returns.

Every task is idempotent (the services claim rows before they act), so `acks_late` and a
broker that hands a task out twice are safe. Retries are never Celery countdowns: the
database holds `next_attempt_at` and the beat sweep rings again when it is due.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown

from relay.services import processing, queue, sending


@shared_task(acks_late=True, ignore_result=True)
def message_process(message_id: int) -> str:
    return processing.message_process(message_id)


@shared_task(acks_late=True, ignore_result=True)
def message_deliver(message_id: int) -> int:
    return sending.message_deliver(message_id)


@shared_task(acks_late=True, ignore_result=True)
def queue_sweep() -> tuple[int, int]:
    """Ring again for whatever the database says is due or was abandoned by a worker."""
    to_process, to_deliver = queue.sweep_targets()
    for message_id in to_process:
        message_process.delay(message_id)
    for message_id in to_deliver:
        message_deliver.delay(message_id)
    return len(to_process), len(to_deliver)


@shared_task(acks_late=True, ignore_result=True)
def records_prune() -> int:
    return queue.records_prune()


@worker_process_shutdown.connect
def _connection_cache_close(**_: Any) -> None:
    """Say QUIT to the partners this pool process still has sessions with."""
    sending.connection_cache_close()
