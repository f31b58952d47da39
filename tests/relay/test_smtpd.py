# ruff: noqa: F811 - pytest fixtures imported from tests.support.smtpd_server
"""The inbound smtpd against real clients: store before 250, limits, relay, STARTTLS."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay.models import Message, Recipient
from relay.spool import spool_open, spool_read
from tests.support.smtpd_server import (  # noqa: F401 - fixtures
    CLIENT_IP,
    RawClient,
    smtpd_factory,
    smtpd_server,
    smtpd_spool,
    smtpd_tls_dir,
    submit_raw,
)

pytestmark = pytest.mark.django_db(transaction=True)

BODY = b"From: a@sender.example\r\nTo: b@rcpt.example\r\nSubject: hello\r\n\r\nHi.\r\n"


def smtp_client(server) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, timeout=10, source_address=(CLIENT_IP, 0))


def test_accept__rows_and_spool_exist_when_250_arrives(smtpd_server):
    with smtp_client(smtpd_server) as client:
        client.ehlo("client.example")
        client.mail("a@sender.example")
        client.rcpt("b@rcpt.example")
        client.rcpt("c@Rcpt.Example")
        code, text = client.data(BODY)
        assert code == 250
        assert text.startswith(b"2.0.0 Ok: queued as ")
        queue_id = text.split()[-1].decode()
        message = Message.objects.get(queue_id=queue_id)  # before QUIT: committed already
    assert message.client_ip == CLIENT_IP
    assert message.client_helo == "client.example"
    assert message.envelope_sender == "a@sender.example"
    assert message.subject == "hello"
    assert message.hop_count == 1
    assert not message.client_tls and not message.is_dsn
    assert [(r.address, r.domain) for r in message.recipients.all()] == [
        ("b@rcpt.example", "rcpt.example"),
        ("c@Rcpt.Example", "rcpt.example"),
    ]
    stored = spool_read(message.spool_name)
    received, _, _rest = stored.partition(b"\r\nFrom: ")
    assert received.startswith(
        b"Received: from client.example ([127.0.0.10])\r\n\tby mailgate.test"
    )
    assert f"with ESMTP id {queue_id}".encode() in received
    assert b"for <" not in received  # two recipients: none is named
    assert stored.endswith(BODY)
    assert message.size == len(stored)


def test_storage_failure__451_and_nothing_written(smtpd_server, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    settings.MAILGATE_SPOOL_DIR = blocker
    with RawClient(smtpd_server.address) as client:
        code, text = submit_raw(client, BODY)
        assert (code, text) == (451, "4.3.0 Temporary storage failure, try again later")
        assert client.cmd("NOOP")[0] == 250
    assert Message.objects.count() == 0
    assert Recipient.objects.count() == 0
    assert blocker.read_bytes() == b""


def test_database_failure__451_and_spool_file_removed(smtpd_server, smtpd_spool, monkeypatch):
    from relay.services import accept

    real_insert = accept._insert

    def broken(message, recipients):
        from django.db import OperationalError

        real_insert(message, [])  # the message row is written, then the database fails
        raise OperationalError("database is locked")

    monkeypatch.setattr(accept, "_insert", broken)
    with RawClient(smtpd_server.address) as client:
        assert submit_raw(client, BODY)[0] == 451
    assert Message.objects.count() == 0
    assert [p for p in smtpd_spool.rglob("*") if p.is_file()] == []


def test_relay_denied_from_outside_the_relay_networks(settings, smtpd_factory):
    settings.MAILGATE_RELAY_NETWORKS = ["127.0.0.1/32", "::1/128"]
    settings.MAILGATE_LOCAL_DOMAINS = ["allowed.example"]
    server = smtpd_factory()
    with RawClient(server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd("MAIL FROM:<a@b.example>")[0] == 250
        assert client.cmd("RCPT TO:<victim@external.example>") == (
            554,
            "5.7.1 Relay access denied",
        )
        assert client.cmd("RCPT TO:<user@ALLOWED.example>")[0] == 550  # no local delivery
        assert client.cmd("DATA")[0] == 503
    with RawClient(server.address, source="127.0.0.1") as client:
        client.reply()
        client.cmd("EHLO x")
        client.cmd("MAIL FROM:<a@b.example>")
        assert client.cmd("RCPT TO:<victim@external.example>")[0] == 250
    assert Message.objects.count() == 0


def test_starttls__self_signed_certificate_and_esmtps(smtpd_server, smtpd_tls_dir):
    context = ssl.create_default_context(cafile=str(smtpd_tls_dir / "smtpd-cert.pem"))
    context.check_hostname = False  # CN is MAILGATE_HOSTNAME, checked below
    with smtp_client(smtpd_server) as client:
        client.ehlo("client.example")
        assert client.has_extn("starttls")
        assert client.has_extn("enhancedstatuscodes")
        assert not client.has_extn("auth")
        assert client.starttls(context=context)[0] == 220
        cert = client.sock.getpeercert()
        assert cert["subject"] == ((("commonName", "mailgate.test"),),)
        client.ehlo("client.example")
        assert not client.has_extn("starttls") and not client.has_extn("auth")
        client.mail("a@sender.example")
        client.rcpt("b@rcpt.example")
        queue_id = client.data(BODY)[1].split()[-1].decode()
    message = Message.objects.get(queue_id=queue_id)
    assert message.client_tls
    received = spool_read(message.spool_name).split(b"\r\nFrom:")[0]
    assert b"with ESMTPS id" in received and b"for <b@rcpt.example>" in received


def test_size__advertised_and_refused_on_parameter_and_data(settings, smtpd_factory):
    settings.MAILGATE_MAX_MESSAGE_SIZE = 10_000
    server = smtpd_factory()
    with smtp_client(server) as client:
        client.ehlo("x")
        assert client.esmtp_features["size"] == "10000"
        assert client.docmd("MAIL FROM:<a@b.example> SIZE=10001") == (
            552,
            b"5.3.4 Message size exceeds fixed maximum message size",
        )
        assert client.docmd("MAIL FROM:<a@b.example> SIZE=9000")[0] == 250
        client.rcpt("b@rcpt.example")
        code, text = client.data(BODY + b"x" * 500 + (b"\r\n" + b"y" * 900) * 12 + b"\r\n")
        assert (code, text) == (552, b"5.3.4 Message size exceeds fixed maximum message size")
        assert client.noop()[0] == 250
    assert Message.objects.count() == 0


def test_recipient_limit__452_4_5_3(settings, smtpd_factory):
    settings.MAILGATE_MAX_RECIPIENTS = 5
    server = smtpd_factory()
    with RawClient(server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        client.cmd("MAIL FROM:<a@b.example>")
        codes = [client.cmd(f"RCPT TO:<r{n}@d.example>")[0] for n in range(7)]
        assert codes == [250] * 5 + [452] * 2
        assert client.cmd("RCPT TO:<r9@d.example>") == (452, "4.5.3 Too many recipients")
        assert client.cmd("DATA")[0] == 354
        client.send(BODY + b".\r\n")
        assert client.reply()[0] == 250
    assert Recipient.objects.count() == 5


@pytest.mark.parametrize(
    ("line_length", "expected"),
    [(998, 250), (999, 500), (2000, 500)],
    ids=["998-ok", "999-one-too-many", "2000"],
)
def test_data_line_length__1000_octets_with_crlf(smtpd_server, line_length, expected):
    data = b"Subject: long\r\n\r\n" + b"a" * line_length + b"\r\n"
    with RawClient(smtpd_server.address) as client:
        code, text = submit_raw(client, data)
        assert code == expected
        if expected == 500:
            assert text.startswith("5.5.2 Line too long")
        assert client.cmd("NOOP")[0] == 250


def test_dot_stuffed_line_of_1001_octets_is_fine(smtpd_server):
    data = b"Subject: dots\r\n\r\n.." + b"a" * 997 + b"\r\n"  # 998 after unstuffing
    with RawClient(smtpd_server.address) as client:
        assert submit_raw(client, data)[0] == 250


def test_command_line_too_long__500_and_session_goes_on(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        code, text = client.cmd(b"MAIL FROM:<" + b"a" * 600 + b"@b.example>")
        assert (code, text) == (500, "5.5.2 Command line too long")
        assert client.cmd("NOOP") == (250, "2.0.0 OK")


def test_every_reply_has_an_enhanced_status_code(smtpd_server):
    commands = ["MAIL FROM:<a@b.example>", "EHLO x", "RCPT TO:<c@d.example>", "DATA",
                "MAIL FROM:<a@b.example>", "MAIL FROM:<a@b.example>", "VRFY root", "EXPN x",
                "HELP", "FOO", "RSET", "NOOP", "MAIL FROM:<a@b.example> XFOO=1",
                "MAIL FROM:<a@b.example> BODY=BINARYMIME", "QUIT"]  # fmt: skip
    with RawClient(smtpd_server.address) as client:
        client.reply()
        for command in commands:
            code, text = client.cmd(command)
            if command.startswith("EHLO"):
                continue
            assert text[:1] == str(code)[0] and text[1:2] == ".", (command, code, text)


def test_helo_with_control_characters_is_refused(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        assert client.cmd(b"EHLO foo\rINFO forged log line")[0] == 501
        assert client.cmd("MAIL FROM:<a@b.example>")[0] == 503
        assert client.cmd("HELO ok.example")[0] == 250


def test_connections_per_ip_are_capped(smtpd_factory):
    server = smtpd_factory(max_connections_per_ip=2)
    clients = [RawClient(server.address) for _ in range(2)]
    for client in clients:
        assert client.reply()[0] == 220
    with RawClient(server.address) as third:
        assert third.reply() == (421, "4.7.0 Too many connections from your address")
    clients[0].close()
    clients[1].cmd("QUIT")
    with RawClient(server.address) as again:
        assert again.reply()[0] == 220


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_runsmtpd__serves_and_stops_cleanly_on_signal(tmp_path: Path, signum):
    port = _free_port()
    env = {**os.environ, "MAILGATE_VAR_DIR": str(tmp_path), "MAILGATE_SMTP_PORT": str(port)}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runsmtpd"], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    assert client.noop()[0] == 250
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert (tmp_path / "tls" / "smtpd-cert.pem").is_file()
        proc.send_signal(signum)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_25_mb_message__stored_without_extra_copies(smtpd_server):
    import tracemalloc

    line = b"x" * 996 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * (25 * 1024 * 1024 // len(line))
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.send(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        assert [client.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        tracemalloc.start()
        try:
            client.send(body)
            client.send(b".\r\n")
            code, _ = client.reply()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 250
    # aiosmtpd holds the lines, then their join (2x at the peak); the checks, the Received
    # header and the spool write add no whole-message copy.
    assert peak < 2.5 * len(body), peak / len(body)
    message = Message.objects.get()
    assert message.size > len(body)
    with spool_open(message.spool_name) as stored:
        stored.seek(message.size - len(body))
        assert stored.read(14) == b"Subject: big\r\n"[:14]


def _commit_durability_is(sqlite_synchronous: int) -> None:
    """A new connection of this process commits with `sqlite_synchronous` on SQLite; on
    PostgreSQL commit durability is the server's setting, left as it is."""
    from django.db import connections

    connection = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA synchronous")
                assert cursor.fetchone()[0] == sqlite_synchronous
            else:
                cursor.execute(
                    "SELECT setting, reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
                )
                setting, configured = cursor.fetchone()
                assert setting == configured
    finally:
        connection.close()


def test_smtpd_connections_commit_with_full_sync_on_sqlite(smtpd_server):
    """A 250 survives a power loss: once the smtpd runs, the connections of its process
    fsync the WAL per commit (the shared default, NORMAL, may roll the last commits back
    after a power loss). PostgreSQL keeps its server setting."""
    _commit_durability_is(2)  # FULL, for a connection opened while the smtpd runs


def test_other_processes_keep_the_shared_sqlite_setting():
    _commit_durability_is(1)  # NORMAL, from the settings: no smtpd runs in this test
