"""Delivery status notifications (RFC 3464), built as raw CRLF bytes.

Pure: no ORM, no network. Every value that came from outside (addresses, remote replies,
the original headers) is cleaned of control characters before it is placed in a header or
a field, so a remote reply such as "550 x\\r\\nBcc: victim" cannot add lines.
The message is assembled by hand, not with the `email` package's generator, whose refolding
has had injection bugs (corpus INJ-3, CVE-2024-6923).
"""

from __future__ import annotations

import quopri
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from relay.addresses import address_problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_FIELD = 900  # keeps each field line under the 998-octet limit (RFC 5322 §2.1.1)
MAX_HEADERS = 64 * 1024  # the original headers quoted back


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    status: str  # RFC 3463, e.g. "5.1.1" or "4.4.1"
    diagnostic: str  # the remote reply or our own reason
    remote_mta: str | None = None
    action: str = "failed"  # "failed" or "delayed" (RFC 3464 §2.3.3)


def _clean(value: str, limit: int = MAX_FIELD) -> str:
    """One safe line: control characters become spaces, non-ASCII is escaped."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text[:limit]


def _status(value: str) -> str:
    if not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", value):
        raise ValueError(f"not an RFC 3463 status: {value!r}")
    return value


def _address_type(address: str) -> tuple[str, str]:
    """RFC 3464 §2.3.2 "rfc822; addr", or RFC 6533 §3 "utf-8; addr" for non-ASCII."""
    if address.isascii():
        return "rfc822", _clean(address)
    return "utf-8", _clean(address)


def _headers_only(original: bytes) -> bytes:
    """The header block of the original, CRLF-normalised, NUL-free and capped."""
    data = original[:MAX_HEADERS].replace(b"\x00", b"")
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head, _, _ = data.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if line]
    return b"".join(line + b"\r\n" for line in lines)


def build_dsn(
    *,
    reporting_mta: str,
    original_envelope_sender: str,
    original_headers: bytes,
    failed: list[FailedRecipient],
    arrival_date: datetime,
    queue_id: str,
    from_address: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """A multipart/report DSN (RFC 3464 §2) to `original_envelope_sender`.

    Never call it for a null sender (RFC 5321 §4.5.5: no DSN about a DSN); that raises."""
    problem = address_problem(original_envelope_sender)
    if problem:
        raise ValueError(f"no DSN to this sender: {problem}")
    if not failed:
        raise ValueError("a DSN needs at least one recipient")
    mta = _clean(reporting_mta, 255)
    sender = from_address or f"MAILER-DAEMON@{mta}"
    when = date or datetime.now(UTC)
    delayed_only = all(r.action == "delayed" for r in failed)
    utf8 = not all(r.address.isascii() for r in failed)
    headers_part = _headers_only(original_headers)
    boundary = _boundary(headers_part)
    subject = (
        "Delayed Mail (still being retried)"
        if delayed_only
        else "Undelivered Mail Returned to Sender"
    )
    head = [
        f"From: Mail Delivery System <{_clean(sender)}>",
        f"To: <{_clean(original_envelope_sender)}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{secrets.token_hex(12)}.{_clean(queue_id, 64)}@{mta}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5: no auto-replies to this
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
    ]
    status_type = "message/global-delivery-status" if utf8 else "message/delivery-status"
    parts = [
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + _human(mta, queue_id, failed, delayed_only),
        f"Content-Type: {status_type}\r\n\r\n".encode()
        + _machine(mta, queue_id, arrival_date, failed),
        b"Content-Type: text/rfc822-headers\r\n\r\n" + headers_part,
    ]
    out = "\r\n".join(head).encode() + b"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n"
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part
        out += b"" if part.endswith(b"\r\n") else b"\r\n"
        out += b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _boundary(*contents: bytes) -> str:
    while True:
        boundary = f"=_mailgate_dsn_{secrets.token_hex(12)}"
        if not any(boundary.encode() in content for content in contents):
            return boundary


def _human(mta: str, queue_id: str, failed: list[FailedRecipient], delayed_only: bool) -> bytes:
    intro = (
        "Your message could not be delivered yet; delivery will be retried."
        if delayed_only
        else "Your message could not be delivered to one or more recipients."
    )
    lines = [f"This is the mail system at host {mta}.", "", intro, f"Queue ID: {queue_id}", ""]
    for recipient in failed:
        where = f" (from {recipient.remote_mta})" if recipient.remote_mta else ""
        reason = " ".join(_CONTROL.sub(" ", recipient.diagnostic).split())[:MAX_FIELD]
        address = " ".join(_CONTROL.sub(" ", recipient.address).split())
        lines.append(f"<{address}>: {recipient.action}{where}: {reason}")
    text = "\r\n".join(lines) + "\r\n"
    encoded = quopri.encodestring(text.encode("utf-8"))
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _machine(mta: str, queue_id: str, arrival: datetime, failed: list[FailedRecipient]) -> bytes:
    if arrival.tzinfo is None:
        raise ValueError("arrival_date must be timezone-aware")
    blocks = [
        [  # per-message fields, RFC 3464 §2.2
            f"Reporting-MTA: dns; {mta}",
            f"X-Mailgate-Queue-ID: {_clean(queue_id, 64)}",
            f"Arrival-Date: {format_datetime(arrival)}",
        ]
    ]
    for recipient in failed:  # per-recipient fields, RFC 3464 §2.3
        if recipient.action not in {"failed", "delayed"}:
            raise ValueError(f"unsupported action {recipient.action!r}")
        kind, address = _address_type(recipient.address)
        block = [
            f"Final-Recipient: {kind}; {address}",
            f"Action: {recipient.action}",
            f"Status: {_status(recipient.status)}",
        ]
        if recipient.remote_mta:
            block.append(f"Remote-MTA: dns; {_clean(recipient.remote_mta, 255)}")
        block.append(f"Diagnostic-Code: smtp; {_clean(recipient.diagnostic)}")
        blocks.append(block)
    text = "\r\n".join("\r\n".join(block) + "\r\n" for block in blocks)
    return text.encode("ascii")
