"""``manage.py loop_check [--json] [--paths]``: how the configuration could make mail loop.

Exit code 0 when nothing was found, 1 when there are findings.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from policies.loopcheck.collect import loop_check_run


class Command(BaseCommand):
    help = "Report each way the policies, routes and domains could make mail loop or be lost."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--paths", action="store_true", help="also print simulated paths")

    def handle(self, *args: Any, **options: Any) -> None:
        report = loop_check_run()
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2))
        else:
            for finding in report.findings:
                self.stdout.write(finding.to_text())
            if options["paths"]:
                for path in report.paths:
                    self.stdout.write(f"{path.scenario}: {path.outcome}")
                    for step in path.steps:
                        self.stdout.write(f"  - {step}")
            count = len(report.findings)
            summary = f"{count} finding(s)" if count else "No way for mail to loop was found."
            self.stdout.write(summary)
        if report.findings:
            sys.exit(1)
