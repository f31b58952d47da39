"""Secure Mailbox portal latency: prints figures, asserts nothing.

    .venv/bin/python bench/bench_portal.py [--clients 50] [--seconds 15] [--server gunicorn]
                                           [--workers N] [--threads 1] [--no-cache]
                                           [--worker-class gthread|sync|both]

A fresh SQLite database and encrypted store in a temporary directory hold one Secure
Mailbox item whose message is about 100 KB (text, HTML and an attachment), redirected with
the real services. The portal is served by gunicorn (gthread workers, or sync ones: a
connection per request) or `manage.py runserver`, and N concurrent clients (asyncio,
HTTP/1.1 keep-alive, each waiting for its answer before the next request: a closed loop)
fetch what a reader's browser fetches, the message page and then its sandboxed body
document, again and again. Printed: requests per second, and median / p90 / p99 / max
latency for the page, the body and both.

With a closed loop, latency ≈ clients ÷ throughput (Little's law), so on a small machine
the p99 mostly says how many requests per second the server manages. Target: p99 < 100 ms
with 50 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environment(base: Path, cache: bool) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailgate.settings",
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "MAILGATE_VAR_DIR": str(base),
        "MAILGATE_SPOOL_DIR": str(base / "spool"),
        "MAILGATE_SECURE_STORE_DIR": str(base / "secure"),
        "MAILGATE_BASE_URL": "http://127.0.0.1",
        "MAILGATE_LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MAILGATE_SECURE_RENDER_CACHE": "32" if cache else "0",
    }


def message_100k() -> bytes:
    from email import policy
    from email.message import EmailMessage

    paragraph = "The quarterly figures are attached; please review them before Friday. " * 8
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@sender.test>"
    msg["To"] = "bob@partner.test"
    msg["Subject"] = "Quarterly figures (100 KB)"
    msg["Message-ID"] = "<bench@sender.test>"
    msg.set_content("\n\n".join([paragraph] * 50))
    html = "".join(
        f'<p style="color:#333;font-size:14px">{paragraph}</p><table><tr><td>{i}</td>'
        f"<td><b>{i * 42}</b></td></tr></table>"
        for i in range(45)
    )
    msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    msg.add_attachment(os.urandom(30_000), maintype="application", subtype="pdf",
                       filename="figures.pdf")  # fmt: skip
    return msg.as_bytes(policy=policy.SMTP)


def prepare(base: Path, env: dict[str, str]) -> tuple[str, int]:
    """Migrate, make a profile and one redirected 100 KB message; return its token."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from relay.services.accept import message_accept
    from relay.spool import spool_read
    from securemailbox.models import DeliveryProfile
    from securemailbox.services import securemessage_redirect

    call_command("migrate", verbosity=0)
    DeliveryProfile.objects.create(name="Bench", notification_sender="secureMailer@sender.test")
    raw = message_100k()
    message = message_accept(
        raw=raw, envelope_sender="alice@sender.test", recipients=["bob@partner.test"],
        client_ip="127.0.0.1",
    )  # fmt: skip
    (item,) = securemessage_redirect(
        message=message, recipients=list(message.recipients.all()), profile_name="Bench"
    )
    item.refresh_from_db()
    note = spool_read(item.notification.spool_name).decode()
    token = note.split("/m/", 1)[1].split("/", 1)[0]
    return token, len(raw)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    kind: str, port: int, env: dict[str, str], workers: int, threads: int, worker_class: str
):
    if kind == "gunicorn":
        argv = [
            str(Path(sys.executable).parent / "gunicorn"), "mailgate.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", worker_class, "--threads", str(threads),
            "--keep-alive", "30", "--log-level", "warning",
        ]  # fmt: skip
    else:
        argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


async def fetch(state: dict, path: str) -> int:
    """One GET on the client's keep-alive connection (reconnecting when it was closed)."""
    for _ in range(2):
        if state.get("writer") is None:
            state["reader"], state["writer"] = await asyncio.open_connection(
                "127.0.0.1", state["port"]
            )
        reader, writer = state["reader"], state["writer"]
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                if name.strip().lower() == b"connection" and b"close" in value.lower():
                    close = True
            await reader.readexactly(length)
            if close:
                writer.close()
                state["writer"] = None
            return status
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            state["writer"] = None
    raise ConnectionError(path)


async def client(port: int, token: str, until: float, results: dict[str, list[float]]) -> None:
    state: dict = {"port": port}
    paths = {"page": f"/m/{token}/", "body": f"/m/{token}/body/"}
    while time.monotonic() < until:
        for name, path in paths.items():
            started = time.perf_counter()
            status = await fetch(state, path)
            results[name].append(time.perf_counter() - started)
            if status != 200:
                results["errors"].append(status)
    if state.get("writer") is not None:
        state["writer"].close()


async def load(port: int, token: str, clients: int, seconds: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"page": [], "body": [], "errors": []}
    warm = time.monotonic() + 2  # warm-up: templates, connections, caches
    await asyncio.gather(*(client(port, token, warm, {"page": [], "body": [], "errors": []})
                           for _ in range(clients)))  # fmt: skip
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(port, token, until, results) for _ in range(clients)))
    return results


def figures(name: str, values: list[float], seconds: float) -> str:
    if not values:
        return f"{name:6} no requests"
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"{name:6} {len(values):6d} req {len(values) / seconds:7.1f} req/s   "
        f"median {statistics.median(ordered) * 1000:6.1f} ms   p90 {pct(0.90):6.1f} ms   "
        f"p99 {pct(0.99):6.1f} ms   max {ordered[-1] * 1000:6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    # The defaults of deploy/gunicorn.conf.py: min(4, 2 x CPUs + 1) workers of one thread
    # (sync workers). Threads only take turns on their process's GIL: on 2 cores, 3x1
    # gthread served ~20 % more than 3x4 (5 runs each).
    parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 1) * 2 + 1))
    parser.add_argument("--threads", type=int, default=1)
    # both (the default): gthread keeps each client's connection in the worker that accepted
    # it; sync (the deployed default) answers one request per connection, taken from the
    # listen queue in arrival order by whichever worker is free (behind a buffering proxy).
    parser.add_argument("--worker-class", choices=["gthread", "sync", "both"], default="both")
    parser.add_argument("--no-cache", action="store_true", help="render on every request")
    args = parser.parse_args()

    classes = ["gthread", "sync"] if args.worker_class == "both" else [args.worker_class]
    base = Path(tempfile.mkdtemp(prefix="mg-bench-portal-"))
    env = environment(base, cache=not args.no_cache)
    try:
        token, size = prepare(base, env)
        for worker_class in classes:
            measure(args, env, token, size, worker_class)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def measure(args: argparse.Namespace, env: dict[str, str], token: str, size: int,
            worker_class: str) -> None:  # fmt: skip
    port = free_port()
    server = start_server(args.server, port, env, args.workers, args.threads, worker_class)
    try:
        results = asyncio.run(load(port, token, args.clients, args.seconds))
        print(
            f"portal, {size / 1024:.0f} KB message, {args.clients} clients, {args.seconds:.0f} s, "
            f"{args.server} {worker_class} ({args.workers} workers x {args.threads} threads)"
            if args.server == "gunicorn" else f"portal, {size / 1024:.0f} KB, runserver",
        )  # fmt: skip
        print(f"cpus {os.cpu_count()}, render cache {'off' if args.no_cache else 'on'}")
        for name in ("page", "body"):
            print(figures(name, results[name], args.seconds))
        print(figures("both", results["page"] + results["body"], args.seconds))
        if results["errors"]:
            print(f"non-200 answers: {len(results['errors'])} ({sorted(set(results['errors']))})")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
