"""/work/shared/corpus/portal-attacks.md, case by case (the ids are the document's).

H-1 and H-5 (every payload in xss-payloads.txt) run in Chromium in test_portal_browser.py and
against the sanitiser in test_sanitize.py; H-13 (the corpus) is in test_render.py."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import re
from collections.abc import Callable
from email import message_from_bytes, policy
from html import escape
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from relay.models import Message
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.crypto import store_name_for
from securemailbox.models import SecureMessage
from securemailbox.purl import TOKEN_RE, default_token_generator
from securemailbox.services import securemessage_revoke
from tests.securemailbox.helpers import make_raw

pytestmark = pytest.mark.django_db
CASES: dict[str, Callable[..., None]] = {}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def case(case_id: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(fn: Callable[..., None]) -> Callable[..., None]:
        CASES[case_id] = fn
        return fn

    return register


def body_of(client: Client, token: str) -> str:
    response = client.get(f"/m/{token}/body/")
    assert response.status_code == 200
    return response.content.decode()


def raw_mime(body: bytes, ctype: str, cte: str = "7bit", extra: bytes = b"") -> bytes:
    return (
        b"From: Alice <alice@sender.test>\r\nTo: bob@partner.test\r\nSubject: Attack\r\n"
        b"MIME-Version: 1.0\r\n" + extra + b"Content-Type: " + ctype.encode() + b"\r\n"
        b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + body
    )


@case("H-2")
def _transfer_and_charset_decoded_before_sanitising(client, redirect):
    script = b"<script>alert(1)</script><img src=x onerror=alert(1)>"
    qp = script.replace(b"<", b"=3C").replace(b">", b"=3E").replace(b"=x", b"=3Dx")
    bodies = [
        raw_mime(qp, "text/html; charset=us-ascii", "quoted-printable"),
        raw_mime(base64.b64encode(script), "text/html; charset=utf-8", "base64"),
        raw_mime(b"+ADw-script+AD4-alert(1)+ADw-/script+AD4-", "text/html; charset=utf-7"),
        raw_mime(script.decode().encode("utf-16"), "text/html; charset=utf-16", "binary"),
        raw_mime(script, "text/html; charset=x-lying-charset"),
    ]
    for raw in bodies:
        html = body_of(client, redirect(raw).token)
        assert "<script" not in html.lower() and "onerror" not in html.lower(), html
    utf7 = body_of(client, redirect(bodies[2]).token)
    assert "+ADw-script+AD4-" in utf7  # shown as the literal text, never decoded to markup


@case("H-3")
def _alternative_hostile_html_and_cid_images_of_the_same_message(client, redirect):
    hostile = '<p onmouseover="alert(1)">hi</p><img src="cid:logo@x"><img src="cid:other@x">'
    raw = make_raw(html=hostile, attachments=[("logo.png", "image/png", PNG)])
    msg = message_from_bytes(raw, policy=policy.default)
    for part in msg.iter_attachments():
        part["Content-ID"] = "<logo@x>"
    done = redirect(msg.as_bytes(policy=policy.SMTP))
    html = body_of(client, done.token)
    assert "onmouseover" not in html and "<p>hi</p>" in html
    assert html.count("data:image/png;base64,") == 1  # cid:other@x is not in this message
    assert "cid:" not in html


@case("H-4")
def _html_attachment_never_rendered(client, redirect):
    raw = make_raw(attachments=[("x.html", "text/html", b"<h1>ATTACHED-HTML</h1>")])
    done = redirect(raw)
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "ATTACHED-HTML" not in page and "x.html" in page
    assert "ATTACHED-HTML" not in client.get(f"/m/{done.token}/body/").content.decode()
    inline = redirect(raw_mime(b"<h1>INLINE</h1><script>x()</script>", "text/html"))
    page = client.get(f"/m/{inline.token}/").content.decode()
    assert "<h1>INLINE</h1>" not in page  # only inside the sandboxed body document
    assert "<h1>INLINE</h1>" in body_of(client, inline.token)


@case("H-6")
def _no_remote_request_until_asked(client, redirect):
    html = (
        '<img src="https://tracker.example/o.gif"><div style="background-image:'
        'url(https://tracker.example/bg.png)">s</div><style>@import url(https://tracker.example/'
        'x.css);</style><table background="https://tracker.example/t.png"><tr><td>x</td></tr>'
        '</table><img srcset="https://tracker.example/1x.png 1x"><video poster="https://'
        'tracker.example/p.png"></video><link rel="prefetch" href="https://tracker.example/p">'
        '<img src="//tracker.example/pr.gif">'
    )
    assert "tracker.example" not in body_of(client, redirect(make_raw(html=html)).token)


@case("H-7")
def _no_referrer_anywhere_and_links_noopener(client, redirect):
    done = redirect(make_raw(html='<a href="https://x.example/">x</a>'))
    for url in (f"/m/{done.token}/", f"/m/{done.token}/body/", f"/m/{done.token}/reply/",
                f"/m/{done.token}/attachment/9/", "/m/unknown/"):  # fmt: skip
        assert client.get(url)["Referrer-Policy"] == "no-referrer", url
    assert 'rel="noopener noreferrer"' in body_of(client, done.token)


@case("H-8")
def _relative_urls_never_resolve_against_the_purl(client, redirect):
    html = (
        '<img src="delete"><a href="../OTHER/">o</a><form action="release" method=post>'
        '<button>b</button></form><base href="https://phish.example/"><a href="login">l</a>'
    )
    body = body_of(client, redirect(make_raw(html=html)).token)
    assert not re.search(r'(src|href|action)="(?!https?:|mailto:|data:)', body), body
    assert "<form" not in body and "<base" not in body
    done = redirect(make_raw(html="<p>x</p>"))
    page = client.get(f"/m/{done.token}/").content.decode()
    sandbox = re.search(r'<iframe[^>]*sandbox="([^"]*)"', page).group(1).split()
    assert not {"allow-same-origin", "allow-forms", "allow-scripts"} & set(sandbox)


@case("H-9")
def _no_full_page_overlay(client, redirect):
    html = '<div style="position:fixed;top:0;z-index:2147483647;color:red">Sign in</div>'
    body = body_of(client, redirect(make_raw(html=html)).token)
    assert "position" not in body and "z-index" not in body and "color:red" in body


@case("H-10")
def _target_blank_links_get_noopener(client, redirect):
    body = body_of(client, redirect(make_raw(html='<a href="https://p.example/">o</a>')).token)
    assert re.search(
        r'<a href="https://p.example/" target="_blank" rel="noopener noreferrer">', body
    )


@case("H-11")
def _plain_text_holding_html_is_escaped(client, redirect):
    text = "<b>x</b><script>alert(1)</script> " + "http://a.example/" + "a" * 200_000 + "\n"
    page = client.get(f"/m/{redirect(make_raw(text=text)).token}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page


@case("H-12")
def _headers_and_names_escaped_in_portal_and_admin(client, admin_client, redirect):
    payload = '"><svg/onload=alert(1)></title><script>alert(1)</script>'
    raw = make_raw(subject=payload, attachments=[(payload + ".txt", "text/plain", b"x")])
    raw = raw.replace(b"From: Alice", b"From: =?utf-8?q?=3Cscript=3Ealert=281=29=3C/script=3E?=")
    done = redirect(raw)
    for page in (
        client.get(f"/m/{done.token}/").content.decode(),
        admin_client.get("/securemailbox/").content.decode(),
        admin_client.get(f"/securemailbox/items/{done.item.pk}/").content.decode(),
    ):
        assert "<svg" not in page and "<script>alert" not in page
        assert "&lt;script&gt;" in page


@case("H-13")
def _deep_nesting_and_broken_mime_never_error(client, redirect):
    for depth, note in ((40, "nested too deeply"), (1200, "could not be read")):
        _nested(client, redirect, depth, note)


def _nested(client, redirect, depth, note):
    body = (
        b"".join(
            b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
            for i in range(depth)
        )
        + b"Content-Type: text/plain\r\n\r\nDEEP-TEXT\r\n"
    )
    raw = b"From: a@sender.test\r\nTo: bob@partner.test\r\nSubject: deep\r\n" + body
    done = redirect(raw)
    response = client.get(f"/m/{done.token}/")
    assert response.status_code == 200 and note in response.content.decode()
    assert client.get(f"/m/{done.token}/body/").status_code == 200


@case("H-14")
def _templates_shown_literally(client, redirect):
    done = redirect(make_raw(subject="{{7*7}}", html="<p>{{7*7}}{% debug %}</p>"))
    assert "{{7*7}}" in client.get(f"/m/{done.token}/").content.decode()
    assert "{{7*7}}{% debug %}" in body_of(client, done.token)


@case("A-1")
def _attachment_names_cleaned(client, redirect, settings):
    names = ["../../etc/passwd", "..\\..\\windows\\win.ini", "invoice\u202efdp.exe",
             "CON", "a\x00.html", "x" * 300 + ".pdf", "...", ""]  # fmt: skip
    raw = make_raw(attachments=[(n, "application/octet-stream", b"x") for n in names])
    done = redirect(raw)
    page = client.get(f"/m/{done.token}/").content.decode()
    for shown in ("passwd", "win.ini", "invoicefdp.exe", "_CON", "a.html", "attachment-"):
        assert shown in page, shown
    assert "../" not in page and "\u202e" not in page and "x" * 121 not in page
    # Stored under a name of ours (from the queue id), never under one of the sender's.
    stored = [p.name for p in Path(settings.MAILGATE_SECURE_STORE_DIR).iterdir()]
    assert stored == [store_name_for(done.message.queue_id)]


def one_attachment(params: str) -> bytes:
    """A message whose only attachment has this Content-Disposition, byte for byte."""
    part = (
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        + params.encode()
        + b"\r\n\r\nx\r\n--B--\r\n"
    )
    text = b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    return raw_mime(text + part, "multipart/mixed; boundary=B")


def offered_name(disposition: str) -> str:
    """The file name a browser takes from Django's Content-Disposition."""
    if "filename*=utf-8''" in disposition:
        return unquote(disposition.split("filename*=utf-8''", 1)[1])
    quoted = re.search(r'filename="((?:[^"\\]|\\.)*)"', disposition).group(1)
    return re.sub(r"\\(.)", r"\1", quoted)


# portal-attacks.md A-1: the get_filename() table and the names listed below it, with the
# RFC 2231 (filename*, continuations, charsets) and RFC 2047 (in a parameter) forms.
A1_NAMES = [
    (r'filename="../../etc/passwd"', "passwd"),
    (r'filename="..\\..\\windows\\win.ini"', "win.ini"),
    ("filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
    ('filename="=?UTF-8?B?Li4vLi4vZXRjL3Bhc3N3ZA==?="', "passwd"),
    ('filename*0="../"; filename*1="../"; filename*2="x.html"', "x.html"),
    ("filename*0*=UTF-8''..%2F; filename*1*=%E2%80%AEx.html", "x.html"),
    ("filename*=UTF-8''invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),
    ("filename*=UTF-8''%E2%81%A6evil%E2%81%A9.txt", "evil.txt"),
    ("filename*=UTF-8''a%00.html", "a.html"),
    ("filename=report.pdf; filename=evil.html", "report.pdf"),
    ('filename="/etc/passwd"', "passwd"),
    (r'filename="C:\\boot.ini"', "boot.ini"),
    (r'filename="\\\\server\\share\\x"', "x"),
    ("filename*=UTF-8''%5C%5Cserver%5Cshare%5Cx", "x"),
    ('filename="=?UTF-8?Q?=5C=5Cserver=5Cshare=5Cx?="', "x"),
    ('filename="CON"', "_CON"),
    ('filename="NUL.txt"', "_NUL.txt"),
    ('filename="aux.pdf"', "_aux.pdf"),
    ("filename*=UTF-8''LPT1.tar.gz", "_LPT1.tar.gz"),
    ('filename="report.pdf."', "report.pdf"),
    ('filename="report.pdf "', "report.pdf"),
    ('filename="CON . "', "_CON"),
    ('filename="=?UTF-8?Q?a=0D=0ASet-Cookie:_x.txt?="', "a Set-Cookie_ x.txt"),
    ("filename*=iso-8859-1''r%E9sum%E9.pdf", "r\u00e9sum\u00e9.pdf"),
    ('filename="=?ISO-8859-1?Q?r=E9sum=E9.pdf?="', "r\u00e9sum\u00e9.pdf"),
    ('filename="r\u00e9sum\u00e9.pdf"', "r\u00e9sum\u00e9.pdf"),  # raw 8-bit UTF-8 (RFC 6532)
    ('filename="COM\u00b9.txt"', "_COM\u00b9.txt"),
    ('filename=""', "attachment-1"),
    ('filename="...."', "attachment-1"),
    ('filename=". . ."', "attachment-1"),
]


@pytest.mark.parametrize(("params", "expected"), A1_NAMES)
def test_a1__names_as_sent_are_shown_and_offered_clean(client, redirect, params, expected):
    done = redirect(one_attachment(params))
    page = client.get(f"/m/{done.token}/").content.decode()
    assert f">{escape(expected)}</a>" in page, expected
    response = client.get(f"/m/{done.token}/attachment/1/")
    assert response.status_code == 200
    assert offered_name(response["Content-Disposition"]) == expected


@pytest.mark.parametrize("char", ["x", "\u00e9", "\U0001f600"])
def test_a1__long_names_are_capped_in_characters_and_bytes(client, redirect, char):
    params = "filename*=UTF-8''" + quote(char * 300 + ".pdf")
    done = redirect(one_attachment(params))
    name = offered_name(client.get(f"/m/{done.token}/attachment/1/")["Content-Disposition"])
    assert name.endswith(".pdf") and name.startswith(char)
    assert len(name) <= 120 and len(name.encode()) <= 240


@case("A-2")
def _content_disposition_stays_one_header(client, redirect):
    part = (
        b"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename*=UTF-8''"
        b"a%22%3B%0D%0ASet-Cookie%3A%20x%3D1%3B.txt\r\n\r\nx\r\n--B--\r\n"
    )
    raw = raw_mime(
        b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n" + part, "multipart/mixed; boundary=B"
    )
    done = redirect(raw)
    response = client.get(f"/m/{done.token}/attachment/1/")
    assert response.status_code == 200
    assert "\n" not in response["Content-Disposition"] and "Set-Cookie" not in response.headers
    assert response["Content-Disposition"].startswith("attachment;")


@case("A-3")
def _sniffable_content_served_as_octet_stream(client, redirect):
    done = redirect(make_raw(attachments=[("p.png", "image/png", b"<html><script>alert(1)")]))
    response = client.get(f"/m/{done.token}/attachment/1/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")


@case("A-4")
def _active_types_never_inline(client, redirect):
    types = ["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/pdf"]
    raw = make_raw(
        attachments=[(f"f{i}", t, b"<svg onload=alert(1)/>") for i, t in enumerate(types)]
    )
    done = redirect(raw)
    for index in range(1, len(types) + 1):
        response = client.get(f"/m/{done.token}/attachment/{index}/")
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
    assert "onload" not in client.get(f"/m/{done.token}/").content.decode()


@case("A-6")
def _thousands_of_tiny_parts_are_counted(client, redirect):
    raw = make_raw(attachments=[(f"p{i}.txt", "text/plain", b"x") for i in range(400)])
    page = client.get(f"/m/{redirect(raw).token}/").content.decode()
    assert "more than 300 parts" in page


POLYGLOT_GIF = b"GIF89a/*<svg onload=alert(1)>*/=alert(1)//"
ZIP_IN_PNG = PNG + b"PK\x03\x04" + b"\x00" * 26 + b"evil.jar" + b"PK\x05\x06" + b"\x00" * 18


@case("A-5")
def _polyglots_are_downloads_only(client, redirect):
    raw = make_raw(
        attachments=[("cat.gif", "image/gif", POLYGLOT_GIF), ("cat.png", "image/png", ZIP_IN_PNG)]
    )
    done = redirect(raw)
    for index, data in ((1, POLYGLOT_GIF), (2, ZIP_IN_PNG)):
        response = client.get(f"/m/{done.token}/attachment/{index}/")
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == data
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "onload" not in page and "<svg" not in page and "data:image" not in page


def test_a6__decoded_size_is_capped_per_part_and_per_message(client, redirect, monkeypatch):
    from securemailbox import render

    monkeypatch.setattr(render, "MAX_PART_BYTES", 1000)
    monkeypatch.setattr(render, "MAX_MESSAGE_BYTES", 2500)
    files = [("a.bin", 900), ("big.bin", 1500), ("b.bin", 900), ("c.bin", 900), ("d.bin", 10)]
    raw = make_raw(
        text="short\n",
        attachments=[(name, "application/octet-stream", b"\xaa" * size) for name, size in files],
    )
    done = redirect(raw)
    page = client.get(f"/m/{done.token}/").content.decode()
    # a and b fit (with the text: about 1810 bytes); big is over the part cap; c would take
    # the message past 2500 bytes, so it is not even decoded; the small d still fits.
    for name, index, shown in (("a.bin", 1, True), ("big.bin", 2, False), ("b.bin", 3, True),
                               ("c.bin", 4, False), ("d.bin", 5, True)):  # fmt: skip
        assert (f">{name}</a>" in page) is shown, name
        assert (f"The attachment &#x27;{name}&#x27; is too large" in page) is not shown, name
        status = client.get(f"/m/{done.token}/attachment/{index}/").status_code
        assert status == (200 if shown else 404), name
    assert "decodes to too much" in page


@case("A-7")
def _attachment_of_another_item_is_out_of_reach(client, redirect):
    mine = redirect(make_raw(attachments=[]))
    theirs = redirect(make_raw(attachments=[("secret.txt", "text/plain", b"SECRET")]))
    assert client.get(f"/m/{mine.token}/attachment/1/").status_code == 404
    assert client.get(f"/m/{theirs.token}/attachment/1/").status_code == 200
    assert client.get(f"/m/{theirs.token}/attachment/0/").status_code == 404  # the text body


@case("A-8")
def _cid_resolves_only_within_the_same_message(client, redirect):
    other = make_raw(attachments=[("logo.png", "image/png", PNG)])
    msg = message_from_bytes(other, policy=policy.default)
    for part in msg.iter_attachments():
        part["Content-ID"] = "<shared@x>"
    redirect(msg.as_bytes(policy=policy.SMTP))
    html = '<img src="cid:shared@x"><img src="cid:../../../../etc/passwd">'
    body = body_of(client, redirect(make_raw(html=html)).token)
    assert "<img>" in body and "data:" not in body and "passwd" not in body


@case("T-1")
def _tokens_are_long_random_and_unique(client, redirect):
    tokens = [default_token_generator.make_token()[0] for _ in range(10_000)]
    assert all(TOKEN_RE.match(t) for t in tokens) and len(set(tokens)) == 10_000
    assert len({t[:8] for t in tokens}) == 10_000
    assert len(redirect().token) == 43  # 256 bits


@case("T-2")
def _brute_force_is_rate_limited_and_misses_look_alike(client, redirect):
    done = redirect()
    misses = [client.get(f"/m/{'B' * 42}{i % 10}/") for i in range(30)]
    assert {m.status_code for m in misses} == {404} and len({m.content for m in misses}) == 1
    assert client.get(f"/m/{'C' * 43}/").status_code == 429
    assert client.get(f"/m/{done.token}/").status_code == 429  # nothing told apart
    assert Client(REMOTE_ADDR="198.51.100.7").get(f"/m/{done.token}/").status_code == 200


@case("T-3")
def _token_stored_as_hmac_only(client, redirect):
    done = redirect()
    row = SecureMessage.objects.values().get()
    assert not any(done.token in str(value) for value in row.values())


@case("T-4")
def _no_store_on_every_portal_answer(client, redirect):
    done = redirect()
    for url in (f"/m/{done.token}/", f"/m/{done.token}/body/", "/m/x/"):
        response = client.get(url)
        assert response["Cache-Control"].startswith("no-store") and response["Pragma"] == "no-cache"


@case("T-5")
def _get_uses_nothing_up(client, redirect, profile):
    profile.verification = "code"
    profile.save()
    done = redirect()
    for _ in range(3):
        assert client.get(f"/m/{done.token}/").status_code == 200
    assert not Message.objects.filter(relation=Relation.CODE).exists()
    assert SecureMessage.objects.get().state == "active"


@case("T-6")
def _expiry_and_revocation_with_an_injected_clock(client, redirect):
    done = redirect()
    item = SecureMessage.objects.get()
    later = type(default_token_generator)(now=lambda: item.expires_at + dt.timedelta(seconds=1))
    assert later.check(done.token) is None and default_token_generator.check(done.token)
    securemessage_revoke(item=item)
    assert default_token_generator.check(done.token) is None
    assert client.get(f"/m/{done.token}/").status_code == 404


@case("T-7")
def _host_header_never_makes_the_purl(client, admin_client, redirect, settings):
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    done = redirect()
    admin_client.post(f"/securemailbox/items/{done.item.pk}/resend/", HTTP_HOST="evil.example")
    note = Message.objects.filter(relation=Relation.NOTIFICATION).latest("id")
    raw = spool_read(note.spool_name)
    assert b"evil.example" not in raw and b"https://mail.example/m/" in raw


@case("T-8")
def _one_canonical_form(client, redirect):
    done = redirect()
    assert client.get(f"/m/?token={done.token}").status_code == 404
    swapped = done.token.swapcase()
    assert client.get(f"/m/{swapped}/").status_code == 404
    assert client.get(f"/m/{done.token}/").status_code == 200


@case("T-9")
def _no_open_redirect_after_verification(client, redirect, profile):
    profile.verification = "password"
    profile.save()
    done = redirect()
    response = client.post(
        f"/m/{done.token}/?next=https://evil.example/",
        {"password1": "orange-Kettle-42-drums", "password2": "orange-Kettle-42-drums"},
    )
    assert response.status_code == 302 and response["Location"] == f"/m/{done.token}/"


@case("C-1")
def _state_changes_need_post_and_csrf(client, admin_client, redirect, admin_user):
    done = redirect()
    assert admin_client.get(f"/securemailbox/items/{done.item.pk}/revoke/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(f"/securemailbox/items/{done.item.pk}/revoke/").status_code == 403
    assert SecureMessage.objects.get().state == "active"
    portal = Client(enforce_csrf_checks=True)
    assert portal.post(f"/m/{done.token}/reply/", {"text": "x"}).status_code == 403
    assert not Message.objects.filter(relation=Relation.REPLY).exists()


@case("C-2")
def _cross_site_post_without_token_refused(client, redirect):
    done = redirect()
    attacker = Client(enforce_csrf_checks=True, HTTP_ORIGIN="https://evil.example")
    assert attacker.post(f"/m/{done.token}/", {"action": "send"}).status_code == 403
    # Origin: null (what no-referrer pages send) passes only as a same-origin fetch.
    strict = Client(enforce_csrf_checks=True)
    strict.get(f"/m/{done.token}/reply/")
    token = strict.cookies["csrftoken"].value
    for site, status in (("cross-site", 403), ("same-site", 403), ("same-origin", 302)):
        response = strict.post(
            f"/m/{done.token}/reply/", {"text": "hi", "csrfmiddlewaretoken": token},
            HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE=site,
        )  # fmt: skip
        assert response.status_code == status, site


@case("C-3")
def _portal_not_frameable_except_the_body_by_the_portal(client, redirect):
    done = redirect()
    page = client.get(f"/m/{done.token}/")
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    body = client.get(f"/m/{done.token}/body/")
    assert "frame-ancestors 'self'" in body["Content-Security-Policy"]


@case("C-4")
def _session_rotated_on_exchange_and_cookies_secure_httponly_samesite(redirect, profile, settings):
    profile.verification = "password"
    profile.save()
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True  # an https base URL
    done = redirect()
    planted = SessionStore()  # session fixation: the attacker's own session key, planted
    planted["x"] = 1
    planted.create()
    reader = Client()
    reader.cookies["sessionid"] = planted.session_key
    password = {"password1": "orange-Kettle-42-drums", "password2": "orange-Kettle-42-drums"}
    assert reader.post(f"/m/{done.token}/", password, secure=True).status_code == 302
    cookie = reader.cookies["sessionid"]
    assert cookie.value != planted.session_key and not SessionStore().exists(planted.session_key)
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] in ("Lax", "Strict")
    attacker = Client()
    attacker.cookies["sessionid"] = planted.session_key
    assert attacker.get(f"/m/{done.token}/body/").status_code == 404
    assert reader.get(f"/m/{done.token}/body/", secure=True).status_code == 200
    reader.get(f"/m/{done.token}/reply/", secure=True)
    csrf = reader.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] in ("Lax", "Strict")


@case("C-5")
def _renderer_runs_in_an_opaque_origin(client, redirect):
    done = redirect()
    csp = client.get(f"/m/{done.token}/body/")["Content-Security-Policy"]
    sandbox = csp.split("sandbox", 1)[1]
    assert "allow-same-origin" not in sandbox and "allow-scripts" not in sandbox


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_portal_attack(case_id, request, client, redirect):
    fn = CASES[case_id]
    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    fixtures = {"client": client, "redirect": redirect}
    kwargs = {n: fixtures[n] if n in fixtures else request.getfixturevalue(n) for n in names}
    fn(**kwargs)


def settings_from_env(monkeypatch, **env: str) -> dict:
    """mailgate/settings.py run afresh under this environment (the loaded settings stay)."""
    for name in ("MAILGATE_BASE_URL", "MAILGATE_SECURE_COOKIES",
                 "MAILGATE_TRUST_X_FORWARDED_PROTO"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.find_spec("mailgate.settings")
    module = importlib.util.module_from_spec(spec)  # not put in sys.modules
    spec.loader.exec_module(module)
    return vars(module)


@pytest.mark.parametrize(
    ("env", "secure"),
    [
        ({"MAILGATE_BASE_URL": "https://mail.example"}, True),
        ({"MAILGATE_BASE_URL": "http://127.0.0.1:8000"}, False),
        ({}, False),
        ({"MAILGATE_BASE_URL": "https://mail.example", "MAILGATE_SECURE_COOKIES": "false"}, False),
        ({"MAILGATE_BASE_URL": "http://10.0.0.5", "MAILGATE_SECURE_COOKIES": "true"}, True),
    ],
)
def test_c4__cookies_are_secure_when_the_portal_is_https(monkeypatch, env, secure):
    conf = settings_from_env(monkeypatch, **env)
    assert conf["SESSION_COOKIE_SECURE"] is secure and conf["CSRF_COOKIE_SECURE"] is secure
    assert conf["SESSION_COOKIE_HTTPONLY"] is True
    assert conf["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert conf["CSRF_COOKIE_SAMESITE"] in ("Lax", "Strict")


def test_c4__x_forwarded_proto_is_trusted_only_when_configured(monkeypatch):
    assert "SECURE_PROXY_SSL_HEADER" not in settings_from_env(monkeypatch)
    trusted = settings_from_env(monkeypatch, MAILGATE_TRUST_X_FORWARDED_PROTO="true")
    assert trusted["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_c4__a_forwarded_https_request_gets_secure_cookies(redirect, profile, settings):
    profile.verification = "password"
    profile.save()
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    done = redirect()
    proxied = Client(HTTP_X_FORWARDED_PROTO="https")
    password = {"password1": "orange-Kettle-42-drums", "password2": "orange-Kettle-42-drums"}
    assert proxied.post(f"/m/{done.token}/", password).status_code == 302
    assert proxied.cookies["sessionid"]["secure"]
    assert proxied.get(f"/m/{done.token}/body/").status_code == 200


def test_the_clock_is_timezone_aware():
    assert timezone.now().tzinfo is not None
