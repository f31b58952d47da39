"""Bump ``ConfigVersion`` on every change the delivery stage's cached configuration holds.

Routes, sending connection policies and external domains/hosts (relay/selectors.py). The
bump runs in the transaction of the change. Writes that send no signals (``update()``,
``bulk_create``) must call ``ConfigVersion.bump()`` themselves.
"""

from __future__ import annotations

from mailgate.versions import bump_on_change
from relay.models import ConfigVersion, DeliveryRoute, ExternalDomain, SendingConnectionPolicy

WATCHED = (DeliveryRoute, ExternalDomain, SendingConnectionPolicy)


def connect() -> None:
    bump_on_change(WATCHED, ConfigVersion.bump, "relay")
