"""Health checks for `/healthz` and `manage.py healthcheck`: database, broker, spool, smtpd.

Each check is cheap and bounded by a short timeout, and reports what failed without
secrets (no URLs with passwords). Checks never raise: a failure is a result.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection

TIMEOUT = 2.0  # seconds, for the broker and the smtpd connect
# Bind-all addresses are not connectable everywhere: check the loopback instead.
_ANY = {"", "0.0.0.0", "::", "[::]", "*"}  # noqa: S104 (compared, never bound)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    ms: int


def check_db() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_broker() -> str:
    """Open a connection to the Celery broker the app is configured with (one try)."""
    from mailgate.celery import app

    with app.connection_for_write(connect_timeout=TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT)
    return "connected"


def check_spool() -> str:
    spool = settings.MAILGATE_SPOOL_DIR
    spool.mkdir(parents=True, exist_ok=True)
    # A real write (not os.access): read-only mounts and full disks show up here.
    fd, name = tempfile.mkstemp(prefix=".healthz-", dir=spool)
    try:
        os.write(fd, b"ok")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)
    return "writable"


def smtpd_address() -> tuple[str, int]:
    """Where the smtpd answers: MAILGATE_HEALTH_SMTP_HOST (e.g. the compose service name),
    else the listener's own address, the loopback when it listens on every address."""
    host = getattr(settings, "MAILGATE_HEALTH_SMTP_HOST", "") or os.environ.get(
        "MAILGATE_HEALTH_SMTP_HOST", ""
    )
    if not host:
        host = settings.MAILGATE_SMTP_HOST
        if host in _ANY:
            host = "127.0.0.1"
    return host.strip("[]"), int(settings.MAILGATE_SMTP_PORT)


def check_smtpd() -> str:
    host, port = smtpd_address()
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        greeting = sock.recv(512)
    if not greeting.startswith(b"220"):
        raise ConnectionError(f"unexpected greeting from {host}:{port}")
    return f"{host}:{port} answers 220"


CHECKS: dict[str, Callable[[], str]] = {
    "db": check_db,
    "broker": check_broker,
    "spool": check_spool,
    "smtpd": check_smtpd,
}


class UnknownCheck(ValueError):
    pass


def parse_only(only: str | Iterable[str] | None) -> list[str]:
    """`"db,broker"` or `["db", "broker"]` → the names, checked; None or "" → every check."""
    if only is None or only == "":
        return list(CHECKS)
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise UnknownCheck(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return names


def run_check(name: str) -> CheckResult:
    started = time.monotonic()
    try:
        detail = CHECKS[name]()
        ok = True
    except Exception as exc:  # a failing check is a result, never an error page
        ok = False
        detail = f"{type(exc).__name__}: {exc}"[:300]
    return CheckResult(name, ok, detail, int((time.monotonic() - started) * 1000))


def run_checks(only: str | Iterable[str] | None = None) -> tuple[bool, list[CheckResult]]:
    results = [run_check(name) for name in parse_only(only)]
    return all(r.ok for r in results), results


def health_report(only: str | Iterable[str] | None = None) -> tuple[bool, dict[str, object]]:
    ok, results = run_checks(only)
    return ok, {
        "status": "ok" if ok else "fail",
        "failing": [r.name for r in results if not r.ok],
        "checks": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
    }
