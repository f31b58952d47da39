"""Attachment names fit to show and to offer for download (portal-attacks.md A-1, A-2).

The name is only a label: attachments are never stored under it. It is cut to its last
path segment, stripped of control and bidi-override characters, capped in length (the
extension kept), and Windows device names are prefixed.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 120
WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?\Z", re.IGNORECASE)
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
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        name = name[: MAX_NAME - len(ext) - 1].rstrip(" .") + (f".{ext}" if ext else "")
    return name
