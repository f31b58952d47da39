"""Dashboard and metrics figures from known queue rows (mailgate.selectors)."""

import pytest
from django.utils import timezone

from mailgate import selectors
from mailgate.selectors import TrafficCounts

pytestmark = pytest.mark.django_db


def test_counts_per_window(traffic):
    counts = selectors.traffic_counts_by_window(traffic.now)
    assert counts["1h"] == TrafficCounts(
        accepted=3, delivered_tls=2, delivered_plain=0, redirected=1, bounced=0, deferred=1, held=0
    )
    assert counts["24h"] == TrafficCounts(
        accepted=6, delivered_tls=2, delivered_plain=1, redirected=1, bounced=1, deferred=1, held=1
    )
    assert counts["7d"] == TrafficCounts(
        accepted=9, delivered_tls=3, delivered_plain=1, redirected=1, bounced=1, deferred=2, held=1
    )


def test_empty_database_gives_zeros(db):
    assert selectors.traffic_counts(timezone.now() - selectors.WEEK) == TrafficCounts()
    queue = selectors.queue_status()
    assert (queue.messages, queue.recipients, queue.oldest_at, queue.oldest_age()) == (
        0, 0, None, 0.0,
    )  # fmt: skip
    assert selectors.partner_tls_failures(timezone.now() - selectors.WEEK) == []


def test_queue_status(traffic):
    queue = selectors.queue_status()
    # M3 (deferred), M8 (deferred + queued), M9 (received, policies not run yet)
    assert queue.messages == 3
    assert queue.recipients == 3
    assert queue.by_state == {"queued": 1, "delivering": 0, "deferred": 2}
    assert queue.oldest_queue_id == traffic.oldest_queue_id
    assert 3 * 86400 + 3500 < queue.oldest_age(traffic.now) < 3 * 86400 + 3700


def test_partner_tls_failures_worst_first(traffic):
    week = selectors.partner_tls_failures(traffic.now - selectors.WEEK)
    assert [(p.domain, p.skipped, p.tls_failed, p.total) for p in week] == [
        ("partner.example", 1, 1, 2),
        ("tls.example", 0, 1, 1),
    ]
    hour = selectors.partner_tls_failures(traffic.now - selectors.HOUR, limit=1)
    assert [p.domain for p in hour] == ["partner.example"]


def test_series_per_hour_and_day(traffic):
    day = selectors.traffic_series(traffic.now - selectors.DAY, "hour", traffic.now)
    assert len(day.labels) in (24, 25)
    assert sum(day.data["delivered_tls"]) == 2
    assert sum(day.data["redirected"]) == 1
    assert sum(day.data["bounced"]) == 1
    assert sum(day.data["deferred"]) == 1
    week = selectors.traffic_series(traffic.now - selectors.WEEK, "day", traffic.now)
    assert len(week.labels) == 8
    assert sum(week.data["delivered_tls"]) == 3
    assert sum(week.data["deferred"]) == 2
    assert week.data["delivered_tls"][-1] == 2 or week.data["delivered_tls"][-2] == 2
