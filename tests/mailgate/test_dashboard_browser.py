"""The dashboard in headless Chromium, with data: KPI cards, the chart, the tables."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_dashboard_renders_with_data(admin_page, live_server, output_dir, traffic):
    page = admin_page
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("#traffic-chart[data-ready=true]")
    assert page.inner_text("#queue-size").strip() == "3"
    assert "partner.example" in page.inner_text("#partners")
    counts = page.inner_text("#counts")
    assert "Redirected to Secure Mailbox" in counts
    # The chart drew something: the canvas is not blank.
    painted = page.evaluate(
        """() => { const c = document.getElementById('traffic-chart');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
                   return false; }"""
    )
    assert painted
    out = output_dir / "dashboard"
    out.mkdir(exist_ok=True)
    screenshot(page, out, "1-dashboard-24h")
    page.click("button[data-range=week]")
    screenshot(page, out, "2-dashboard-7d")

    page.click("#counts a:has-text('Deferred')")
    page.wait_for_url("**/relay/messages/?state=deferred")
