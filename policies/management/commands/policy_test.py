"""``manage.py policy_test``: run a message through the delivery policies and print the trace.

    manage.py policy_test message.eml --client-ip 127.0.0.1 --sender a@example.com \\
        --rcpt b@partner.example [--tag T] [--json] [--policy ID ... | --draft FILE]

The message comes from a file, or from standard input with ``-`` (or no file). Bad input
(no message, a bad IP address, a malformed draft) is an error with exit code 2. A message
whose headers cannot all be read is evaluated as the worker would (what cannot be read
counts as absent); the report lists those parse notes.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policies import services
from policies.engine import PolicySyntaxError, TraceEntry, Verdict
from policies.loader import PolicyLoadError

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Run a message through the outbound delivery policies and print the trace."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", nargs="?", help="the message (.eml); '-' or none: stdin")
        parser.add_argument("--file", dest="file_option", metavar="FILE", help="same as FILE")
        parser.add_argument(
            "--client-ip",
            required=True,
            help="the SMTP client's IP address ('' for a message Mailgate made itself)",
        )
        parser.add_argument(
            "--sender", required=True, help="the envelope sender ('' or '<>' for the null sender)"
        )
        parser.add_argument(
            "--rcpt", action="append", required=True, metavar="ADDRESS", help="a recipient"
        )
        parser.add_argument("--tag", action="append", default=[], help="a message tag")
        parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
        chosen = parser.add_mutually_exclusive_group()
        chosen.add_argument(
            "--policy",
            type=int,
            nargs="+",
            action="extend",
            metavar="ID",
            help="run these stored policies (even if disabled) instead of the enabled ones",
        )
        chosen.add_argument("--draft", metavar="FILE", help="run draft policies from JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = self._read_message(options["file_option"] or options["file"])
        policies = _load_draft(options["draft"]) if options["draft"] else options["policy"]
        try:
            verdict = services.policy_test_run(
                raw,
                client_ip=options["client_ip"],
                envelope_sender=options["sender"],
                recipients=options["rcpt"],
                tags=options["tag"],
                policies=policies,
            )
        except (services.PolicyTestError, PolicySyntaxError, PolicyLoadError) as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from None
        if options["json"]:
            self.stdout.write(json.dumps(verdict.to_dict(), indent=2))
        else:
            self.stdout.write("\n".join(report_lines(verdict)))

    def _read_message(self, name: str | None) -> bytes:
        if name in (None, "-"):
            stdin = getattr(self, "stdin", None) or sys.stdin
            data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
            return data.encode() if isinstance(data, str) else data
        try:
            return Path(name).read_bytes()  # type: ignore[arg-type]
        except OSError as error:
            raise CommandError(f"cannot read {name}: {error.strerror}", returncode=2) from None


def _load_draft(name: str) -> list[Any]:
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read {name}: {error.strerror}", returncode=2) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise CommandError(f"{name} is not JSON: {error}", returncode=USAGE_ERROR) from None
    if isinstance(data, dict):
        data = data.get("policies", [data])
    if not isinstance(data, list):
        raise CommandError(f"{name}: expected a list of policies", returncode=USAGE_ERROR)
    for index, spec in enumerate(data, start=1):
        if isinstance(spec, dict):
            spec.setdefault("id", index)
    return data


def report_lines(verdict: Verdict) -> list[str]:
    """The parse notes, the trace (one block per policy), then the verdict (the text output)."""
    lines = []
    if verdict.parse_notes:
        lines.append("Message: what could not be read counts as absent")
        lines.extend(f"  - {note}" for note in verdict.parse_notes)
        lines.append("")
    lines.append("Policies:")
    for number, entry in enumerate(verdict.trace, start=1):
        lines.append(f"  {number}. {entry.name} (id {entry.policy_id})")
        lines.extend(f"       {line}" for line in _entry_lines(entry))
    if not verdict.trace:
        lines.append("  (no policies)")
    lines.append("")
    lines.append(f"Verdict: {verdict_summary(verdict)}")
    actions = "; ".join(a.describe() for a in verdict.actions) or "none"
    lines.append(f"  Actions: {actions}")
    headers = ", ".join(f"{n}: {v}" for n, v in verdict.headers_added) or "none"
    lines.append(f"  Headers added: {headers}")
    lines.append(f"  Tags added: {', '.join(verdict.tags) or 'none'}")
    return lines


def _entry_lines(entry: TraceEntry) -> list[str]:
    if not entry.reached:
        return ["not reached (an earlier policy stopped processing)"]
    if entry.skipped_disabled:
        return ["disabled: skipped"]
    if not entry.if_matched:
        return ["IF: no match", "did not fire"]
    lines = [f"IF: matched ({entry.if_reason})"]
    if entry.except_vetoed_by:
        return [*lines, f"EXCEPT IF: vetoed by ({entry.except_vetoed_by})", "did not fire"]
    lines.append("EXCEPT IF: no exception held")
    lines.append(f"fired, processing {'stopped' if entry.stopped_here else 'continues'}")
    return lines


def verdict_summary(verdict: Verdict) -> str:
    if verdict.final == "redirect":
        return f"redirect to Secure Mailbox using '{verdict.profile}'"
    if verdict.final in ("hold", "reject"):
        return f"{verdict.final} ('{verdict.reason}')"
    if verdict.route:
        return f"deliver by delivery route '{verdict.route}'"
    return "deliver by each recipient domain's own route"
