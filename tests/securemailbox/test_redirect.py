"""securemessage_redirect: store, items, tracking, notifications through message_accept."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from relay.models import Message, RecipientState
from relay.models.queue import TAG_PURL, Relation
from securemailbox import TAG_PURL as SM_TAG_PURL
from securemailbox.crypto import store_read
from securemailbox.models import DeliveryProfile, SecureMessage
from securemailbox.purl import default_token_generator
from securemailbox.services import securemessage_redirect
from tests.securemailbox.helpers import make_raw, notification_raw

pytestmark = pytest.mark.django_db


def test_tags_agree():
    assert SM_TAG_PURL == TAG_PURL


def test_redirect__one_item_and_one_notification_per_recipient(redirect, settings):
    done = redirect(rcpts=["bob@partner.test", "dave@partner.test"])
    assert [i.recipient_address for i in done.items] == ["bob@partner.test", "dave@partner.test"]
    for recipient in done.message.recipients.all():
        assert recipient.state == RecipientState.REDIRECTED
        assert recipient.final_at is not None
    notifications = Message.objects.filter(relation=Relation.NOTIFICATION)
    assert notifications.count() == 2
    for note in notifications:
        assert note.parent_id == done.message.pk
        assert note.tags == [TAG_PURL]
        assert note.client_ip is None
        assert note.envelope_sender == "secureMailer@sender.test"
    assert done.tokens[0] != done.tokens[1]
    # The message is stored encrypted: the file holds none of its text.
    blob = (Path(settings.MAILGATE_SECURE_STORE_DIR) / done.item.store_name).read_bytes()
    assert b"Quarterly" not in blob and b"figures" not in blob
    assert b"Quarterly figures" in store_read(done.item.store_name)


def test_only_an_hmac_of_the_token_is_stored(redirect):
    done = redirect()
    item = SecureMessage.objects.get()
    assert done.token not in item.token_hash
    assert item.token_hash == default_token_generator.hash_token(done.token)


def test_notification__built_fresh_without_the_body(redirect):
    done = redirect(make_raw(subject="Budget", text="TOP-SECRET-BODY-TEXT\n"))
    raw = notification_raw(done.item)
    assert b"TOP-SECRET-BODY-TEXT" not in raw
    assert b"Budget" not in raw  # the default templates keep the subject private too
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["From"] == "secureMailer@sender.test"
    assert msg["To"] == "bob@partner.test"
    assert msg["Subject"] == "Secure message from Alice <alice@sender.test>"
    assert msg["Message-ID"].endswith("@mailgate.test>")
    assert msg["Date"] and msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    purl = f"https://mail.example/m/{done.token}/"
    assert purl in text and purl in html
    assert "bob" not in purl and "partner" not in purl
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_notification__values_escaped_in_html_and_no_header_injection(redirect, profile):
    profile.notification_subject = "Secure message from {sender}: {subject}"
    profile.notification_html = "<p>{subject}</p><p>{purl}</p>"
    profile.save()
    subject = "<script>alert(1)</script> =?utf-8?q?x=0D=0ABcc:_evil@x.test?="
    done = redirect(make_raw(subject=subject))
    msg = message_from_bytes(notification_raw(done.item), policy=policy.default)
    assert msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])


def test_portal_base_url_of_the_profile(redirect, profile):
    profile.portal_base_url = "https://secure.example.org/"
    profile.save()
    done = redirect()
    assert f"https://secure.example.org/m/{done.token}/".encode() in notification_raw(done.item)


def test_redirect_is_idempotent_per_message_and_recipient(redirect, profile):
    done = redirect()
    again = securemessage_redirect(
        message=done.message,
        recipients=list(done.message.recipients.all()),
        profile_name=profile.name,
    )
    assert [i.pk for i in again] == [done.item.pk]
    assert SecureMessage.objects.count() == 1
    assert Message.objects.filter(relation=Relation.NOTIFICATION).count() == 1


def test_unknown_profile__raises_and_changes_nothing(redirect):
    with pytest.raises(DeliveryProfile.DoesNotExist):
        redirect(profile_name="No such profile")
    assert SecureMessage.objects.count() == 0
    assert not Message.objects.filter(relation=Relation.NOTIFICATION).exists()
    recipient = Message.objects.get().recipients.get()
    assert recipient.state == RecipientState.QUEUED


def test_profile_name_ignores_case(redirect):
    assert redirect(profile_name="my DELIVERY profile").item.profile.name == "My delivery profile"
