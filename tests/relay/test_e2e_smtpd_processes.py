"""Several smtpd processes on one listening socket (MAILGATE_SMTPD_PROCESSES, relay/smtpd.py):
each serves connections, one that dies is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from relay.models import Message, MessageState
from relay.selectors import default_route
from tests.support.smtp_sinks import free_port
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAILGATE_STACK_ENV = {"MAILGATE_SMTPD_PROCESSES": "2"}
ROOT = Path(__file__).resolve().parents[2]
SENDER = "alice@sender.test"


@pytest.fixture
def dns_server(e2e_dns):
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return sorted(int(x) for x in path.read_text().split()) if path.exists() else []


def submit_many(stack, count: int, threads: int = 8) -> list[str]:
    """Submit `count` messages over `threads` parallel connections; the queue ids."""
    ids: list[str] = []
    lock = threading.Lock()

    def send(start: int) -> None:
        for n in range(start, count, threads):
            msg = make_message(f"Parallel {n}", sender=SENDER, to="bob@tls.example")
            queue_id = stack.submit(msg, SENDER, ["bob@tls.example"])
            with lock:
                ids.append(queue_id)

    workers = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return ids


def test_two_processes_serve_and_every_message_is_delivered_once(
    mailgate_stack, dns_server, tls_partner
):
    dns_server.add_mx("tls.example", 10, "mx.tls.example")
    dns_server.add_a("mx.tls.example", "127.0.0.2")
    assert default_route().use_dns_first
    smtpd = mailgate_stack.procs["smtpd"]
    assert len(children(smtpd.pid)) == 2
    log = mailgate_stack._log("smtpd")
    assert "smtpd process 1 of 2 serving" in log and "smtpd process 2 of 2 serving" in log

    ids = submit_many(mailgate_stack, 40)
    assert len(set(ids)) == 40
    tls_partner.wait_for(40, timeout=120)
    mailgate_stack.wait_for(
        lambda: Message.objects.filter(state=MessageState.DONE).count() == 40,
        timeout=60,
        what="every message done",
    )
    subjects = Counter(
        line.split(b":", 1)[1].strip()
        for m in tls_partner.messages
        for line in m.content.split(b"\r\n")
        if line.startswith(b"Subject:")
    )
    assert len(subjects) == 40 and set(subjects.values()) == {1}


def test_a_process_that_dies_is_replaced_and_mail_still_goes_in(
    mailgate_stack, dns_server, tls_partner
):
    dns_server.add_mx("tls.example", 10, "mx.tls.example")
    dns_server.add_a("mx.tls.example", "127.0.0.2")
    smtpd = mailgate_stack.procs["smtpd"]
    before = children(smtpd.pid)
    victim = before[0]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    mailgate_stack.wait_for(
        lambda: len(children(smtpd.pid)) == 2 and victim not in children(smtpd.pid),
        timeout=20,
        what="a new smtpd process",
    )
    assert "starting another" in mailgate_stack._log("smtpd")
    ids = submit_many(mailgate_stack, 12, threads=4)
    assert len(set(ids)) == 12
    assert Message.objects.filter(queue_id__in=ids).count() == 12  # stored before 250
    tls_partner.wait_for(12, timeout=60)


def test_sigterm_stops_every_process(mailgate_stack, tmp_path):
    port = free_port("127.0.0.1")
    env = {**mailgate_stack.env, "MAILGATE_SMTP_PORT": str(port)}
    log = tmp_path / "smtpd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runsmtpd"], env=env, cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # a loaded machine: Django's start-up takes seconds
        while log.read_text().count(" serving (pid ") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        served = children(proc.pid)
        assert len(served) == 2, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        for pid in served:  # gone, or at most a zombie waiting for init to reap it
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        assert "smtpd stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
