"""``context_from_bytes``: the facts the conditions need, read from raw message bytes.

Read-only: the parsed form is never written back (raw bytes in, raw bytes out). Nothing in
here raises on bad input: what cannot be parsed counts as absent and leaves a parse note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses
from types import MappingProxyType

from .headers import decode_value, unfold
from .message import MessageContext, canonical_address

DEFAULT_MAX_HEADER_BYTES = 256 * 1024
MAX_PARTS = 1000
# RFC 5322 §2.1: the header section ends at the first empty line.
_END_OF_HEADER = re.compile(rb"\n\r?\n")
# "Name <a@b>", "\"Name\" <a@b>" or "a@b": no comments, groups, lists or quoted local parts.
_SIMPLE_MAILBOX = re.compile(
    r'\s*(?:(?:"[^"\\]*"|[^<>",;:@()\\]*)\s*<([^<>\s@",;:()]+@[^<>\s@",;:()]+)>'
    r'|([^<>\s@",;:()]+@[^<>\s@",;:()]+))\s*\Z'
)


def context_from_bytes(
    raw: bytes,
    *,
    client_ip: str | None,
    envelope_sender: str,
    recipients: Iterable[str],
    tags: Iterable[str] = (),
    size: int | None = None,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    scan_attachments: bool = True,
) -> MessageContext:
    """Build a MessageContext; never raises for any ``raw``.

    Only the header section is parsed, unless the message is multipart and
    ``scan_attachments`` (pass ``"attachment" in ruleset.kinds`` to skip the body when no
    policy looks at attachments).
    """
    notes: list[str] = []
    head = _header_section(raw, max_header_bytes, notes)
    msg = _parse(BytesHeaderParser(policy=compat32).parsebytes, head, notes)
    headers = _decoded_headers(msg, notes) if msg is not None else {}
    subject = headers.get("subject", (None,))[0]
    return MessageContext(
        client_ip=client_ip,
        envelope_sender=envelope_sender,
        header_from=_from_addresses(msg, notes) if msg is not None else (),
        recipients=tuple(recipients),
        headers=MappingProxyType(headers),
        tags=frozenset(tags),
        is_dsn=canonical_address(envelope_sender) is None or _is_report(msg, notes),
        size=len(raw) if size is None else size,
        subject=subject,
        attachments=_attachments(raw, msg, notes) if scan_attachments and msg else (),
        parse_notes=tuple(notes),
    )


def _header_section(raw: bytes, limit: int, notes: list[str]) -> bytes:
    match = _END_OF_HEADER.search(raw, 0, limit + 2)
    if raw.startswith((b"\n", b"\r\n")):
        return b""
    if match is not None:
        return raw[: match.end()]
    if len(raw) <= limit:
        return raw
    notes.append(f"header section longer than {limit} bytes: the rest is ignored")
    cut = raw.rfind(b"\n", 0, limit)
    return raw[: cut + 1] if cut >= 0 else b""


def _parse(parse: object, data: bytes, notes: list[str]) -> Message | None:
    try:
        return parse(data)  # type: ignore[operator, no-any-return]
    except Exception as error:  # any parser failure means "absent", never a crash
        notes.append(f"message could not be parsed ({type(error).__name__}): ignored")
        return None


def _decoded_headers(msg: Message, notes: list[str]) -> dict[str, tuple[str, ...]]:
    collected: dict[str, list[str]] = {}
    for name, value in msg._headers:  # type: ignore[attr-defined] # raw pairs, in order
        lower = name.strip().lower()
        text = decode_value(value, lower, notes)
        if text is not None:
            collected.setdefault(lower, []).append(text)
    for defect in msg.defects:
        notes.append(_defect_note(defect, msg))
    if not collected:
        notes.append("no header could be read: every header counts as absent")
    return {name: tuple(values) for name, values in collected.items()}


def _defect_note(defect: Exception, msg: Message) -> str:
    """A parser defect in words; the cases are those of email.feedparser._parse_headers."""
    kind = type(defect).__name__
    if kind == "MissingHeaderBodySeparatorDefect":
        payload = msg.get_payload()
        line = payload.splitlines()[0] if isinstance(payload, str) and payload else ""
        return (
            f"header section: the line {_shown(line)} is not a header (no 'Name:'): it and "
            "the lines after it are read as the body, so the headers there count as absent"
        )
    if kind == "FirstHeaderLineIsContinuationDefect":
        return f"header section: the first line {_shown(str(defect))} is a continuation; ignored"
    if kind == "MisplacedEnvelopeHeaderDefect":
        return f"header section: an mbox 'From ' line {_shown(str(defect))}; ignored"
    if kind == "InvalidHeaderDefect":
        return "header section: a line with no header name before its colon; ignored"
    return f"header section: {kind}"


def _shown(line: str, limit: int = 60) -> str:
    """A raw header line, quoted and shortened for a note (8-bit bytes shown as UTF-8)."""
    text = line.strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _from_addresses(msg: Message, notes: list[str]) -> tuple[str, ...]:
    addresses: list[str] = []
    for value in msg.get_all("from", []):
        text = decode_value(value, "from", [], rfc2047=False)
        found = _addresses(text) if text is not None else []
        if not found:
            notes.append("header from: no address could be parsed; ignored")
        addresses.extend(found)
    return tuple(addresses)


def _addresses(text: str) -> list[str]:
    simple = _SIMPLE_MAILBOX.match(text)
    if simple is not None:  # the common case, without the cost of getaddresses
        return [simple.group(1) or simple.group(2)]
    try:
        return [addr for _, addr in getaddresses([text]) if addr]
    except Exception:
        return []


def _is_report(msg: Message | None, notes: list[str]) -> bool:
    """RFC 3464 §2: a DSN is multipart/report with report-type=delivery-status."""
    if msg is None:
        return False
    try:
        if msg.get_content_type() != "multipart/report":
            return False
        return str(msg.get_param("report-type", "")).strip().lower() == "delivery-status"
    except Exception:
        notes.append("header content-type: could not be parsed; ignored")
        return False


def _attachments(raw: bytes, head: Message, notes: list[str]) -> tuple[tuple[str, str], ...]:
    if head.get_content_maintype() != "multipart":
        found = _attachment(head, notes)
        return (found,) if found else ()
    msg = _parse(BytesParser(policy=compat32).parsebytes, raw, notes)
    out: list[tuple[str, str]] = []
    try:
        for count, part in enumerate(msg.walk() if msg is not None else ()):
            if count >= MAX_PARTS:
                notes.append(f"more than {MAX_PARTS} MIME parts: the rest is ignored")
                break
            found = _attachment(part, notes)
            if found:
                out.append(found)
    except Exception as error:  # e.g. RecursionError on absurd nesting
        notes.append(f"MIME structure could not be read ({type(error).__name__})")
    return tuple(out)


def _attachment(part: Message, notes: list[str]) -> tuple[str, str] | None:
    """(file name, content type) when the part is an attachment, else None."""
    try:
        ctype = part.get_content_type()
        if ctype.startswith("multipart/"):
            return None
        if (  # the common text part: skip the costlier parameter parsing
            ctype.startswith("text/")
            and "content-disposition" not in part
            and "name" not in str(part.get("content-type", "")).lower()
        ):
            return None
        raw_name = part.get_filename()
        disposition = part.get_content_disposition()
    except Exception:
        notes.append("a MIME part's headers could not be parsed; ignored")
        return None
    name = decode_value(unfold(str(raw_name)), "filename", notes) if raw_name else None
    if name or disposition == "attachment" or not ctype.startswith("text/"):
        return (name or "", ctype)
    return None
