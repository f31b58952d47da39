"""`manage.py healthcheck [--only db,broker] [--http URL]`: exit 0 when healthy, 1 when not.

For container health checks: prints the JSON report of `/healthz` (one line). With
`--http`, also asks a running web server for its `/healthz` (so the check covers gunicorn),
sending an allowed Host header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mailgate import health


def _host_header() -> str | None:
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return host
    return None


def http_check(url: str, timeout: float) -> tuple[bool, str]:
    request = urllib.request.Request(url)  # noqa: S310 (an operator-given http(s) URL)
    host = _host_header()
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


class Command(BaseCommand):
    help = "Check the database, broker, spool and smtpd; exit 1 when one fails."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--only", default="", help=f"comma-separated: {','.join(health.CHECKS)}"
        )
        parser.add_argument("--http", default="", help="also GET this /healthz URL (expect 200)")
        parser.add_argument("--timeout", type=float, default=5.0, help="for --http (seconds)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ok, report = health.health_report(options["only"] or None)
        except health.UnknownCheck as exc:
            raise CommandError(str(exc)) from exc
        if options["http"]:
            http_ok, detail = http_check(options["http"], options["timeout"])
            report["http"] = {"ok": http_ok, "detail": detail}
            ok = ok and http_ok
            if not http_ok:
                report["status"] = "fail"
                report.setdefault("failing", []).append("http")  # type: ignore[attr-defined]
        self.stdout.write(json.dumps(report))
        if not ok:
            raise SystemExit(1)
