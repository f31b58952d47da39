"""Mailgate: settings, urls, the Celery app and the dashboard (wiring only)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
