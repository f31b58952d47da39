"""Helpers for the Secure Mailbox tests: messages, notifications, pURL tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from relay.models import Message
from relay.spool import spool_read
from securemailbox.models import SecureMessage

SENDER = "alice@sender.test"
PURL_RE = re.compile(rb"https?://[^\s\"<>]+/m/([A-Za-z0-9_-]{43})/")


@dataclass
class Redirected:
    message: Message
    items: list[SecureMessage]
    tokens: list[str]

    @property
    def item(self) -> SecureMessage:
        return self.items[0]

    @property
    def token(self) -> str:
        return self.tokens[0]


def notification_raw(item: SecureMessage) -> bytes:
    item.refresh_from_db()
    assert item.notification is not None
    return spool_read(item.notification.spool_name)


def token_from(raw: bytes) -> str:
    """The pURL token from a notification's text part."""
    msg = message_from_bytes(raw, policy=policy.default)
    text = msg.get_body(("plain",)).get_content().encode()
    match = PURL_RE.search(text)
    assert match, text
    return match.group(1).decode()


def make_raw(
    *,
    subject: str = "Quarterly figures",
    text: str | None = "Hello Bob,\nthe figures are attached.\n",
    html: str | None = None,
    to: str = "bob@partner.test",
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alice <{SENDER}>"
    msg["To"] = to
    msg["Cc"] = "carol@partner.test"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = "<q1@sender.test>"
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=policy.SMTP)
