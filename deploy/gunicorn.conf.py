"""Gunicorn settings for the web service (read from the environment; see .env.example).

Access-log lines are key=value like the application's logs, and pURL tokens in paths and
referrers are cut out (mailgate.logging.redact_text): a recipient's link is a bearer token.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mailgate.logging import redact_text


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _int("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() * 2 + 1))
# Sync workers by default: each answers one request per connection, and the next request
# waits in the listen queue for whichever worker is free, in arrival order. gthread keeps a
# keep-alive connection in the worker that accepted it, and connections fall unevenly
# among workers: with 50 portal clients on 2 cores, p99 126 ms against 69 ms for sync
# (bench/bench_portal.py). Sync workers must not face slow clients themselves: the web port
# is published on 127.0.0.1 for the HTTPS reverse proxy in front, which buffers (nginx does
# by default). GUNICORN_THREADS above 1 selects gthread.
threads = _int("GUNICORN_THREADS", 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or ("sync" if threads == 1 else "gthread")
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 100
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (tmpfs)
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("MAILGATE_LOG_LEVEL", "INFO").lower()
access_log_format = (
    'logger=access remote=%(h)s method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s '
    'duration_ms=%(M)s referer="%(f)s" ua="%(a)s"'
)


class RedactingLogger(Logger):
    """Gunicorn's logger, with pURL tokens removed from the access-log atoms."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r", "f", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_text(atoms[key])
        return atoms


logger_class = RedactingLogger
