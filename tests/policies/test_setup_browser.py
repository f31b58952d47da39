"""The secure setup wizard and the loop check page, in headless Chromium."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, include, path, reverse

import mailgate.urls
from policies.models import ContentPolicy
from tests.support.browser import screenshot

try:  # until mailgate/urls.py includes policies.urls_setup
    reverse("policysetup:setup")
    urlpatterns = mailgate.urls.urlpatterns
except NoReverseMatch:
    urlpatterns = [
        *mailgate.urls.urlpatterns,
        path("policies/", include(("policies.urls_setup", "policysetup"))),
    ]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser,
    pytest.mark.urls(__name__),
]


def test_setup_wizard_preview_apply_and_loop_check(admin_page, live_server, output_dir):
    page = admin_page
    out = output_dir / "policies_setup_browser"
    out.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/policies/setup/")
    page.check("input[name=mode][value=A]")
    page.fill("#id_local_domain", "yourdomain.com")
    page.fill("#id_partners", "example.org\npartner.example")
    page.click("button[name=preview]")
    page.wait_for_selector("#setup-preview")
    screenshot(page, out, "1-preview")
    assert ContentPolicy.objects.count() == 0
    page.click("button[name=apply]")
    page.wait_for_selector("#setup-result")
    screenshot(page, out, "2-done")
    assert ContentPolicy.objects.count() == 3
    page.goto(f"{live_server.url}/policies/loop-check/")
    page.wait_for_selector("#loop-paths")
    assert page.locator("[data-code=OK]").count() == 1
    screenshot(page, out, "3-loop-check")
    policy = ContentPolicy.objects.order_by("position").first()
    policy.enabled = False
    policy.save()
    page.reload()
    page.wait_for_selector(".alert-danger")
    screenshot(page, out, "4-loop-check-finding")
