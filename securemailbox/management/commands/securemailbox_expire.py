"""``manage.py securemailbox_expire``: what beat runs every ten minutes, now, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from securemailbox.services import securemessage_expire


class Command(BaseCommand):
    help = "Expire due Secure Mailbox items, purge unreadable stored messages, prune records."

    def handle(self, *args: Any, **options: Any) -> None:
        result = securemessage_expire()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in result.items()))
