"""A redirected message (raw MIME) turned into what the portal may show.

Everything in the message is the sender's to choose, and much of real mail is broken, so
reading never raises: a part that cannot be shown gives a note instead (portal-attacks.md
H-13). The parser is ``compat32``: it keeps header values as raw strings, so a huge header
made of thousands of encoded-words costs nothing until we decode it, and we decode at most
``MAX_HEADER_CHARS`` of it. The MIME tree is walked without recursion, with limits on depth,
part count and decoded size (A-6). HTML is sanitised in ``sanitize.py``.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header
from email.message import Message as MimePart
from email.policy import compat32
from email.utils import format_datetime, parsedate_to_datetime

from .filenames import filename_clean
from .sanitize import InlineImage, html_sanitize

MAX_HEADER_CHARS = 4096
MAX_DEPTH = 25
MAX_PARTS = 300
MAX_PART_BYTES = 25 * 1024 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # decoded, all parts together
MAX_TEXT_CHARS = 1024 * 1024
DISPLAY_HEADERS = ("From", "To", "Cc", "Date", "Subject")
BODY_TYPES = ("text/plain", "text/html")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
WSP_RE = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str  # as the sender declared it: shown, never used for serving
    size: int


@dataclass
class Rendered:
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    html: str | None = None  # sanitised
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remote_blocked: int = 0


def header_decode(value: str | None, limit: int = MAX_HEADER_CHARS) -> str:
    """A raw header value as display text: RFC 2047 and 8-bit UTF-8 (RFC 6532) decoded."""
    if not value:
        return ""
    value = str(value)
    truncated = len(value) > limit
    value = value[:limit]
    # compat32 keeps 8-bit bytes as surrogate escapes; RFC 6532 says they are UTF-8.
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        chunks = decode_header(value)
        text = "".join(
            _bytes_text(chunk, charset) if isinstance(chunk, bytes) else chunk
            for chunk, charset in chunks
        )
    except Exception:  # a broken encoded-word: show the raw text
        text = value
    text = WSP_RE.sub(" ", CONTROL_RE.sub("", text)).strip()
    return text + (" …" if truncated else "")


def _bytes_text(data: bytes, charset: str | None) -> str:
    codec = _text_codec(charset or "us-ascii") or "utf-8"
    return data.decode(codec, "replace")


def _text_codec(charset: str) -> str | None:
    """The Python codec for a MIME charset, or None when unknown or not a text encoding."""
    try:
        info = codecs.lookup(charset.strip().strip('"').lower())
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _walk(root: MimePart, notes: list[str]) -> Iterator[MimePart]:
    """Leaf parts in document order, iteratively, within MAX_DEPTH and MAX_PARTS."""
    stack: list[tuple[MimePart, int]] = [(root, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            notes.append(f"The message has more than {MAX_PARTS} parts; the rest is not shown.")
            return
        children = part.get_payload() if part.is_multipart() else None
        if isinstance(children, list) and part.get_content_maintype() == "multipart":
            if depth >= MAX_DEPTH:
                notes.append("Parts nested too deeply are not shown.")
                continue
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, MimePart)
            )
            continue
        yield part


def _is_attachment(part: MimePart) -> bool:
    ctype = part.get_content_type()
    if ctype not in BODY_TYPES:
        return True
    # An HTML attachment is never rendered (H-4); a named text part is a file too.
    return part.get_content_disposition() == "attachment"


def _payload(part: MimePart, limit: int) -> bytes | None:
    """The decoded part, or None when damaged or larger than `limit` bytes. An encoded part
    that could decode to more is refused before it is decoded."""
    if part.is_multipart():  # message/rfc822 and friends: the enclosed message as bytes
        try:
            enclosed = part.as_bytes(policy=compat32)[: limit + 1]
        except Exception:
            return None
        return enclosed if len(enclosed) <= limit else None
    raw = part.get_payload()
    if isinstance(raw, str) and len(raw) > limit * 4 // 3 + 4096:
        return None
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return None
    return data if isinstance(data, bytes) and len(data) <= limit else None


def _decoded(msg: MimePart, notes: list[str]) -> Iterator[tuple[int, MimePart, bytes | None]]:
    """Each leaf part with its bytes, None past MAX_PART_BYTES or once the whole message has
    decoded to MAX_MESSAGE_BYTES (A-6); render and download see the same parts."""
    budget, noted = MAX_MESSAGE_BYTES, False
    for index, part in enumerate(_walk(msg, notes)):
        limit = min(MAX_PART_BYTES, budget)
        data = _payload(part, limit) if limit > 0 else None
        if data is not None:
            budget -= len(data)
        elif limit < MAX_PART_BYTES and not noted:  # refused for the message's budget
            notes.append("The message decodes to too much to show all of it.")
            noted = True
        yield index, part, data


def _part_text(part: MimePart, data: bytes, *, html: bool, notes: list[str]) -> str:
    declared = part.get_content_charset() or "us-ascii"
    codec = _text_codec(declared)
    if codec == "utf-7" and html:
        # UTF-7 would turn "+ADw-script+AD4-" into markup; browsers dropped it (H-2).
        notes.append("An HTML part in UTF-7 is shown without decoding the UTF-7.")
        codec = "ascii"
    elif codec is None:
        notes.append(f"Unknown character set '{header_decode(declared, 60)}': shown as UTF-8.")
        codec = "utf-8"
    elif codec == "ascii":  # undeclared or us-ascii mail often carries UTF-8 anyway
        codec = "utf-8"
    try:
        return data.decode(codec, "replace")
    except Exception:
        return data.decode("utf-8", "replace")


def attachment_name(part: MimePart, index: int) -> str:
    try:
        raw = part.get_filename() or part.get_param("name") or ""
        if isinstance(raw, str) and "\ufffd" in raw:  # 8-bit, lost by compat32: read as UTF-8
            raw = _utf8_filename(part) or raw
    except Exception:
        raw = ""
    if isinstance(raw, tuple):  # an undecodable RFC 2231 value
        raw = raw[2]
    name = header_decode(raw if isinstance(raw, str) else "", 1024) if raw else ""
    if not name and part.get_content_type() == "message/rfc822":
        name = "message.eml"
    return filename_clean(name, fallback=f"attachment-{index}")


def _utf8_filename(part: MimePart) -> str:
    """The name from raw 8-bit parameters, taken as UTF-8 (RFC 6532), as most mailers mean."""
    probe = MimePart()
    for name, value in part.raw_items():
        if name.lower() in ("content-disposition", "content-type"):
            text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            probe[name] = text[:MAX_HEADER_CHARS]
    found = probe.get_filename() or probe.get_param("name") or ""
    return found if isinstance(found, str) else ""


def message_parse(raw: bytes) -> tuple[MimePart, list[str]]:
    """The parsed message; a message too deep to parse falls back to its headers only."""
    notes: list[str] = []
    try:
        return message_from_bytes(raw, policy=compat32), notes
    except (RecursionError, Exception):
        notes.append("The structure of this message could not be read; shown as plain text.")
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    part = message_from_bytes(head + b"\n\n", policy=compat32)
    part.set_payload(body[:MAX_TEXT_CHARS].decode("utf-8", "replace"))
    del part["Content-Type"], part["Content-Transfer-Encoding"]
    return part, notes


def _display_headers(msg: MimePart) -> dict[str, str]:
    headers = {name: header_decode(msg.get(name)) for name in DISPLAY_HEADERS}
    with contextlib.suppress(Exception):  # else keep the header as it was written
        date = parsedate_to_datetime(msg.get("Date") or "")
        headers["Date"] = format_datetime(date) if date else headers["Date"]
    return headers


def message_render(raw: bytes, *, allow_remote: bool = False) -> Rendered:
    msg, notes = message_parse(raw)
    out = Rendered(headers=_display_headers(msg), notes=notes)
    texts: list[str] = []
    htmls: list[str] = []
    images: dict[str, InlineImage] = {}
    for index, part, data in _decoded(msg, out.notes):
        if _is_attachment(part):
            name = attachment_name(part, index)
            ctype = header_decode(part.get_content_type(), 100)
            if data is None:
                out.notes.append(f"The attachment '{name}' is too large or damaged.")
                continue
            out.attachments.append(Attachment(index, name, ctype, len(data)))
            cid = header_decode(part.get("Content-ID"), 300).strip("<> ")
            if cid:
                images[cid] = InlineImage(part.get_content_type(), data)
            continue
        if data is None:
            out.notes.append("A part of this message could not be decoded and is not shown.")
            continue
        is_html = part.get_content_type() == "text/html"
        text = _part_text(part, data, html=is_html, notes=out.notes)
        (htmls if is_html else texts).append(text)
    out.text = "\n\n".join(texts)
    if len(out.text) > MAX_TEXT_CHARS:
        out.text = out.text[:MAX_TEXT_CHARS]
        out.notes.append("The text is too long and was cut short.")
    if htmls:
        out.html, out.remote_blocked = html_sanitize(
            "\n".join(htmls), images=images, allow_remote=allow_remote
        )
    return out


def attachment_read(raw: bytes, index: int) -> tuple[str, bytes] | None:
    """The (clean name, bytes) of the attachment with this index, as listed by render."""
    msg, notes = message_parse(raw)
    for position, part, data in _decoded(msg, notes):
        if position == index and _is_attachment(part):
            return (attachment_name(part, index), data) if data is not None else None
    return None
