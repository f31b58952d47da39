"""The sanitiser on its own: every payload of xss-payloads.txt (the browser check is in
test_portal_browser.py), the allowlist's URL and style rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_cid_images_become_data_uris_for_raster_types_only():
    images = {
        "a@x": InlineImage("image/png", b"\x89PNG"),
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
