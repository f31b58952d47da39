"""Verification modes: a one-time code mailed through message_accept, or a password set on
the first visit. Each works, and each fails closed."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy

import pytest
from django.test import Client
from django.utils import timezone

from relay.models import Message
from relay.models.queue import TAG_PURL, Relation
from relay.spool import spool_read
from securemailbox.models import SecureMessage, Verification
from securemailbox.services import securemessage_resend

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "orange-Kettle-42-drums"


@pytest.fixture
def code_profile(profile):
    profile.verification = Verification.CODE
    profile.save()
    return profile


@pytest.fixture
def password_profile(profile):
    profile.verification = Verification.PASSWORD
    profile.save()
    return profile


def locked_out(client: Client, token: str) -> bool:
    """Nothing of the message is reachable: page, body, attachment, reply."""
    page = client.get(f"/m/{token}/").content.decode()
    return (
        "Quarterly figures" not in page
        and client.get(f"/m/{token}/body/").status_code == 404
        and client.get(f"/m/{token}/attachment/1/").status_code == 404
        and client.get(f"/m/{token}/reply/").status_code == 404
    )


def send_code(client: Client, token: str) -> str:
    before = set(Message.objects.filter(relation=Relation.CODE).values_list("pk", flat=True))
    assert client.post(f"/m/{token}/", {"action": "send"}).status_code == 302
    (mail,) = Message.objects.filter(relation=Relation.CODE).exclude(pk__in=before)
    msg = message_from_bytes(spool_read(mail.spool_name), policy=policy.default)
    assert mail.tags == [TAG_PURL] and mail.client_ip is None
    assert msg["From"] == "secureMailer@sender.test" and msg["To"] == "bob@partner.test"
    return re.search(r"\b(\d{8})\b", msg.get_content()).group(1)


def test_code__sent_on_post_only_then_opens_the_message(client, redirect, code_profile):
    done = redirect()
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "Send me a code" in page and "b•••@partner.test" in page
    assert not Message.objects.filter(relation=Relation.CODE).exists()  # scanners: GET is safe
    assert locked_out(client, done.token)
    code = send_code(client, done.token)
    wrong = client.post(f"/m/{done.token}/", {"action": "verify", "code": "00000000"})
    assert "not valid" in wrong.content.decode() and locked_out(client, done.token)
    ok = client.post(f"/m/{done.token}/", {"action": "verify", "code": code})
    assert ok.status_code == 302
    assert "Quarterly figures" in client.get(f"/m/{done.token}/").content.decode()
    assert client.get(f"/m/{done.token}/body/").status_code == 200
    # One-time: the same code does not open it in another browser.
    other = Client()
    assert other.post(f"/m/{done.token}/", {"action": "verify", "code": code}).status_code == 200
    assert locked_out(other, done.token)


def test_code__expires(client, redirect, code_profile):
    done = redirect()
    code = send_code(client, done.token)
    SecureMessage.objects.update(code_expires_at=timezone.now() - dt.timedelta(seconds=1))
    client.post(f"/m/{done.token}/", {"action": "verify", "code": code})
    assert locked_out(client, done.token)


def test_code__dies_after_five_wrong_tries(client, redirect, code_profile):
    done = redirect()
    code = send_code(client, done.token)
    for _ in range(5):
        client.post(f"/m/{done.token}/", {"action": "verify", "code": "12345678"})
    client.post(f"/m/{done.token}/", {"action": "verify", "code": code})
    assert locked_out(client, done.token)


def test_code__a_new_code_replaces_the_old_one(client, redirect, code_profile):
    done = redirect()
    first = send_code(client, done.token)
    second = send_code(client, done.token)
    if first != second:
        client.post(f"/m/{done.token}/", {"action": "verify", "code": first})
        assert locked_out(client, done.token)
    assert client.post(f"/m/{done.token}/", {"action": "verify", "code": second}).status_code == 302


def test_code__sending_is_rate_limited_per_item(client, redirect, code_profile):
    done = redirect()
    for _ in range(5):
        send_code(client, done.token)
    client.post(f"/m/{done.token}/", {"action": "send"})
    assert Message.objects.filter(relation=Relation.CODE).count() == 5


def test_password__set_on_first_visit_then_required(client, redirect, password_profile):
    done = redirect()
    page = client.get(f"/m/{done.token}/").content.decode()
    assert "Choose a password" in page and locked_out(client, done.token)
    weak = client.post(f"/m/{done.token}/", {"password1": "123", "password2": "123"})
    assert "too short" in weak.content.decode() and not SecureMessage.objects.get().password_hash
    differ = client.post(f"/m/{done.token}/", {"password1": GOOD_PASSWORD, "password2": "x"})
    assert "differ" in differ.content.decode()
    ok = client.post(f"/m/{done.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert ok.status_code == 302
    assert "Quarterly figures" in client.get(f"/m/{done.token}/").content.decode()
    item = SecureMessage.objects.get()
    assert item.password_hash.startswith(("pbkdf2_", "argon2", "bcrypt", "scrypt"))

    other = Client()  # a second browser: the password is now required, and cannot be reset
    assert "Enter your password" in other.get(f"/m/{done.token}/").content.decode()
    other.post(f"/m/{done.token}/", {"password1": "New-pass-99-x", "password2": "New-pass-99-x"})
    assert SecureMessage.objects.get().password_hash == item.password_hash
    bad = other.post(f"/m/{done.token}/", {"password": "wrong"})
    assert "not right" in bad.content.decode() and locked_out(other, done.token)
    assert other.post(f"/m/{done.token}/", {"password": GOOD_PASSWORD}).status_code == 302
    assert other.get(f"/m/{done.token}/body/").status_code == 200


def test_password__wrong_tries_are_rate_limited_per_item(client, redirect, password_profile):
    done = redirect()
    client.post(f"/m/{done.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    # Ten wrong tries spread over five addresses: each stays far below the per-client limit,
    # so only the per-item limit can block the right password from a sixth address.
    for n in range(10):
        Client(REMOTE_ADDR=f"203.0.113.{n % 5 + 1}").post(
            f"/m/{done.token}/", {"password": "wrong"}
        )
    reader = Client(REMOTE_ADDR="192.0.2.80")
    blocked = reader.post(f"/m/{done.token}/", {"password": GOOD_PASSWORD})
    assert "Too many attempts" in blocked.content.decode()
    assert locked_out(reader, done.token)
    # Another item of the same reader is not affected.
    second = redirect()
    Client().post(f"/m/{second.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert reader.post(f"/m/{second.token}/", {"password": GOOD_PASSWORD}).status_code == 302


def test_grant__session_rotated_cookie_httponly_and_samesite(client, redirect, password_profile):
    done = redirect()
    client.get(f"/m/{done.token}/")
    before = client.cookies.get("sessionid")
    client.post(f"/m/{done.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    cookie = client.cookies["sessionid"]
    assert before is None or before.value != cookie.value
    assert cookie["httponly"] and cookie["samesite"] in ("Lax", "Strict")


def test_grant__ends_when_the_item_gets_a_new_purl(client, redirect, password_profile):
    done = redirect()
    client.post(f"/m/{done.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert client.get(f"/m/{done.token}/body/").status_code == 200
    assert securemessage_resend(item=done.item)
    assert client.get(f"/m/{done.token}/").status_code == 404  # the old pURL is dead


def test_grant__is_per_item(client, redirect, password_profile):
    first, second = redirect(), redirect()
    client.post(f"/m/{first.token}/", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert client.get(f"/m/{first.token}/body/").status_code == 200
    assert client.get(f"/m/{second.token}/body/").status_code == 404
