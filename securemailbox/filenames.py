"""Attachment names fit to show and to offer for download (portal-attacks.md A-1, A-2).

The name is only a label: attachments are never stored under it (the whole message is
stored encrypted under a name made from the queue id, crypto.py). It is cut to its last
path segment (``/`` and ``\\``, so ``C:\\boot.ini`` and ``\\\\server\\share\\x`` too), stripped of
control and bidi-override characters, Windows-unsafe characters are replaced, trailing dots
and spaces (which Windows drops) are removed, Windows device names are prefixed, and the
length is capped in characters and in UTF-8 bytes (file systems count bytes), the
extension kept.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 120
MAX_NAME_BYTES = 240  # below the 255 bytes of ext4, APFS and NTFS (UTF-16: fewer units)
MAX_EXTENSION = 16
# Device names, also with an extension ("NUL.txt", "aux.tar.gz"), before one after spaces
# ("CON .txt"), and COM/LPT with a superscript digit, which Windows reserves too.
WINDOWS_RESERVED = re.compile(
    r"^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)"
    r"\s*(\..*)?\Z",
    re.IGNORECASE,
)
UNSAFE_CHARS = re.compile(r'[\\/:*?"<>|;]')


def filename_clean(name: str, *, fallback: str = "attachment") -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Cc (controls, NUL, CR/LF), Cf (bidi overrides U+202A-E, U+2066-9, zero widths).
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"})
    name = UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name or set(name) <= {".", "_", " "}:
        return fallback
    if WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    return _capped(name)


def _capped(name: str) -> str:
    if len(name) <= MAX_NAME and len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    ext = ext[:MAX_EXTENSION] if dot and stem else ""
    stem = stem if ext else name
    suffix = f".{ext}" if ext else ""
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem[: MAX_NAME - len(suffix)]
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "attachment") + suffix
