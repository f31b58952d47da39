"""The article's relay-policy steps, performed in headless Chromium through the forms."""

import pytest

from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from tests.support.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_article_steps_build_the_relay_policies(admin_page, live_server, output_dir):
    page = admin_page
    out = output_dir / "relay_config_browser"
    out.mkdir(exist_ok=True)

    # I.1.2: Relay Policies → Connection Policies → Sending Connection Policies → Add.
    page.click("text=Relay Policies")
    page.click("text=Sending Connection Policies")
    page.click("text=Add")
    page.fill("#id_name", "Require TLS")
    page.check("#id_enable_tls")
    page.check("#id_require_tls")
    page.check("#id_no_tls_for_notifications")
    screenshot(page, out, "1-sending-policy-form")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text='Require TLS' created.")
    screenshot(page, out, "2-sending-policy-list")

    # II.2.2: Relay Policies → External → Delivery Routes → Add, DNS first, then 127.0.0.1.
    page.click("text=Relay Policies")
    page.click("text=Delivery Routes")
    page.click("text=Add")
    page.fill("#id_name", "Loopback route")
    page.check("#id_use_dns_first")
    page.fill("#id_hosts_text", "127.0.0.1")
    screenshot(page, out, "3-route-form")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text='Loopback route' created.")
    screenshot(page, out, "4-route-list")

    # III.3.1: Relay Policies → External → Add a partner domain with the route and policy.
    page.click("text=Relay Policies")
    page.click("text=External Domains/Hosts")
    page.click("text=Add")
    page.fill("#id_domain", "partner.example")
    page.check("#id_include_subdomains")
    page.select_option("#id_route", label="Loopback route")
    page.select_option("#id_sending_policy", label="Require TLS")
    screenshot(page, out, "5-domain-form")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text='partner.example' created.")
    screenshot(page, out, "6-domain-list")

    policy = SendingConnectionPolicy.objects.get(name="Require TLS")
    assert policy.enable_tls and policy.require_tls and policy.no_tls_for_notifications
    route = DeliveryRoute.objects.get(name="Loopback route")
    assert route.use_dns_first and route.hosts == ["127.0.0.1"]
    entry = ExternalDomain.objects.get(domain="partner.example")
    assert entry.include_subdomains
    assert (entry.route, entry.sending_policy) == (route, policy)
    assert (out / "6-domain-list.png").stat().st_size > 0
