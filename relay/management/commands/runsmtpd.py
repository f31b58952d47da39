"""``manage.py runsmtpd``: the inbound SMTP listener (stops cleanly on SIGTERM / SIGINT)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relay.smtpd import SmtpdConfig, smtpd_run


class Command(BaseCommand):
    help = "Run Mailgate's inbound SMTP listener (MAILGATE_SMTP_HOST:MAILGATE_SMTP_PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", help="listen address (default: MAILGATE_SMTP_HOST)")
        parser.add_argument("--port", type=int, help="port (default: MAILGATE_SMTP_PORT)")

    def handle(self, *args: Any, **options: Any) -> None:
        overrides = {k: options[k] for k in ("host", "port") if options.get(k) is not None}
        config = SmtpdConfig.from_settings(**overrides)
        self.stdout.write(f"smtpd: {config.hostname} on {config.host}:{config.port}")
        smtpd_run(config)
