"""The dashboard page: counts per window, the queue, partners, links into tracking."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_dashboard_renders_counts_queue_and_partners(admin_client, traffic):
    response = admin_client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    rows = {row["label"]: row["values"] for row in response.context["rows"]}
    assert rows == {
        "Accepted": [3, 6, 9],
        "Delivered over TLS": [2, 2, 3],
        "Delivered without TLS": [0, 1, 1],
        "Redirected to Secure Mailbox": [1, 1, 1],
        "Bounced": [0, 1, 1],
        "Deferred": [1, 1, 2],
        "Held": [0, 1, 1],
    }
    tracking = reverse("relay:message-list")
    for state in ("deferred", "bounced", "redirected", "held", "delivered"):
        assert f'href="{tracking}?state={state}"' in html
    assert reverse("relay:message-detail", args=[traffic.oldest_queue_id]) in html
    partners = re.search(r'<table[^>]*id="partners".*?</table>', html, re.S).group(0)
    assert partners.index("partner.example") < partners.index("tls.example")
    chart = json.loads(re.search(r'id="chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert sum(chart["day"]["datasets"]["delivered_tls"]) == 2
    assert sum(chart["week"]["datasets"]["delivered_tls"]) == 3
    assert len(chart["week"]["labels"]) == 8
    assert "vendor/chart.umd.min.js" in html
    assert "cdn" not in html.lower()


def test_dashboard_on_an_empty_database(admin_client):
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert "No TLS failures this week." in html
    assert "queue empty" in html
