"""`manage.py config_export [-o FILE]`: the whole configuration as YAML (stdout by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from mailgate.config_io import config_export


class Command(BaseCommand):
    help = (
        "Write the configuration (sending policies, routes, delivery profiles, external "
        "domains, delivery policies in order) as YAML."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("-o", "--output", default="", help="write to this file, not stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        text = config_export()
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Configuration written to {options['output']}.")
        else:
            self.stdout.write(text, ending="")
