"""Header values as text: unfolding (RFC 5322 §2.2.3), 8-bit and RFC 2047 decoding."""

from __future__ import annotations

import binascii
import codecs
import re

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]")
# RFC 2047 §2 encoded-word; an RFC 2231 §5 language suffix ("utf-8*en") is accepted.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")


def unfold(value: str) -> str:
    """Remove folding (CRLF before white space) and stray line breaks; strip the ends."""
    return _LINE_BREAK.sub("", _FOLD.sub("", value)).strip()


def decode_value(value: object, name: str, notes: list[str], *, rfc2047: bool = True) -> str | None:
    """A raw header value as text, or None (and a note) when it cannot be read.

    Raw 8-bit bytes reach us as surrogate escapes (compat32); they must be UTF-8 (RFC 6532
    §3.2), anything else makes the header count as absent.
    """
    text = unfold(value if isinstance(value, str) else str(value))
    if not text.isascii():
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeError:
            notes.append(f"header {name}: 8-bit bytes that are not UTF-8; ignored")
            return None
    if rfc2047 and "=?" in text:
        text = decode_encoded_words(text, name, notes)
    return text


def decode_encoded_words(text: str, name: str, notes: list[str]) -> str:
    """Decode RFC 2047 encoded-words; one that cannot be decoded is left as it is (§6.2)."""
    out: list[str] = []
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        # RFC 2047 §6.2: white space between adjacent encoded-words is not displayed.
        if not (previous_was_word and not between.strip()):
            out.append(between)
        decoded, problem = _decode_word(*match.groups())
        if decoded is None:
            notes.append(f"header {name}: an encoded-word could not be decoded; kept as is")
            decoded = match.group(0)
        elif problem:
            notes.append(f"header {name}: an encoded-word {problem}")
        out.append(decoded)
        position = match.end()
        previous_was_word = True
    out.append(text[position:])
    return "".join(out)


def _decode_word(charset: str, encoding: str, data: str) -> tuple[str | None, str | None]:
    """(text, problem): text None when the word cannot be decoded at all.

    Decoding is as lenient as a mail reader's, so a policy sees what the recipient will see;
    what a strict decoder would refuse is named in ``problem`` (for the parse notes).
    """
    try:
        codec = codecs.lookup(charset).name
        payload, problem = _payload(encoding, data.encode("ascii"))
        try:
            return payload.decode(codec), problem
        except UnicodeDecodeError:
            text = payload.decode(codec, errors="replace")
            return text, problem or f"has bytes that are not {codec}: replaced"
    except (LookupError, UnicodeError, binascii.Error, ValueError):
        return None, None


def _payload(encoding: str, raw: bytes) -> tuple[bytes, str | None]:
    if encoding in "Qq":
        return binascii.a2b_qp(raw, header=True), None
    padded = raw + b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True), None
    except binascii.Error:
        skipped = "is not valid base64: the characters outside base64 were skipped"
        return binascii.a2b_base64(padded), skipped
