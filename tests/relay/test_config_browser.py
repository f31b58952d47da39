"""The article's relay-policy steps, performed in headless Chromium through the forms."""

import pytest
from django.urls import reverse

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


def test_route_hosts_reordered_with_the_arrows_are_saved_in_that_order(
    admin_page, live_server, output_dir
):
    page = admin_page
    out = output_dir / "relay_config_browser"
    out.mkdir(exist_ok=True)
    route = DeliveryRoute.objects.create(
        name="Three hosts", hosts=["192.0.2.1", "[2001:db8::2]:2525", "relay.example.org"]
    )
    page.goto(f"{live_server.url}{route.get_absolute_url()}")
    order = page.locator("#route-hosts-order li")
    assert order.all_inner_texts() == ["192.0.2.1", "[2001:db8::2]:2525", "relay.example.org"]
    assert page.get_by_role("button", name="Move 192.0.2.1 up").is_disabled()
    assert page.get_by_role("button", name="Move relay.example.org down").is_disabled()

    page.get_by_role("button", name="Move 192.0.2.1 down").click()
    page.get_by_role("button", name="Move relay.example.org up").click()
    expected = ["[2001:db8::2]:2525", "relay.example.org", "192.0.2.1"]
    assert page.input_value("#id_hosts_text") == "\n".join(expected)
    assert order.all_inner_texts() == expected
    screenshot(page, out, "7-route-hosts-reordered")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text='Three hosts' saved.")
    route.refresh_from_db()
    assert route.hosts == expected


def test_route_hosts_typed_lines_show_in_the_order_list(admin_page, live_server):
    page = admin_page
    page.goto(f"{live_server.url}{reverse('relay:route-create')}")
    assert page.locator("#route-hosts-order").is_hidden()  # nothing to reorder yet
    page.fill("#id_name", "Typed")
    page.fill("#id_hosts_text", "a.example\n\n  b.example  ")
    assert page.locator("#route-hosts-order li").all_inner_texts() == ["a.example", "b.example"]
    page.get_by_role("button", name="Move b.example up").click()
    page.click("button:has-text('Save')")
    page.wait_for_selector("text='Typed' created.")
    assert DeliveryRoute.objects.get(name="Typed").hosts == ["b.example", "a.example"]


def test_route_hosts_textarea_works_without_javascript(browser, live_server, admin_user):
    from tests.support.browser import ADMIN_PASSWORD, ADMIN_USER

    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", ADMIN_USER)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        route = DeliveryRoute.objects.create(name="No script", hosts=["a.example", "b.example"])
        page.goto(f"{live_server.url}{route.get_absolute_url()}")
        assert page.locator("#route-hosts-order").count() == 0
        page.fill("#id_hosts_text", "b.example\na.example")
        page.click("button:has-text('Save')")
        page.wait_for_selector("text='No script' saved.")
        route.refresh_from_db()
        assert route.hosts == ["b.example", "a.example"]
    finally:
        context.close()
