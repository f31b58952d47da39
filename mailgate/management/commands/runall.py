"""Run every Mailgate process in the foreground: web, smtpd, worker, beat (and the broker).

Ctrl-C (SIGINT) or SIGTERM stops all of them. When one process exits, the others are
stopped too, so a broken start is loud rather than half-running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand

from mailgate.broker import start_embedded_redis


class Command(BaseCommand):
    help = "Run web, smtpd, Celery worker and beat (and an embedded Redis when needed)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--web", default="127.0.0.1:8000", help="address:port for the web UI")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args: Any, **options: Any) -> None:
        env = os.environ.copy()
        broker = None
        if not os.environ.get("CELERY_BROKER_URL"):
            broker, url = start_embedded_redis(settings.VAR_DIR / "broker")
            env["CELERY_BROKER_URL"] = url
            self.stdout.write(f"Embedded Redis broker: {url}")
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        procs: dict[str, list[str]] = {
            "web": [python, manage, "runserver", "--noreload", options["web"]],
            "worker": [
                python, "-m", "celery", "-A", "mailgate", "worker", "-l", "INFO",
                "-c", str(options["concurrency"]), "-n", "worker@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "mailgate", "beat", "-l", "INFO",
                "-s", str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        if "runsmtpd" in get_commands():
            procs["smtpd"] = [python, manage, "runsmtpd"]
        running = {
            name: subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR)
            for name, cmd in procs.items()
        }
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            f"Mailgate is running: web http://{options['web']}/ , SMTP "
            f"{settings.MAILGATE_SMTP_HOST}:{settings.MAILGATE_SMTP_PORT}. Ctrl-C stops it."
        )
        try:
            while not stopping:
                for name, proc in running.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in running.values():
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + 15
            for proc in running.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
            if broker is not None:
                broker.shutdown()
            self.stdout.write("Mailgate stopped.")
