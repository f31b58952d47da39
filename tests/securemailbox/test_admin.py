"""Admin UI: the items list and actions, delivery profiles with preview and checks."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from relay.models import Message
from relay.models.queue import Relation
from securemailbox.models import DeliveryProfile, ItemState, SecureMessage

pytestmark = pytest.mark.django_db
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def profile_data(**changes) -> dict:
    data = {
        "name": "Partners",
        "notification_sender": "secureMailer@yourdomain.com",
        "notification_subject": "Secure message: {subject}",
        "notification_text": "Read it: {purl} (until {expires})",
        "notification_html": '<p><a href="{purl}">Read</a> from {sender}</p>',
        "portal_base_url": "",
        "expiry_days": "14",
        "verification": "none",
        "allow_reply": "on",
        "allow_attachment_download": "on",
        "organisation_name": "Your Org",
        "brand_colour": "#112233",
    }
    data.update(changes)
    return data


def test_login_required(client):
    for url in ("/securemailbox/", "/securemailbox/profiles/", "/securemailbox/profiles/new/"):
        assert client.get(url).status_code == 302


def test_items_list__columns_search_and_state_filter(admin_client, redirect):
    redirect(rcpts=["bob@partner.test"])
    redirect(rcpts=["zed@other.test"])
    page = admin_client.get("/securemailbox/").content.decode()
    for text in ("bob@partner.test", "zed@other.test", "Alice &lt;alice@sender.test&gt;",
                 "Quarterly figures", "Delivery profiles", "Active"):  # fmt: skip
        assert text in page, text
    page = admin_client.get("/securemailbox/?q=zed").content.decode()
    assert "zed@other.test" in page and "bob@partner.test" not in page
    assert "bob@" not in admin_client.get("/securemailbox/?state=revoked").content.decode()


def test_item_actions__revoke_extend_resend(admin_client, redirect, client):
    done = redirect()
    url = f"/securemailbox/items/{done.item.pk}/"
    assert "Resend the notification" in admin_client.get(url).content.decode()
    old_expiry = done.item.expires_at
    admin_client.post(url + "extend/", {"days": "5"})
    done.item.refresh_from_db()
    assert (done.item.expires_at - old_expiry).days == 5
    admin_client.post(url + "resend/")
    assert Message.objects.filter(relation=Relation.NOTIFICATION).count() == 2
    assert client.get(f"/m/{done.token}/").status_code == 404  # the old pURL died
    admin_client.post(url + "revoke/")
    assert SecureMessage.objects.get().state == ItemState.REVOKED
    page = admin_client.get(url).content.decode()
    assert "Revoked" in page


def test_profile__create_with_logo_and_preview(admin_client):
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    response = admin_client.post(
        "/securemailbox/profiles/new/", {**profile_data(), "logo_upload": logo}
    )
    assert response.status_code == 302
    profile = DeliveryProfile.objects.get(name="Partners")
    assert bytes(profile.logo) == PNG and profile.logo_type == "image/png"
    page = admin_client.get(profile.get_absolute_url()).content.decode()
    assert "Notification preview" in page and "Secure message: Quarterly figures" in page
    assert "https://mailgate.example/m/EXAMPLE-TOKEN" in page


def test_profile__preview_without_saving(admin_client):
    data = profile_data(notification_subject="Look: {subject} from {organisation}")
    response = admin_client.post("/securemailbox/profiles/new/", {**data, "preview": "1"})
    assert response.status_code == 200
    assert "Look: Quarterly figures from Your Org" in response.content.decode()
    assert not DeliveryProfile.objects.filter(name="Partners").exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("notification_text", "no link here", "must contain {purl}"),
        ("notification_html", "<p>{purl} {sender.__class__}</p>", "Unknown placeholder"),
        ("notification_subject", "{recipient}", "Unknown placeholder"),
        ("brand_colour", "red", "A colour such as"),
        ("expiry_days", "0", "greater than or equal to 1"),
    ],
)
def test_profile__invalid_templates_and_values(admin_client, field, value, error):
    response = admin_client.post("/securemailbox/profiles/new/", profile_data(**{field: value}))
    assert response.status_code == 200 and error in response.content.decode()


def test_profile__a_logo_that_is_not_an_image_is_refused(admin_client):
    svg = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)/>", content_type="image/png")
    response = admin_client.post(
        "/securemailbox/profiles/new/", {**profile_data(), "logo_upload": svg}
    )
    assert "must be a PNG" in response.content.decode()


def test_profile__in_use_cannot_be_deleted(admin_client, redirect, profile):
    redirect()
    response = admin_client.post(f"/securemailbox/profiles/{profile.pk}/delete/", follow=True)
    assert "still in use" in response.content.decode()
    assert DeliveryProfile.objects.filter(pk=profile.pk).exists()


def test_portal_shows_the_branding(client, redirect, profile):
    profile.logo, profile.logo_type, profile.brand_colour = PNG, "image/png", "#aa0000"
    profile.save()
    response = client.get(f"/m/{redirect().token}/")
    page = response.content.decode()
    assert "data:image/png;base64," in page and "--brand: #aa0000" in page and "Sender Corp" in page
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in page
