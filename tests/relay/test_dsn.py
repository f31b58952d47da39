"""DSNs (RFC 3464) parsed back with the email package."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import Message

import pytest

from relay.dsn import FailedRecipient, build_dsn

ARRIVAL = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ORIGINAL = (
    b"From: Alice <a@sender.test>\r\nTo: b@partner.test\r\nSubject: Quarterly\r\n"
    b"Message-ID: <m1@sender.test>\r\n\r\nThe body must not be quoted back.\r\n"
)


def _dsn(failed: list[FailedRecipient], **kw: object) -> bytes:
    args: dict[str, object] = {
        "reporting_mta": "mailgate.test",
        "original_envelope_sender": "a@sender.test",
        "original_headers": ORIGINAL,
        "failed": failed,
        "arrival_date": ARRIVAL,
        "queue_id": "Q42",
    }
    args.update(kw)
    return build_dsn(**args)  # type: ignore[arg-type]


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def test_structure_of_a_failure_report() -> None:
    raw = _dsn([FailedRecipient("b@partner.test", "5.1.1", "550 5.1.1 No such user",
                                "mx1.partner.test")])  # fmt: skip
    message = _parse(raw)

    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    assert message["From"] == "Mail Delivery System <MAILER-DAEMON@mailgate.test>"
    assert message["To"] == "<a@sender.test>" and message["Auto-Submitted"] == "auto-replied"
    human, status, headers = message.get_payload()
    assert human.get_content_type() == "text/plain"
    text = human.get_payload(decode=True).decode()
    assert "b@partner.test" in text and "No such user" in text
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; mailgate.test"
    assert per_message["Arrival-Date"] == "Thu, 03 Dec 2026 10:00:00 +0000"
    assert per_recipient["Final-Recipient"] == "rfc822; b@partner.test"
    assert per_recipient["Action"] == "failed" and per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx1.partner.test"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user"
    assert headers.get_content_type() == "text/rfc822-headers"
    quoted = headers.get_payload()
    assert "Subject: Quarterly" in quoted and "body must not" not in quoted


def test_crlf_only_and_no_injection_from_remote_text() -> None:
    evil = FailedRecipient("b@partner.test", "5.7.1", "550 no\r\nBcc: victim@evil.example\x00",
                           "mx\r\nX-Evil: 1")  # fmt: skip
    raw = _dsn([evil], queue_id="Q\r\nX-Q: 1")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\x00" not in raw
    message = _parse(raw)
    status = message.get_payload()[1].get_payload()[1]
    assert status["Diagnostic-Code"] == "smtp; 550 no Bcc: victim@evil.example"
    assert status["X-Evil"] is None and status["Bcc"] is None
    assert all("X-Q" not in key for key in message)


def test_delayed_and_multiple_recipients() -> None:
    raw = _dsn([
        FailedRecipient("b@partner.test", "4.4.1", "connection refused", None, "delayed"),
        FailedRecipient("c@partner.test", "4.2.0", "450 busy", "mx", "delayed"),
    ])  # fmt: skip
    message = _parse(raw)
    assert "Delayed" in message["Subject"]
    blocks = message.get_payload()[1].get_payload()
    assert [b["Action"] for b in blocks[1:]] == ["delayed", "delayed"]
    assert blocks[1]["Remote-MTA"] is None


def test_non_ascii_recipient_uses_the_utf8_address_type() -> None:
    raw = _dsn([FailedRecipient("j\u00fcrgen@partner.test", "5.1.1", "550 unknown")])
    status = _parse(raw).get_payload()[1]
    assert status.get_content_type() == "message/global-delivery-status"
    assert raw.isascii()


def test_never_to_a_null_or_bad_sender() -> None:
    failed = [FailedRecipient("b@partner.test", "5.1.1", "550")]
    with pytest.raises(ValueError):
        _dsn(failed, original_envelope_sender="")
    with pytest.raises(ValueError):
        _dsn(failed, original_envelope_sender="a@b.test\r\nBcc: x@y.test")
    with pytest.raises(ValueError):
        _dsn([FailedRecipient("b@partner.test", "5.1.1\r\nX: y", "550")])
    with pytest.raises(ValueError):
        _dsn(failed, arrival_date=datetime(2026, 1, 1))  # naive on purpose
