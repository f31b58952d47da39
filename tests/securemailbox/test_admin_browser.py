"""The Secure Mailbox pages of the Admin UI in Chromium: sub-navigation, a delivery profile
with its preview, the items list and an item's actions."""

from __future__ import annotations

import pytest

from securemailbox.models import DeliveryProfile, ItemState, SecureMessage
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_profile_then_item_actions(admin_page, live_server, redirect, output_dir):
    page = admin_page
    page.click("nav >> text=Secure Mailbox")
    page.wait_for_url(f"{live_server.url}/securemailbox/")
    assert page.locator("h1").inner_text() == "Secure Mailbox items"
    page.click("text=Delivery profiles")
    page.click("text=Add")
    page.fill("#id_name", "Partners")
    page.fill("#id_notification_sender", "secureMailer@yourdomain.com")
    page.fill("#id_notification_subject", "Secure: {subject} ({organisation})")
    page.fill("#id_organisation_name", "Your Org")
    page.select_option("#id_verification", "password")
    page.click("button[name=preview]")
    assert page.locator("#preview-subject").inner_text() == "Secure: Quarterly figures (Your Org)"
    assert "EXAMPLE-TOKEN" in page.locator("#preview-text").inner_text()
    html = page.frame_locator("#preview-html")
    assert html.locator("a").inner_text() == "Read the message"
    screenshot(page, output_dir, "securemailbox-profile-form")
    page.click("button[type=submit]:has-text('Save')")
    page.wait_for_url(f"{live_server.url}/securemailbox/profiles/")
    assert DeliveryProfile.objects.get(name="Partners").verification == "password"

    done = redirect()
    page.click("text=Items")
    page.click(f"#items >> text={done.item.recipient_address}")
    page.click("#extend")
    page.wait_for_selector("text=Expiry extended by 7 day(s).")
    page.click("#revoke")
    page.wait_for_selector("text=Revoked: the pURL no longer opens the message.")
    assert page.locator("#item-state").inner_text() == "Revoked"
    assert SecureMessage.objects.get().state == ItemState.REVOKED
    screenshot(page, output_dir, "securemailbox-item-detail")
