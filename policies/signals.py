"""Bump ``PolicyVersion`` on every change the compiled ruleset depends on.

Policies, their conditions and actions, and the routes and profiles whose names the actions
carry. The bump runs in the same transaction as the change, so other processes see the new
version exactly when they can see the new rows.
"""

from __future__ import annotations

from mailgate.versions import bump_on_change
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

from .models import ContentPolicy, PolicyAction, PolicyCondition, PolicyVersion

WATCHED = (ContentPolicy, PolicyCondition, PolicyAction, DeliveryRoute, DeliveryProfile)


def connect() -> None:
    bump_on_change(WATCHED, PolicyVersion.bump, "policies")
