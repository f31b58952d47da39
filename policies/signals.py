"""Bump ``PolicyVersion`` on every change the compiled ruleset depends on.

Policies, their conditions and actions, and the routes and profiles whose names the actions
carry. The bump runs in the same transaction as the change, so other processes see the new
version exactly when they can see the new rows.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

from .models import ContentPolicy, PolicyAction, PolicyCondition, PolicyVersion

WATCHED = (ContentPolicy, PolicyCondition, PolicyAction, DeliveryRoute, DeliveryProfile)


def _bump(sender: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata: the fixture brings its own rows
        return
    PolicyVersion.bump()


def connect() -> None:
    for model in WATCHED:
        uid = f"policies.bump.{model._meta.label_lower}"
        post_save.connect(_bump, sender=model, dispatch_uid=f"{uid}.save")
        post_delete.connect(_bump, sender=model, dispatch_uid=f"{uid}.delete")
