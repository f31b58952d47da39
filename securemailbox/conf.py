"""Secure Mailbox settings that ``mailgate/settings.py`` does not list (yet): read from the
settings when present, else from the environment, else the default."""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS = {
    # Days an expired item stays restorable (extend) before its stored message is purged.
    "MAILGATE_SECURE_PURGE_GRACE_DAYS": 7,
    # Rendered messages kept in process memory (0: off), and for how many seconds.
    "MAILGATE_SECURE_RENDER_CACHE": 32,
    "MAILGATE_SECURE_RENDER_TTL": 60,
}


def setting(name: str) -> int:
    if hasattr(settings, name):
        return int(getattr(settings, name))
    return int(os.environ.get(name, DEFAULTS[name]))
