"""Synthetic messages for the loop check: raw bytes plus an envelope, as Mailgate sees them.

Contexts are built with the engine's own ``context_from_bytes``, so a synthetic message is
read exactly as a real one would be (a null sender or multipart/report is a DSN, headers
are decoded). A message handed back to Mailgate keeps the header lines policies added (they
are prepended as raw lines) and loses its tags (tags do not travel over SMTP).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from policies.engine import MessageContext, Verdict, context_from_bytes
from policies.engine.reference import NOTIFICATION_TAG

LAN_CLIENT = "127.0.0.10"  # DESIGN.md: clients submit from 127.0.0.10 in the tests

ORDINARY = "message"
NOTIFICATION = "notification"
DSN = "dsn"


@dataclass(frozen=True)
class SimMessage:
    kind: str  # ORDINARY, NOTIFICATION or DSN
    raw: bytes
    envelope_sender: str
    recipient: str
    client_ip: str | None
    tags: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        return self.recipient.rpartition("@")[2]

    @property
    def tagged(self) -> bool:
        return any(t.strip().lower() == NOTIFICATION_TAG.lower() for t in self.tags)

    def context(self) -> MessageContext:
        return context_from_bytes(
            self.raw,
            client_ip=self.client_ip,
            envelope_sender=self.envelope_sender,
            recipients=[self.recipient],
            tags=self.tags,
        )

    def after(self, verdict: Verdict) -> SimMessage:
        """The message as it leaves: headers and tags the policies added."""
        lines = b"".join(f"{n}: {v}\r\n".encode() for n, v in verdict.headers_added)
        return replace(self, raw=lines + self.raw, tags=(*self.tags, *verdict.tags))

    def looped_back(self, client_ip: str) -> SimMessage:
        """Handed to Mailgate's own smtpd: it arrives from ``client_ip`` without tags."""
        return replace(self, client_ip=client_ip, tags=())


def _raw(headers: list[tuple[str, str]], body: str) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"{head}\r\n{body}\r\n".encode()


def ordinary_message(local_domain: str, recipient: str) -> SimMessage:
    sender = f"alice@{local_domain}"
    raw = _raw(
        [
            ("From", f"Alice <{sender}>"),
            ("To", recipient),
            ("Subject", "Quarterly figures"),
            ("Message-ID", f"<loopcheck.1@{local_domain}>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        "The figures are attached.",
    )
    return SimMessage(ORDINARY, raw, sender, recipient, LAN_CLIENT)


def notification_message(sender: str, recipient: str) -> SimMessage:
    """A Secure Mailbox notification as Mailgate injects it (client IP None, tagged)."""
    raw = _raw(
        [
            ("From", sender),
            ("To", recipient),
            ("Subject", "Secure message from alice: Quarterly figures"),
            ("Message-ID", "<loopcheck.2@mailgate.invalid>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        "You have received a secure message.",
    )
    return SimMessage(NOTIFICATION, raw, sender, recipient, None, (NOTIFICATION_TAG,))


def dsn_message(hostname: str, recipient: str) -> SimMessage:
    """A bounce Mailgate makes itself (RFC 3464): null sender, multipart/report."""
    raw = _raw(
        [
            ("From", f"Mail Delivery System <MAILER-DAEMON@{hostname}>"),
            ("To", recipient),
            ("Subject", "Undelivered Mail Returned to Sender"),
            ("MIME-Version", "1.0"),
            (
                "Content-Type",
                'multipart/report; report-type=delivery-status; boundary="b"',
            ),
        ],
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--",
    )
    return SimMessage(DSN, raw, "", recipient, None)
