"""Inline images re-encoded before the portal shows them (portal-attacks.md A-5).

A sender's bytes are never passed through to the reader's browser as an image: a polyglot
(``GIF89a/*<svg onload=...>*/``, a ZIP inside a PNG) is a valid image to a lenient decoder
and something else to another. Pillow decodes the picture and writes a fresh PNG (or JPEG
for a photograph that came as one) of its pixels only, so nothing but pixels survives:
no trailing archive, no comments, no metadata, no second interpretation. What Pillow cannot
decode, or what would decode to more than `MAX_PIXELS` (a decompression bomb, A-6), is
not shown.
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

MAX_PIXELS = 25_000_000  # ~ a 5000 x 5000 picture; far beyond anything a mail body shows
FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}


def image_reencode(data: bytes) -> tuple[str, bytes] | None:
    """(content type, fresh bytes) of the first frame of the picture in `data`, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in FORMATS:
                    return None
                width, height = image.size
                if width * height > MAX_PIXELS:  # checked from the header, before decoding
                    return None
                photo = image.format == "JPEG"
                image.seek(0)  # an animation: its first frame
                pixels = image.convert("RGB" if photo else "RGBA")
        out = io.BytesIO()
        if photo:
            pixels.save(out, format="JPEG", quality=90)
            return "image/jpeg", out.getvalue()
        pixels.save(out, format="PNG", optimize=False)
        return "image/png", out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError, SyntaxError) as exc:  # fmt: skip
        log.info("inline image not shown: %s", type(exc).__name__)
        return None
