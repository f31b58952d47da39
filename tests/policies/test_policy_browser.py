"""The reference Policy 1 built through the editor in headless Chromium, as the article does."""

import pytest

from policies.models import ContentPolicy
from securemailbox.models import DeliveryProfile
from tests.support.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

POLICY_1 = (
    "IF is sent from any of the IP addresses 127.0.0.1 EXCEPT IF message contains any of the "
    "headers: 'X-SecureMailNotification' or message is a delivery status notification THEN "
    "Redirect to Secure Mailbox using 'My delivery profile'"
)


def test_build_policy_1_in_the_editor(admin_page, live_server, output_dir):
    DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    page = admin_page
    out = output_dir / "policies_browser"
    out.mkdir(exist_ok=True)

    # Content Policies → Outbound → Delivery policies → Add.
    page.click("text=Content Policies")
    page.click("text=Delivery policies")
    page.click("a:has-text('Add')")
    page.fill("#id_name", "Policy 1")

    # IF is sent from the IP address 127.0.0.1.
    page.select_option("#id_if-0-kind", "sender_ip")
    assert page.is_visible("#id_if-0-values")
    assert page.is_hidden("#id_if-0-check")
    page.fill("#id_if-0-values", "127.0.0.1")

    # EXCEPT IF it has the header X-SecureMailNotification, or it is a DSN.
    page.click("#add-except")
    page.select_option("#id_except-0-kind", "header")
    page.fill("#id_except-0-values", "X-SecureMailNotification")
    page.click("#add-except")
    page.select_option("#id_except-1-join", "or")
    page.select_option("#id_except-1-kind", "is_dsn")
    assert page.is_hidden("#id_except-1-values")

    # A row added by mistake and removed again is left out.
    page.click("#add-except")
    page.select_option("#id_except-2-kind", "subject")
    page.locator("#section-except [data-row]").nth(2).locator("[data-remove]").click()
    assert page.is_hidden("#id_except-2-kind")

    # THEN Redirect to Secure Mailbox using "My delivery profile".
    page.select_option("#id_then-0-kind", "redirect_secure_mailbox")
    assert page.is_hidden("#id_then-0-route")
    page.select_option("#id_then-0-profile", label="My delivery profile")
    screenshot(page, out, "1-editor")

    page.click("button[name=preview]")
    preview = page.locator("#policy-preview .policy-sentence")
    assert preview.inner_text() == POLICY_1
    assert not ContentPolicy.objects.exists()
    screenshot(page, out, "2-preview")

    page.click("button[name=save]")
    page.wait_for_selector("text='Policy 1' created.")
    sentence = page.locator("#policy-table .policy-sentence").first
    assert sentence.inner_text() == POLICY_1
    assert page.locator("#policy-table .policy-sentence .kw").all_inner_texts() == [
        "IF",
        "EXCEPT IF",
        "THEN",
    ]
    screenshot(page, out, "3-list")

    policy = ContentPolicy.objects.get(name="Policy 1")
    assert policy.conditions.filter(section="except").count() == 2
    assert (out / "3-list.png").stat().st_size > 0


def test_an_invalid_row_is_shown_on_its_row(admin_page, live_server, output_dir):
    page = admin_page
    out = output_dir / "policies_browser"
    out.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/policies/new/")
    page.fill("#id_name", "Broken")
    page.select_option("#id_if-0-kind", "sender_ip")
    page.fill("#id_if-0-values", "127.0.0.1\n10.0.0.1/8")
    page.select_option("#id_then-0-kind", "add_tag")
    page.fill("#id_then-0-tag", "checked")
    page.click("button[name=save]")
    error = page.locator("#section-if .invalid-feedback")
    assert "Line 2: '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?" in error.inner_text()
    assert page.is_visible("#id_if-0-values")
    screenshot(page, out, "4-row-error")
    assert not ContentPolicy.objects.exists()


def test_the_tester_page_shows_the_trace(admin_page, live_server, output_dir):
    from policies.engine import reference_policies
    from policies.services import policy_from_spec

    DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    policy_from_spec(reference_policies("A")[0])
    page = admin_page
    out = output_dir / "policies_browser"
    out.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/policies/")
    page.click("text=Test policies")
    page.fill(
        "#id_message", "From: alice@yourdomain.com\nTo: bob@partner.example\nSubject: Hi\n\nHello\n"
    )
    page.fill("#id_client_ip", "127.0.0.1")
    page.fill("#id_sender", "alice@yourdomain.com")
    page.fill("#id_recipients", "bob@partner.example")
    page.click("button:has-text('Run the policies')")
    summary = page.locator("#verdict-summary")
    assert " ".join(summary.inner_text().split()) == (
        "Redirect to Secure Mailbox using 'My delivery profile'"
    )
    assert "fired, processing stopped" in page.locator("#policy-trace").inner_text()
    screenshot(page, out, "5-tester")


def test_a_looping_policy_is_refused_then_saved_anyway(admin_page, live_server, output_dir):
    from policies.setup import SetupOptions, secure_setup

    secure_setup(
        options=SetupOptions(mode="A", local_domain="yourdomain.com", partners=("partner.example",))
    )
    page = admin_page
    out = output_dir / "policies_browser"
    out.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/policies/new/")
    page.fill("#id_name", "Partner mail by the loopback route")
    page.select_option("#id_if-0-kind", "recipient_address")
    page.fill("#id_if-0-values", "*@partner.example")
    page.select_option("#id_then-0-kind", "route")
    page.select_option("#id_then-0-route", label="Loopback route")
    page.click("button[name=save]")

    block = page.locator("#loop-block")
    block.wait_for()
    assert block.locator("[data-code=NOTIFICATION_ROUTE_LOOPS]").is_visible()
    assert "Fix:" in block.inner_text()
    assert page.input_value("#id_if-0-values") == "*@partner.example"  # the form as posted
    assert not ContentPolicy.objects.filter(name="Partner mail by the loopback route").exists()
    screenshot(page, out, "6-loop-refused")

    page.click("#save-anyway")
    page.wait_for_selector("text='Partner mail by the loopback route' created.")
    assert page.is_visible("text=Done although the loop check finds new errors")
    assert ContentPolicy.objects.get(name="Partner mail by the loopback route").enabled
    screenshot(page, out, "7-saved-anyway")
