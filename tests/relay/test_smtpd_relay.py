# ruff: noqa: F811 - pytest fixtures imported from tests.support.smtpd_server
"""Open relay and address confusion: the OR-n vectors of shared/corpus/smtp-attacks.md §4.

Outside (127.0.0.10 with relay networks 127.0.0.1/32): nothing is accepted. Inside (the
default 127.0.0.0/8): addresses are judged by the part after the last "@", kept as given,
and address literals and control characters are refused.
"""

from __future__ import annotations

import pytest

from relay.models import Message, Recipient
from tests.support.smtpd_server import (  # noqa: F401 - fixtures
    RawClient,
    smtpd_factory,
    smtpd_server,
    smtpd_spool,
    smtpd_tls_dir,
)

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDE_RCPT = {
    "OR-1": (b"<victim@external.example>", 554),
    "OR-2": (b"<@allowed.example,@x.example:victim@external.example>", 554),
    "OR-3": (b"<victim%external.example@allowed.example>", 550),
    "OR-4": (b"<external.example!victim@allowed.example>", 550),
    "OR-5": (b'<"victim@external.example"@allowed.example>', 550),
    "OR-6a": (b'<"<victim@external.example>"@allowed.example>', 550),
    "OR-6b": (b'<"x<victim@external.example>"@allowed.example>', 550),
    "OR-7": (b"<victim@external.example@allowed.example>", 553),
    "OR-8a": (b"<victim@[127.0.0.1]>", 553),
    "OR-8b": (b"<victim@[IPv6:::1]>", 553),
    "OR-9": (b"<victim@allowed.example\x00evil>", 501),
    "OR-10": (b"<victim@ALLOWED.EXAMPLE>", 550),
    "OR-11a": (b"<victim@allowed.example.evil.example>", 554),
    "OR-11b": (b"<victim@evilallowed.example>", 554),
    "OR-11c": (b"<victim@allowed.example.>", 553),
    "OR-12a": ("<victim@allow\u0435d.example>".encode(), 554),  # Cyrillic ie (SMTPUTF8 is on)
    "OR-12b": (b"<victim@xn--allowd-7of.example>", 554),
    "OR-17": (b"<c@d.example> NOTIFY=SUCCESS ORCPT=rfc822;x@y", 555),
}


@pytest.fixture
def outside_server(settings, smtpd_factory):
    settings.MAILGATE_RELAY_NETWORKS = ["127.0.0.1/32", "::1/128"]
    settings.MAILGATE_LOCAL_DOMAINS = ["allowed.example"]
    return smtpd_factory()


def session(server, mail_from: bytes = b"<a@b.example>") -> RawClient:
    client = RawClient(server.address)
    assert client.reply()[0] == 220
    assert client.cmd("EHLO x")[0] == 250
    assert client.cmd(b"MAIL FROM:" + mail_from + b" SMTPUTF8")[0] == 250
    return client


@pytest.mark.parametrize(("rcpt", "code"), OUTSIDE_RCPT.values(), ids=OUTSIDE_RCPT.keys())
def test_outside__every_recipient_is_refused(outside_server, rcpt, code):
    with session(outside_server) as client:
        got, text = client.cmd(b"RCPT TO:" + rcpt)
        assert got == code, text
        assert text.startswith(f"{code // 100}.")
        assert client.cmd("DATA")[0] == 503
        assert client.cmd("NOOP")[0] == 250
    assert Message.objects.count() == 0


def test_or1__relay_denied_text(outside_server):
    with session(outside_server) as client:
        assert client.cmd("RCPT TO:<victim@external.example>") == (
            554,
            "5.7.1 Relay access denied",
        )


@pytest.mark.parametrize(
    "mail_from", [b"<>", b"<ceo@allowed.example>"], ids=["OR-15-null-sender", "OR-16-own-domain"]
)
def test_or13_15_16__many_recipients_from_outside_all_refused(outside_server, mail_from):
    with session(outside_server, mail_from) as client:
        client.send(b"".join(b"RCPT TO:<r%d@d.example>\r\n" % n for n in range(200)))
        assert {client.reply()[0] for _ in range(200)} == {554}
        assert client.cmd("NOOP")[0] == 250


def test_or13__recipient_limit_inside(settings, smtpd_factory):
    settings.MAILGATE_MAX_RECIPIENTS = 100  # RFC 5321 §4.5.3.1.8: at least 100
    server = smtpd_factory()
    with session(server) as client:
        client.send(b"".join(b"RCPT TO:<r%d@d.example>\r\n" % n for n in range(200)))
        codes = [client.reply()[0] for _ in range(200)]
        assert codes == [250] * 100 + [452] * 100


def test_or14__null_sender_is_stored_as_empty_and_marked_dsn(smtpd_server):
    with session(smtpd_server, b"<>") as client:
        assert client.cmd("RCPT TO:<user@allowed.example>")[0] == 250
        assert client.cmd("DATA")[0] == 354
        client.send(b"Subject: bounce\r\n\r\nx\r\n.\r\n")
        assert client.reply()[0] == 250
    message = Message.objects.get()
    assert message.envelope_sender == ""
    assert message.is_dsn


def test_or18__command_order(outside_server):
    with RawClient(outside_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd("RCPT TO:<c@d.example>") == (503, "5.5.1 need MAIL command")
        assert client.cmd("DATA") == (503, "5.5.1 need RCPT command")
        client.cmd("MAIL FROM:<a@b.example>")
        assert client.cmd("MAIL FROM:<a@b.example>") == (503, "5.5.1 nested MAIL command")


INSIDE_KEPT = {
    "OR-3": ("victim%external.example@allowed.example", "allowed.example"),
    "OR-4": ("external.example!victim@allowed.example", "allowed.example"),
    "OR-5": ('"victim@external.example"@allowed.example', "allowed.example"),
    "OR-6": ('"x<victim@external.example>"@allowed.example', "allowed.example"),
    "OR-10": ("victim@ALLOWED.EXAMPLE", "allowed.example"),
    "OR-12": ("victim@allow\u0435d.example", "xn--allowd-7of.example"),
}


@pytest.mark.parametrize(("address", "domain"), INSIDE_KEPT.values(), ids=INSIDE_KEPT.keys())
def test_inside__address_kept_as_given_domain_after_the_last_at(smtpd_server, address, domain):
    with session(smtpd_server) as client:
        assert client.cmd(f"RCPT TO:<{address}>".encode())[0] == 250
        assert client.cmd("DATA")[0] == 354
        client.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        assert client.reply()[0] == 250
    recipient = Recipient.objects.get()
    assert (recipient.address, recipient.domain) == (address, domain)


@pytest.mark.parametrize(
    ("rcpt", "code"),
    [
        (b"<victim@[127.0.0.1]>", 553),
        (b"<victim@allowed.example\x00evil>", 501),
        (b"<victim@allowed.example\x7f>", 501),
        (b"<postmaster>", 550),
        (b"<nodomain>", 553),
        (b"<" + b"a" * 64 + b"@" + b"b" * 250 + b".example>", 553),
    ],
    ids=["OR-8-literal", "OR-9-nul", "del", "bare-postmaster", "no-at", "over-320"],
)
def test_inside__invalid_recipients_refused(smtpd_server, rcpt, code):
    with session(smtpd_server) as client:
        got, text = client.cmd(b"RCPT TO:" + rcpt)
        assert got == code, text
        assert text.startswith(("5.1.3", "5.1.1"))


def test_non_ascii_address_needs_smtputf8(smtpd_server):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        assert client.cmd("MAIL FROM:<ä@b.example>".encode()) == (
            553,
            "5.6.7 Non-ASCII address requires SMTPUTF8",
        )
        assert client.cmd("MAIL FROM:<a@b.example>")[0] == 250
        assert client.cmd("RCPT TO:<ü@d.example>".encode())[0] == 553


@pytest.mark.parametrize(
    "mail_from",
    [b"<a\x00b@b.example>", b"<nodomain>", b"<a@bad_domain!.example>"],
    ids=["nul", "no-at", "bad-domain"],
)
def test_invalid_senders_refused(smtpd_server, mail_from):
    with RawClient(smtpd_server.address) as client:
        client.reply()
        client.cmd("EHLO x")
        code, text = client.cmd(b"MAIL FROM:" + mail_from)
        assert code in {501, 553} and text.startswith("5.1.3"), text
