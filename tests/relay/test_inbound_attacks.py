# ruff: noqa: F811 - pytest fixtures imported from tests.support.smtpd_server
"""The inbound vectors of shared/corpus/smtp-attacks.md against the real smtpd, raw sockets.

SM-n: SMTP smuggling (§1); ST-n: STARTTLS injection (§3); LEN/PARSE: limits (§6);
BD/PIPE: chunking and pipelining (§7); §8: other commands. The OR-n relay vectors are in
test_smtpd_relay.py.
"""

from __future__ import annotations

import time

import pytest

from relay.models import Message
from relay.spool import spool_read
from tests.support.smtpd_server import (  # noqa: F401 - fixtures
    RawClient,
    smtpd_factory,
    smtpd_server,
    smtpd_spool,
    smtpd_tls_dir,
    submit_raw,
)

pytestmark = pytest.mark.django_db(transaction=True)

P0 = b"EHLO probe.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n"
SMUG = (
    b"MAIL FROM:<admin@victim.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n"
    b"From: admin@victim.example\r\nSubject: smuggled\r\n\r\nSMUGGLED\r\n.\r\n"
)
SMUGGLING_EOD = {
    "SM-1": b"\n.\n",
    "SM-2": b"\n.\r\n",
    "SM-3": b"\r.\r",
    "SM-4": b"\r.\r\n",
    "SM-5": b"\r\n.\n",
    "SM-6": b"\r\n.\r",
    "SM-7": b"\r\n\x00.\r\n",
    "SM-8": b"\r\n.\x00\r\n",
    "SM-9": b"\r\r\n.\r\r\n",
}


def open_p0(server) -> RawClient:
    client = RawClient(server.address)
    client.send(P0)
    assert client.reply()[0] == 220
    assert [client.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    return client


def stored_messages() -> list[bytes]:
    return [spool_read(m.spool_name) for m in Message.objects.all()]


@pytest.mark.parametrize("eod", SMUGGLING_EOD.values(), ids=SMUGGLING_EOD.keys())
def test_smuggling__one_reply_no_second_message(smtpd_server, eod):
    with open_p0(smtpd_server) as client:
        client.send(b"Subject: t\r\n\r\nbody" + eod + SMUG)
        # Exactly one answer to the whole DATA: the bare CR/LF/NUL refuses the message.
        assert client.reply() == (
            550,
            "5.6.0 Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8)",
        )
        # No reply is pending for a smuggled MAIL/RCPT/DATA: the next one is NOOP's.
        assert client.cmd("NOOP") == (250, "2.0.0 OK")
        assert client.cmd("RCPT TO:<c@d.example>")[0] == 503  # no MAIL was ever run
    assert Message.objects.count() == 0


def test_smuggling__clean_message_carrying_the_text_is_one_message(smtpd_server):
    body = b"Subject: t\r\n\r\nbody\r\n" + SMUG.replace(b"\r\n.\r\n", b"\r\n..\r\n")
    with open_p0(smtpd_server) as client:
        client.send(body + b".\r\n")
        assert client.reply()[0] == 250
        assert client.cmd("NOOP")[0] == 250
    [stored] = stored_messages()
    assert b"MAIL FROM:<admin@victim.example>\r\n" in stored  # inside the body, as text
    assert stored.endswith(b"SMUGGLED\r\n.\r\n")  # SM-10: one dot removed, bytes kept


def test_sm10__dot_unstuffing(smtpd_server):
    with open_p0(smtpd_server) as client:
        client.send(b"Subject: d\r\n\r\n..leading dot\r\n..\r\n.\r\n")
        assert client.reply()[0] == 250
    [stored] = stored_messages()
    assert stored.endswith(b"\r\nSubject: d\r\n\r\n.leading dot\r\n.\r\n")


# -- §3 STARTTLS ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "injected",
    [b"MAIL FROM:<injected@evil.example>\r\n", b"RSET\r\n", b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"],
    ids=["ST-1-mail", "ST-1-rset", "ST-1-auth"],
)
def test_st1__plaintext_after_starttls_is_discarded(smtpd_server, injected):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.send(b"EHLO x\r\nSTARTTLS\r\n" + injected)
        assert client.reply()[0] == 250
        assert client.reply()[0] == 220
        client.buffer = b""
        client.starttls()
        client.send(b"EHLO x\r\nRCPT TO:<c@d.example>\r\n")
        code, text = client.reply()
        assert code == 250 and text.startswith("mailgate.test")  # no reply to the injection
        assert client.reply() == (503, "5.5.1 need MAIL command")


def test_st2__require_starttls(smtpd_factory):
    server = smtpd_factory(require_starttls=True)
    with RawClient(server.address) as client:
        client.reply()
        client.send(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n")
        assert client.reply()[0] == 250
        assert client.reply() == (530, "5.7.0 Must issue a STARTTLS command first")
        assert client.cmd("NOOP")[0] == 250


def test_st3__auth_needs_tls_and_is_not_offered_inside_it(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        code, text = client.cmd("AUTH PLAIN AHVzZXIAcGFzcw==")
        assert (code, text[:7]) == (538, "5.7.11 ")
        assert client.cmd("STARTTLS")[0] == 220
        client.starttls()
        assert "AUTH" not in client.cmd("EHLO x")[1]
        assert client.cmd("AUTH PLAIN AHVzZXIAcGFzcw==")[0] == 504


def test_st4__starttls_inside_tls_is_refused_and_session_survives(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd("STARTTLS") == (220, "2.0.0 Ready to start TLS")
        client.starttls()
        assert "STARTTLS" not in client.cmd("EHLO x")[1]
        assert client.cmd("STARTTLS") == (503, "5.5.1 TLS already active")
        assert client.cmd("NOOP") == (250, "2.0.0 OK")
        assert submit_raw_after_ehlo(client)[0] == 250


def submit_raw_after_ehlo(client: RawClient) -> tuple[int, str]:
    assert client.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert client.cmd("RCPT TO:<c@d.example>")[0] == 250
    assert client.cmd("DATA")[0] == 354
    client.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
    return client.reply()


def test_st5__garbage_instead_of_client_hello(smtpd_server, caplog):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd("STARTTLS")[0] == 220
        client.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")  # not a ClientHello
        assert client.closed_by_server()
    with RawClient(smtpd_server.address) as client:
        assert client.reply()[0] == 220
        assert client.cmd("NOOP")[0] == 250
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("relay")]


# -- §5 INJ-4 / INJ-5, §6 limits ------------------------------------------------------------


def test_inj4__markup_is_stored_as_sent_and_kept_out_of_received(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        assert client.cmd("EHLO <svg/onload=alert(1)>")[0] == 250
        assert client.cmd('MAIL FROM:<"<img src=x onerror=alert(1)>"@sender.example>')[0] == 250
        assert client.cmd('RCPT TO:<"<script>alert(1)</script>"@rcpt.example>')[0] == 250
        assert client.cmd("DATA")[0] == 354
        client.send(b"Subject: <b>x</b>\r\n\r\nx\r\n.\r\n")
        assert client.reply()[0] == 250
    message = Message.objects.get()
    assert message.client_helo == "<svg/onload=alert(1)>"  # the UI escapes it
    assert message.subject == "<b>x</b>"
    assert spool_read(message.spool_name).startswith(
        b"Received: from _svg_onload_alert_1__ ([127.0.0.10])\r\n"
    )


@pytest.mark.parametrize("length", [600, 70_000], ids=["LEN-1-600", "LEN-1-70000"])
def test_len1__long_command_line(smtpd_server, length):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd(b"MAIL FROM:<" + b"a" * length + b"@b.example>")[0] == 500
        assert client.cmd("NOOP")[0] == 250


def test_len2__endless_line_is_cut_by_the_timeout(smtpd_factory):
    server = smtpd_factory(timeout=0.5)
    with RawClient(server.address) as client:
        client.reply()
        client.send(b"A" * 2_000_000)  # no newline ever
        started = time.monotonic()
        assert client.closed_by_server()
        assert time.monotonic() - started < 9
    with RawClient(server.address) as client:
        assert client.reply()[0] == 220


def test_len3__data_line_of_2000_bytes(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        assert submit_raw(client, b"Subject: x\r\n\r\n" + b"x" * 2000 + b"\r\n")[0] == 500


def test_len4__size_parameter_over_the_limit(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        code, text = client.cmd("MAIL FROM:<a@b.example> SIZE=99999999999")
        assert (code, text[:6]) == (552, "5.3.4 ")


def test_len5__unknown_commands_end_the_session(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.send(b"FOO\r\n" * 6)
        replies = [client.reply() for _ in range(5)]
        assert [code for code, _ in replies] == [500] * 4 + [502]
        assert replies[-1][1] == "5.5.1 Too many unrecognized commands, goodbye."
        assert client.closed_by_server()


def test_parse1__huge_header_is_stored_quickly_and_shown_truncated(smtpd_server):
    words = b"\r\n =?utf-8?Q?date=3E2017-08-20T10:08:28.617=3C/pr?=" * 6000
    data = b"To:" + words + b"\r\nSubject:" + words + b"\r\n\r\nbody\r\n"
    started = time.monotonic()
    with RawClient(smtpd_server.address) as client:
        assert submit_raw(client, data)[0] == 250
    assert time.monotonic() - started < 5
    message = Message.objects.get()
    assert len(message.subject) <= 998
    assert spool_read(message.spool_name).endswith(data)


def test_parse2__deep_mime_nesting_is_stored(smtpd_server):
    parts = [
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(500)
    ]
    data = b"Subject: deep\r\n" + b"".join(parts) + b"\r\nleaf\r\n"
    with RawClient(smtpd_server.address) as client:
        assert submit_raw(client, data)[0] == 250
    assert Message.objects.get().subject == "deep"


# -- §7 BDAT and pipelining, §8 other commands -----------------------------------------------


def test_bd1__bdat_is_refused_and_not_advertised(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        assert "CHUNKING" not in client.cmd("EHLO x")[1]
        client.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 10 LAST\r\n")
        assert [client.reply()[0] for _ in range(3)] == [250, 250, 500]
        assert client.cmd("0123456789QUIT")[0] == 500  # the chunk is read as a command
    assert Message.objects.count() == 0


def test_pipe1__early_talker_gets_every_reply_in_order(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.send(P0 + b"Subject: early\r\n\r\nx\r\n.\r\nQUIT\r\n")
        assert [client.reply()[0] for _ in range(7)] == [220, 250, 250, 250, 354, 250, 221]
    assert Message.objects.count() == 1


def test_pipe2__bare_lf_commands_are_read_but_data_needs_crlf(smtpd_server):
    # Decision: commands may end in a bare LF (aiosmtpd reads lines to LF; no smuggling risk,
    # as the DATA terminator stays CRLF.CRLF and bare LFs inside data are refused).
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.send(b"EHLO x\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\n")
        assert [client.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        client.send(b"Subject: lf\n\nbody\n.\n\r\n.\r\n")
        assert client.reply()[0] == 550
    assert Message.objects.count() == 0


def test_pipe3__bare_cr_inside_a_command_is_not_split(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd(b"MAIL FROM:<a@b.example>\rRCPT TO:<evil@evil.example>")[0] == 501
        assert client.cmd("RCPT TO:<c@d.example>")[0] == 503


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (b"VRFY root", 252),
        (b"VRFY postmaster@rcpt.example", 252),
        (b"EXPN staff", 502),
        (b"HELP", 250),
        (b"MA\x00IL FROM:<a@b.example>", 500),
        (b"RCPT\tTO:<c@d.example>", 500),
        (b"MAIL FROM:<a@b.example> BODY=BINARYMIME", 501),
        (b"MAIL FROM:<a@b.example> XFOO=1", 555),
        (b"MAIL FROM:<a@b.example> SIZE=-1", 501),
    ],
    ids=lambda value: value.decode("ascii", "replace") if isinstance(value, bytes) else None,
)
def test_other_commands(smtpd_server, command, code):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        got, text = client.cmd(command)
        assert got == code
        assert text[:2] == f"{code // 100}."
        assert client.cmd("NOOP")[0] == 250


def test_command_before_ehlo(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        assert client.cmd("MAIL FROM:<a@b.example>") == (503, "5.5.1 send HELO first")
