"""`manage.py config_import FILE [--dry-run] [--prune] [-v 2]`: validate and apply a YAML
configuration made by config_export (or by hand). All or nothing; idempotent."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from mailgate.config_io import ConfigError, changes_report, config_apply


class Command(BaseCommand):
    help = "Validate and apply a YAML configuration; --dry-run shows the differences only."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="the YAML file ('-' for stdin)")
        parser.add_argument("--dry-run", action="store_true", help="show, write nothing")
        parser.add_argument(
            "--prune", action="store_true", help="delete objects that the file does not list"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            changes = config_apply(text, dry_run=options["dry_run"], prune=options["prune"])
        except ConfigError as exc:
            problems = "\n  ".join(exc.errors)
            raise CommandError(f"the configuration was not applied:\n  {problems}") from None
        for line in changes_report(changes, verbose=options["verbosity"] > 1):
            self.stdout.write(line)
        changed = sum(1 for c in changes if c.action != "unchanged")
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {changed} change(s) would be made; nothing written.")
        else:
            self.stdout.write(f"Applied: {changed} change(s).")
