"""The two relay seams the Secure Mailbox uses (docs/INTERFACES.md), in one place.

Callers use ``pipeline.mail_submit(...)`` and ``pipeline.raw_read(...)`` through the module,
so a test can stand in for the relay before the relay exists (and nowhere else).
"""

from __future__ import annotations

from typing import Any

from relay.models import Message


def mail_submit(**kwargs: Any) -> Message:
    """relay.services.accept.message_accept: Mailgate's own mail enters like any other."""
    from relay.services.accept import message_accept

    return message_accept(**kwargs)


def raw_read(spool_name: str) -> bytes:
    from relay.spool import spool_read

    return spool_read(spool_name)
