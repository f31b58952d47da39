"""The portal in headless Chromium (Playwright) against pytest-django's live server.

Every payload of xss-payloads.txt as an HTML body: no dialog, no console error, no request
leaving the server, and no on* attribute, javascript:/vbscript:/data:text/html URL or
forbidden element in the DOM of the page or of the mail's frame (portal-attacks.md H-1/H-5).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from relay.models import Message
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.models import Verification
from securemailbox.services import securemessage_revoke
from tests.securemailbox.helpers import make_raw, notification_raw, token_from
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS_FILE = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "xss-payloads.txt"
PAYLOADS = [
    line
    for line in PAYLOADS_FILE.read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
DOM_AUDIT = """(mail) => {
  const bad = [];
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "background",
                    "poster", "srcset", "data", "lowsrc", "dynsrc"];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) bad.push(`${el.tagName} ${name}`);
      if (urlAttrs.includes(name) &&
          /^\\s*(javascript|vbscript|livescript|data:text\\/html)/i.test(attr.value))
        bad.push(`${el.tagName} ${name}=${attr.value}`);
    }
  }
  const forbidden = mail
    ? "script, meta[http-equiv], base, form, iframe, frame, object, embed, link, svg, math, "
      + "body style"
    : "script, meta[http-equiv], base, form:not([method=post]), iframe:not(#mail-body), object, "
      + "embed";
  for (const el of document.querySelectorAll(forbidden)) bad.push(`forbidden ${el.tagName}`);
  return bad;
}"""


@pytest.fixture
def watched(page, live_server):
    """The page, with every dialog, console error and off-server request recorded."""
    events: dict[str, list[str]] = {"dialogs": [], "errors": [], "remote": []}
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: m.type == "error" and events["errors"].append(m.text))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    server = urlsplit(live_server.url).netloc

    def on_request(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != server:
            events["remote"].append(request.url)

    page.on("request", on_request)
    page.events = events
    return page


@pytest.fixture
def live_profile(profile, live_server):
    profile.portal_base_url = live_server.url
    profile.save()
    return profile


def open_purl(page, redirect, raw: bytes, live_server) -> str:
    done = redirect(raw)
    token = token_from(notification_raw(done.item))
    page.goto(f"{live_server.url}/m/{token}/", wait_until="load")
    return token


def mail_frame(page):
    page.wait_for_selector("#mail-body")
    frame = page.frame_locator("#mail-body")
    frame.locator("body").wait_for(state="attached")
    return next(f for f in page.frames if "/body/" in f.url)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_xss_payload_runs_nothing(watched, redirect, live_profile, live_server, payload):
    raw = make_raw(subject=payload[:200], text="text part", html=payload)
    open_purl(watched, redirect, raw, live_server)
    frame = mail_frame(watched)
    assert watched.evaluate(DOM_AUDIT, False) == []
    assert frame.evaluate(DOM_AUDIT, True) == []
    assert watched.events == {"dialogs": [], "errors": [], "remote": []}


def test_full_flow__notification_purl_message_attachment_reply(
    watched, redirect, live_profile, live_server, output_dir
):
    raw = make_raw(
        html="<h2>Hello Bob</h2><p>The <b>figures</b> are attached.</p>"
        '<img src="https://tracker.example/o.gif"><a href="https://example.org/">site</a>',
        attachments=[("figures.csv", "text/csv", b"q,value\n1,42\n")],
    )
    token = open_purl(watched, redirect, raw, live_server)
    assert watched.locator("#subject").inner_text() == "Quarterly figures"
    assert "alice@sender.test" in watched.locator("#h-from").inner_text()
    assert "carol@partner.test" in watched.locator("#h-cc").inner_text()
    frame = watched.frame_locator("#mail-body")
    assert frame.locator("h2").inner_text() == "Hello Bob"
    assert frame.locator("a").get_attribute("rel") == "noopener noreferrer"
    assert "1 remote image blocked" in watched.locator("#remote-note").inner_text()
    screenshot(watched, output_dir, "securemailbox-portal-message")
    with watched.expect_download() as download:
        watched.locator("#attachments a").click()
    assert download.value.suggested_filename == "figures.csv"
    assert Path(download.value.path()).read_bytes() == b"q,value\n1,42\n"
    watched.locator("#reply").click()
    watched.fill("textarea[name=text]", "Thank you, Alice.")
    watched.locator("#send-reply").click()
    watched.wait_for_url(f"{live_server.url}/m/{token}/")
    assert "sent securely" in watched.content()
    assert Message.objects.filter(relation=Relation.REPLY).count() == 1
    assert watched.events["dialogs"] == [] and watched.events["remote"] == []


def test_remote_images_load_only_after_the_reader_asks(
    watched, redirect, live_profile, live_server
):
    raw = make_raw(html='<p>x</p><img src="https://tracker.example/o.gif">')
    open_purl(watched, redirect, raw, live_server)
    mail_frame(watched)
    assert watched.events["remote"] == []
    watched.route("https://tracker.example/**", lambda route: route.fulfill(status=204))
    watched.locator("#show-images").click()
    watched.wait_for_url(re.compile(r".*\?images=1$"))
    mail_frame(watched)
    watched.wait_for_load_state("load")
    assert watched.events["remote"] == ["https://tracker.example/o.gif"]


def test_code_verification_in_the_browser(page, redirect, live_profile, live_server):
    live_profile.verification = Verification.CODE
    live_profile.save()
    open_purl(page, redirect, make_raw(), live_server)
    assert page.locator("#mail-text").count() == 0
    page.locator("#send-code").click()
    page.wait_for_selector("text=A code was sent")
    mail = Message.objects.get(relation=Relation.CODE)
    code = re.search(rb"\b(\d{8})\b", spool_read(mail.spool_name)).group(1).decode()
    page.fill("input[name=code]", "99999999" if code != "99999999" else "11111111")
    page.locator("#verify").click()
    assert "not valid" in page.content()
    page.fill("input[name=code]", code)
    page.locator("#verify").click()
    page.wait_for_selector("#mail-text")
    assert "the figures are attached" in page.locator("#mail-text").inner_text()


def test_password_verification_in_the_browser(browser, page, redirect, live_profile, live_server):
    live_profile.verification = Verification.PASSWORD
    live_profile.save()
    token = open_purl(page, redirect, make_raw(), live_server)
    page.fill("input[name=password1]", "orange-Kettle-42-drums")
    page.fill("input[name=password2]", "orange-Kettle-42-drums")
    page.locator("#set-password").click()
    page.wait_for_selector("#mail-text")
    other = browser.new_context().new_page()  # another browser: the password is asked for
    try:
        other.goto(f"{live_server.url}/m/{token}/")
        other.fill("input[name=password]", "wrong-password")
        other.locator("#enter-password").click()
        assert "not right" in other.content() and other.locator("#mail-text").count() == 0
        other.fill("input[name=password]", "orange-Kettle-42-drums")
        other.locator("#enter-password").click()
        other.wait_for_selector("#mail-text")
    finally:
        other.context.close()


def test_revoked_link_shows_the_neutral_page(page, redirect, live_profile, live_server):
    done = redirect(make_raw())
    token = token_from(notification_raw(done.item))
    securemessage_revoke(item=done.item)
    response = page.goto(f"{live_server.url}/m/{token}/")
    assert response.status == 404 and "This link is not available" in page.content()
