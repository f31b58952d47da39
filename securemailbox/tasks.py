"""Celery tasks of the Secure Mailbox (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from .services import securemessage_expire as _expire


@shared_task(name="securemailbox.tasks.securemessage_expire", acks_late=True, ignore_result=True)
def securemessage_expire() -> dict[str, int]:
    """Beat (settings.CELERY_BEAT_SCHEDULE): expire due items, purge, prune counters."""
    return _expire()
