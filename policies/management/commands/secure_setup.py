"""``manage.py secure_setup``: build the reference Setup A or B in one step (idempotent).

    manage.py secure_setup --mode A --local-domain yourdomain.com --partner example.org \\
        [--partner ...] [--notification-sender secureMailer@yourdomain.com] \\
        [--profile "My delivery profile"] [--verification none|code|password] [--dry-run]

Prints one line per object (created, changed or unchanged), then the loop check of the
result. Run it again after adding partners: what is already right is left alone.
Exit code 2 for options it cannot use.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policies.setup import DEFAULT_PROFILE, SetupError, SetupOptions, secure_setup
from securemailbox.models import Verification


class Command(BaseCommand):
    help = "Build the reference secure-mail setup A (partner domains) or B (all mail)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--mode", choices=["A", "B"], required=True, type=str.upper)
        parser.add_argument("--local-domain", required=True, help="your own mail domain")
        parser.add_argument(
            "--partner", action="append", default=[], metavar="DOMAIN", help="Setup A partner"
        )
        parser.add_argument("--notification-sender", default="", metavar="ADDRESS")
        parser.add_argument("--profile", default=DEFAULT_PROFILE, help="delivery profile name")
        parser.add_argument("--verification", choices=Verification.values, default="")
        parser.add_argument("--dry-run", action="store_true", help="show, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        setup = SetupOptions(
            mode=options["mode"],
            local_domain=options["local_domain"],
            partners=tuple(options["partner"]),
            notification_sender=options["notification_sender"],
            profile=options["profile"],
            verification=options["verification"],
        )
        try:
            result = secure_setup(options=setup, dry_run=options["dry_run"])
        except SetupError as error:
            raise CommandError(str(error), returncode=2) from None
        for change in result.changes:
            self.stdout.write(change.to_text(dry_run=result.dry_run))
        if result.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        elif not result.changed:
            self.stdout.write("Nothing to change.")
        if result.findings:
            self.stdout.write(self.style.WARNING(f"Loop check: {len(result.findings)} finding(s)"))
            for finding in result.findings:
                self.stdout.write(finding.to_text())
        else:
            self.stdout.write(self.style.SUCCESS("Loop check: no way for mail to loop was found."))
