"""Mail the Secure Mailbox writes itself: notifications, one-time codes, secure replies.

Every message is built fresh with ``EmailMessage`` and ``policy.SMTP`` (CRLF), from values
we cleaned; no parsed header is ever set again on a new message (CVE-2024-6923: the email
package could fold a parsed value into a new header line). Placeholders in the profile's
templates are replaced by a fixed list (``{purl}``, ``{sender}``, ``{subject}``,
``{expires}``, ``{organisation}``), never with ``str.format`` (which would let a template
reach attributes), and HTML-escaped in the HTML part. A notification holds no part of the
message body, and the pURL holds no part of the recipient's address.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.utils import timezone

from .models import DeliveryProfile

PLACEHOLDERS = ("purl", "sender", "subject", "expires", "organisation")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
BRACED_RE = re.compile(r"\{([^{}\s]{1,60})\}")  # what an admin may have meant as one
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MESSAGE_ID_RE = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}>\Z")


def placeholders_unknown(template: str) -> list[str]:
    return sorted({m for m in BRACED_RE.findall(template) if m not in PLACEHOLDERS})


def template_fill(template: str, values: Mapping[str, str], *, escape: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return html.escape(values[name]) if escape else values[name]

    return PLACEHOLDER_RE.sub(replace, template)


def header_clean(value: str, limit: int = 200) -> str:
    """One line of text fit for a header we build: no CR/LF or other controls, capped."""
    value = HEADER_UNSAFE.sub(" ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def expires_text(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime("%d %b %Y %H:%M %Z")


def _address(addr: str) -> Address | str:
    try:
        return Address(addr_spec=header_clean(addr, 320))
    except Exception:  # an address the header registry cannot represent: plain text
        return header_clean(addr, 320)


def _new(*, sender: str, to: str, subject: str, now: dt.datetime) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(sender)
    msg["To"] = _address(to)
    msg["Subject"] = header_clean(subject, 250)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=settings.MAILGATE_HOSTNAME)
    return msg


def _bytes(msg: EmailMessage) -> bytes:
    try:
        return msg.as_bytes(policy=policy.SMTP)
    except (UnicodeEncodeError, ValueError):  # a non-ASCII address: RFC 6531 form
        return msg.as_bytes(policy=policy.SMTPUTF8)


def notification_build(
    *, profile: DeliveryProfile, recipient: str, values: Mapping[str, str], now: dt.datetime
) -> bytes:
    """The notification for one recipient: multipart/alternative, text and HTML."""
    values = {key: header_clean(val, 2000) for key, val in values.items()}
    subject = template_fill(profile.notification_subject, values)
    msg = _new(
        sender=profile.notification_sender,
        to=recipient,
        subject=subject,
        now=now,
    )
    # RFC 3834 §5: an automatic message; replies and vacation notices are not wanted.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(template_fill(profile.notification_text, values))
    msg.add_alternative(
        template_fill(profile.notification_html, values, escape=True),
        subtype="html",
    )
    return _bytes(msg)


def code_build(
    *, sender: str, recipient: str, code: str, expires: dt.datetime, now: dt.datetime
) -> bytes:
    msg = _new(sender=sender, to=recipient, subject="Your secure message access code", now=now)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Your access code is {code}\n\n"
        f"It can be used once, until {expires_text(expires)}.\n"
        "If you did not ask for it, you can ignore this message.\n"
    )
    return _bytes(msg)


def reply_build(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    in_reply_to: str,
    now: dt.datetime,
) -> bytes:
    """A secure reply: fresh headers; In-Reply-To/References only for a well-formed id."""
    subject = header_clean(subject, 200)
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}".strip()
    msg = _new(sender=sender, to=to, subject=subject, now=now)
    ref = in_reply_to.strip()
    if MESSAGE_ID_RE.match(ref):  # RFC 5322 §3.6.4
        msg["In-Reply-To"] = ref
        msg["References"] = ref
    msg["X-Mailgate-Secure-Reply"] = "yes"
    msg.set_content(text.replace("\r\n", "\n").replace("\r", "\n"))
    return _bytes(msg)
