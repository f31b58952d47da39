"""The portal through Django's test client: pages, headers, the neutral page, downloads,
secure reply. Verification modes are in test_verification.py, attacks in
test_portal_attacks.py, the browser in test_portal_browser.py."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from relay.models import Message
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.models import SecureMessage
from securemailbox.services import securemessage_revoke
from tests.securemailbox.helpers import make_raw

pytestmark = pytest.mark.django_db

PRIVACY = {
    "Cache-Control": "no-store, private, max-age=0",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "X-Content-Type-Options": "nosniff",
}


def assert_private(response) -> None:
    for name, value in PRIVACY.items():
        assert response[name] == value, name


def test_message_page__headers_text_and_attachments(client, redirect):
    raw = make_raw(
        html="<p>Hello <b>Bob</b></p>",
        attachments=[("figures.pdf", "application/pdf", b"%PDF-1.4 x" * 100)],
    )
    done = redirect(raw)
    response = client.get(f"/m/{done.token}/")
    assert response.status_code == 200
    assert_private(response)
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    page = response.content.decode()
    for text in ("Quarterly figures", "Alice &lt;alice@sender.test&gt;", "bob@partner.test",
                 "carol@partner.test", "Thu, 03 Dec 2026 10:00:00 +0000", "figures.pdf",
                 "1000\xa0bytes", f"/m/{done.token}/body/", "Sender Corp"):  # fmt: skip
        assert text in page, text
    item = SecureMessage.objects.get()
    assert item.open_count == 1 and item.first_opened_at is not None


def test_body_document__sanitised_under_the_strict_csp(client, redirect):
    done = redirect(make_raw(html='<p onclick="x()">Hi</p><img src="https://t.example/a.gif">'))
    response = client.get(f"/m/{done.token}/body/")
    assert response.status_code == 200
    assert_private(response)
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "img-src data:;" in csp and "sandbox" in csp
    assert "frame-ancestors 'self'" in csp and "form-action 'none'" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    body = response.content.decode()
    assert "<p>Hi</p>" in body and "onclick" not in body and "t.example" not in body
    remote = client.get(f"/m/{done.token}/body/?images=1")
    assert "https://t.example/a.gif" in remote.content.decode()
    assert "img-src data: https: http:;" in remote["Content-Security-Policy"]


def test_remote_images__blocked_with_a_note_until_asked_for(client, redirect):
    done = redirect(make_raw(html='<img src="https://t.example/a.gif" alt="x">'))
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "1 remote image blocked" in page
    assert f'src="/m/{done.token}/body/"' in page
    page = client.get(f"/m/{done.token}/?images=1").content.decode()
    assert "remote image blocked" not in page
    assert f"/m/{done.token}/body/?images=1" in page


def test_attachment_download__octet_stream_attachment_nosniff(client, redirect):
    raw = make_raw(attachments=[("évil\u202egpj.html", "text/html", b"<script>alert(1)</script>")])
    done = redirect(raw)
    response = client.get(f"/m/{done.token}/attachment/1/")
    assert response.status_code == 200
    assert_private(response)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == ("attachment; filename*=utf-8''%C3%A9vilgpj.html")
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"


def test_attachment_download__refused_when_the_profile_says_so(client, redirect, profile):
    profile.allow_attachment_download = False
    profile.save()
    done = redirect(make_raw(attachments=[("a.txt", "text/plain", b"x")]))
    assert client.get(f"/m/{done.token}/attachment/1/").status_code == 404
    assert "cannot be downloaded" in client.get(f"/m/{done.token}/").content.decode()


def test_neutral_page__unknown_expired_revoked_malformed_all_the_same(client, redirect):
    live, revoked, expired = redirect().token, redirect(), redirect()
    securemessage_revoke(item=revoked.item)
    SecureMessage.objects.filter(pk=expired.item.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    answers = [
        client.get(f"/m/{token}/")
        for token in (
            "A" * 43, revoked.token, expired.token, "short", live.upper(), live + "x",
        )
    ]  # fmt: skip
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1
    for response in answers:
        assert_private(response)
    assert client.get(f"/m/{live}/").status_code == 200


def test_reply__goes_back_to_the_sender_through_mailgate(client, redirect):
    done = redirect()
    assert client.get(f"/m/{done.token}/reply/").status_code == 200
    response = client.post(f"/m/{done.token}/reply/", {"text": "Thanks, Alice!\nBob"})
    assert response.status_code == 302
    reply = Message.objects.get(relation=Relation.REPLY)
    assert reply.parent_id == done.message.pk and reply.client_ip is None
    assert reply.envelope_sender == "bob@partner.test"
    assert list(reply.recipients.values_list("address", flat=True)) == ["alice@sender.test"]
    msg = message_from_bytes(spool_read(reply.spool_name), policy=policy.default)
    assert msg["Subject"] == "Re: Quarterly figures"
    assert msg["In-Reply-To"] == "<q1@sender.test>" and msg["References"] == "<q1@sender.test>"
    assert msg.get_content().replace("\r\n", "\n").strip() == "Thanks, Alice!\nBob"
    assert SecureMessage.objects.get().replies_sent == 1


def test_reply__not_offered_when_the_profile_says_so(client, redirect, profile):
    profile.allow_reply = False
    profile.save()
    done = redirect()
    assert "Reply securely" not in client.get(f"/m/{done.token}/").content.decode()
    assert client.get(f"/m/{done.token}/reply/").status_code == 404
    assert client.post(f"/m/{done.token}/reply/", {"text": "x"}).status_code == 404
    assert not Message.objects.filter(relation=Relation.REPLY).exists()


def test_plain_text_body_is_escaped_never_a_template(client, redirect):
    done = redirect(make_raw(subject="{{7*7}} {% debug %}", text="<b>bold</b> {{7*7}}\n"))
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; {{7*7}}" in page
    # Shown literally: neither a Django template ({% debug %} would dump the context) nor
    # evaluated ("49" could appear in a token or a date, so it is no evidence either way).
    assert "{{7*7}} {% debug %}" in page and "&#x27;csrf_token&#x27;" not in page


def test_open_count__reloads_within_a_minute_are_one_reading(client, redirect):
    from securemailbox.services import securemessage_open

    done = redirect()
    for _ in range(3):
        client.get(f"/m/{done.token}/")
    item = SecureMessage.objects.get()
    assert item.open_count == 1
    later = item.last_opened_at + dt.timedelta(minutes=2)
    assert securemessage_open(item=item, now=later)
    item.refresh_from_db()
    assert item.open_count == 2 and item.last_opened_at == later
    assert item.first_opened_at < later


def test_reply__not_offered_for_a_null_sender_without_from(client, redirect):
    from relay.services.accept import message_accept
    from securemailbox.services import securemessage_redirect
    from tests.securemailbox.helpers import notification_raw, token_from

    raw = make_raw().replace(b"From: Alice <alice@sender.test>\r\n", b"")
    message = message_accept(
        raw=raw, envelope_sender="", recipients=["bob@partner.test"], client_ip="127.0.0.1"
    )
    redirect()  # the profile
    (item,) = securemessage_redirect(
        message=message, recipients=list(message.recipients.all()),
        profile_name="My delivery profile",
    )  # fmt: skip
    token = token_from(notification_raw(item))
    assert "Reply securely" not in client.get(f"/m/{token}/").content.decode()
    assert client.post(f"/m/{token}/reply/", {"text": "x"}).status_code == 404


def test_a_render_failure_still_shows_a_page(client, redirect, monkeypatch):
    from securemailbox.views import rendering

    def boom(raw, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(rendering, "message_render", boom)
    done = redirect()
    response = client.get(f"/m/{done.token}/")
    assert response.status_code == 200 and "could not be displayed" in response.content.decode()
    assert client.get(f"/m/{done.token}/body/").status_code == 200
