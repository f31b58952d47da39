"""Bump ``ConfigVersion`` on every change the delivery stage's cached configuration holds.

Routes, sending connection policies and external domains/hosts (relay/selectors.py). The
bump runs in the transaction of the change. Writes that send no signals (``update()``,
``bulk_create``) must call ``ConfigVersion.bump()`` themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from relay.models import ConfigVersion, DeliveryRoute, ExternalDomain, SendingConnectionPolicy

WATCHED = (DeliveryRoute, ExternalDomain, SendingConnectionPolicy)


def _bump(sender: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata: the fixture brings its own rows
        return
    ConfigVersion.bump()


def connect() -> None:
    for model in WATCHED:
        uid = f"relay.bump.{model._meta.label_lower}"
        post_save.connect(_bump, sender=model, dispatch_uid=f"{uid}.save")
        post_delete.connect(_bump, sender=model, dispatch_uid=f"{uid}.delete")
