"""The sanitiser on its own: every payload of xss-payloads.txt (the browser check is in
test_portal_browser.py), the allowlist's URL and style rules."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from securemailbox.sanitize import InlineImage, html_sanitize

PAYLOADS_FILE = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "xss-payloads.txt"
PAYLOADS = [
    line
    for line in PAYLOADS_FILE.read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
FORBIDDEN_TAGS = re.compile(
    r"<\s*(script|meta|base|form|iframe|object|embed|link|style|svg|math)\b", re.I
)
ON_ATTR = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
BAD_URL = re.compile(r"(javascript|vbscript|data:text/html|livescript)", re.I)


def test_payloads_loaded():
    assert len(PAYLOADS) > 120


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_is_defused(payload: str):
    cleaned, _ = html_sanitize(payload)
    assert not FORBIDDEN_TAGS.search(cleaned), cleaned
    assert not ON_ATTR.search(cleaned), cleaned
    for attr in re.findall(r'(?:href|src|action|style|background)="([^"]*)"', cleaned):
        assert not BAD_URL.search(attr), cleaned
    for tag in re.findall(r"<[a-z][^>]*>", cleaned):  # no remote URL in any tag (text is text)
        assert "tracker.example" not in tag and "ha.ckers.org" not in tag, cleaned


def test_links_keep_web_and_mail_schemes_only():
    cleaned, _ = html_sanitize(
        '<a href="https://a.example/">a</a><a href="mailto:x@y">m</a>'
        '<a href="ftp://f/">f</a><a href="data:text/html,x">d</a>'
    )
    assert cleaned.count("href=") == 2


def test_remote_images_counted_and_kept_only_when_allowed():
    html = '<img src="https://t.example/a.png"><img src="http://t.example/b.png">'
    blocked, count = html_sanitize(html)
    assert count == 2 and "t.example" not in blocked
    allowed, count = html_sanitize(html, allow_remote=True)
    assert count == 0 and allowed.count("t.example") == 2


def png(width: int = 4, height: int = 3) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 255)).save(out, format="PNG")
    return out.getvalue()


def data_uri_bytes(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/[a-z]+;base64,([^\"]+)", html)]


def test_cid_images_become_data_uris_for_raster_types_only():
    images = {
        "a@x": InlineImage("image/png", png()),
        "s@x": InlineImage("image/svg+xml", b"<svg onload=alert(1)>"),
    }
    cleaned, _ = html_sanitize('<img src="cid:a@x"><img src="cid:s@x">', images=images)
    assert cleaned.count("data:image/png;base64,") == 1 and "svg" not in cleaned


def test_styles_keep_harmless_properties_without_urls():
    cleaned, _ = html_sanitize(
        '<p style="color: red; position: fixed; background: url(x); '
        'background-color: url(https://t/); font-weight: bold; behavior: url(x.htc)">x</p>'
    )
    assert cleaned == '<p style="color:red;font-weight:bold">x</p>'


def test_inline_images_are_re_encoded_from_their_pixels__polyglots_lose_their_payload():
    """A-5: what reaches the browser is a fresh picture, never the sender's bytes."""
    gif = io.BytesIO()
    Image.new("P", (2, 2)).save(gif, format="GIF")
    polyglot_gif = gif.getvalue() + b"/*<svg onload=alert(1)>*/=alert(1)//"
    zip_in_png = png() + b"PK\x03\x04" + b"\x00" * 26 + b"evil.jar" + b"PK\x05\x06" + b"\x00" * 18
    images = {
        "g@x": InlineImage("image/gif", polyglot_gif),
        "z@x": InlineImage("image/png", zip_in_png),
    }
    cleaned, _ = html_sanitize('<img src="cid:g@x"><img src="cid:z@x">', images=images)
    shown = data_uri_bytes(cleaned)
    assert len(shown) == 2
    for data in shown:
        assert b"svg" not in data and b"alert" not in data and b"PK\x03\x04" not in data
        assert Image.open(io.BytesIO(data)).format == "PNG"  # decodable, and only pixels
    assert shown[0] != polyglot_gif and shown[1] != zip_in_png


def test_inline_images_that_are_not_pictures_or_are_bombs_are_not_shown():
    header = png(1, 1)
    # A PNG whose IHDR claims 6,000 x 6,000 pixels: a decompression bomb over our cap.
    ihdr = b"IHDR" + struct.pack(">II", 6_000, 6_000) + header[24:29]
    bomb = header[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + header[33:]
    assert Image.open(io.BytesIO(bomb)).size == (6_000, 6_000)  # a valid header
    images = {
        "junk@x": InlineImage("image/png", b"\x89PNG not really"),
        "bomb@x": InlineImage("image/png", bomb),
        "ok@x": InlineImage("image/jpeg", _jpeg()),
    }
    cleaned, _ = html_sanitize(
        '<img src="cid:junk@x"><img src="cid:bomb@x"><img src="cid:ok@x">', images=images
    )
    assert cleaned.count("data:image/") == 1 and "data:image/jpeg;base64," in cleaned


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def test_the_pixel_cap_is_read_from_the_header_before_decoding(monkeypatch):
    from securemailbox import images

    assert images.image_reencode(png(4, 3)) is not None
    monkeypatch.setattr(images, "MAX_PIXELS", 11)  # 4 x 3 = 12 pixels: one too many
    assert images.image_reencode(png(4, 3)) is None
