"""The secure setup wizard and the loop check page (Admin UI)."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, include, path, reverse

import mailgate.urls
from policies.loopcheck import LOOP_ROUTE_UNCAUGHT
from policies.models import ContentPolicy
from policies.services import policy_set_enabled
from relay.models import ExternalDomain

try:  # mailgate/urls.py includes policies.urls_setup once wired; until then, do it here
    reverse("policysetup:setup")
    urlpatterns = mailgate.urls.urlpatterns
except NoReverseMatch:
    urlpatterns = [
        *mailgate.urls.urlpatterns,
        path("policies/", include(("policies.urls_setup", "policysetup"))),
    ]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

FORM = {
    "mode": "A",
    "local_domain": "yourdomain.com",
    "partners": "example.org\npartner.example",
    "notification_sender": "",
    "profile": "My delivery profile",
    "verification": "",
}


@pytest.mark.parametrize("name", ["policysetup:setup", "policysetup:loop-check"])
def test_setup_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_setup_wizard__form(admin_client):
    body = admin_client.get(reverse("policysetup:setup")).content.decode()
    assert "Setup A: partner domains must get TLS" in body
    assert 'name="preview"' in body and 'name="apply"' not in body


def test_setup_wizard__preview_changes_nothing_then_apply(admin_client):
    preview = admin_client.post(reverse("policysetup:setup"), {**FORM, "preview": "1"})
    body = preview.content.decode()
    assert "Preview: what Apply will do" in body
    assert "will be created" in body and 'name="apply"' in body
    assert "Loop check: no way for mail to loop or be lost was found." in body
    assert not ContentPolicy.objects.exists() and not ExternalDomain.objects.exists()
    digest = preview.context["form"].initial["previewed"]
    done = admin_client.post(
        reverse("policysetup:setup"), {**FORM, "previewed": digest, "apply": "1"}, follow=True
    )
    body = done.content.decode()
    assert "Secure setup: done" in body and "Setup A applied." in body
    assert ContentPolicy.objects.count() == 3
    assert set(ExternalDomain.objects.values_list("domain", flat=True)) == {
        "example.org",
        "partner.example",
    }


def test_setup_wizard__apply_without_the_same_preview_only_previews(admin_client):
    response = admin_client.post(
        reverse("policysetup:setup"), {**FORM, "previewed": "stale", "apply": "1"}
    )
    assert "The settings changed since the preview" in response.content.decode()
    assert not ContentPolicy.objects.exists()


def test_setup_wizard__invalid_options_are_shown(admin_client):
    response = admin_client.post(
        reverse("policysetup:setup"), {**FORM, "mode": "B", "preview": "1"}
    )
    assert response.status_code == 200
    assert "no partners" in response.content.decode()
    assert not ContentPolicy.objects.exists()


def _apply(admin_client, **fields):
    data = {**FORM, **fields, "preview": "1"}
    digest = (
        admin_client.post(reverse("policysetup:setup"), data).context["form"].initial["previewed"]
    )
    admin_client.post(reverse("policysetup:setup"), {**data, "previewed": digest, "apply": "1"})


def test_loop_check_page__clean_setup(admin_client):
    _apply(admin_client)
    body = admin_client.get(reverse("policysetup:loop-check")).content.decode()
    assert "no way for mail to loop or be lost was found" in body
    assert "Message from the LAN to bob@example.org" in body
    assert "redirected to the Secure Mailbox" in body


def test_loop_check_page__findings_as_alerts(admin_client):
    _apply(admin_client)
    policy = ContentPolicy.objects.order_by("position").first()
    policy_set_enabled(policy=policy, enabled=False)
    body = admin_client.get(reverse("policysetup:loop-check")).content.decode()
    assert 'class="alert alert-danger"' in body
    assert f'data-code="{LOOP_ROUTE_UNCAUGHT}"' in body
    assert "Loopback route" in body and ">loops<" in body


def test_loopcheck_findings_include__undefined_shows_nothing():
    assert render_to_string("policies/loopcheck_findings.html", {}).strip() == ""
    ok = render_to_string("policies/loopcheck_findings.html", {"loop_findings": []})
    assert 'data-code="OK"' in ok
