"""What a portal request costs the database: the queries of a reading, the logo and the
notification templates left out of the item's lookup (purl.PROFILE_DEFERRED) and the logo
cached per saved profile, the rate-limit counters read in one statement. No timings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from securemailbox.models import PortalThrottle
from securemailbox.ratelimit import LIMITS, _key, throttles_blocked

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
OTHER_PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40


def _sql(capture: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"] for query in capture.captured_queries)


def test_a_counted_reading__page_and_body_cost_two_queries_each(
    client, redirect, django_assert_num_queries
):
    done = redirect()
    assert client.get(f"/m/{done.token}/").status_code == 200  # counts the reading
    with django_assert_num_queries(2):  # the rate-limit counters, the item with its profile
        assert client.get(f"/m/{done.token}/").status_code == 200
    with django_assert_num_queries(2):
        assert client.get(f"/m/{done.token}/body/").status_code == 200


def test_the_lookup_leaves_the_logo_and_notification_templates_in_the_database(
    client, redirect, profile
):
    profile.logo, profile.logo_type = PNG, "image/png"
    profile.save()
    done = redirect()
    client.get(f"/m/{done.token}/")
    with CaptureQueriesContext(connection) as capture:
        assert client.get(f"/m/{done.token}/body/").status_code == 200
    sql = _sql(capture)
    for column in ('"logo"', '"notification_text"', '"notification_html"'):
        assert column not in sql, column


def test_the_logo_is_read_once_per_saved_profile_and_a_new_logo_shows_at_once(
    client, redirect, profile
):
    profile.logo, profile.logo_type = PNG, "image/png"
    profile.save()
    done = redirect()
    shown = "data:image/png;base64,iVBORw0KGgoAAAAAAAAA"
    assert shown in client.get(f"/m/{done.token}/").content.decode()
    with CaptureQueriesContext(connection) as capture:
        again = client.get(f"/m/{done.token}/").content.decode()
    assert '"logo"' not in _sql(capture) and shown in again
    profile.logo = OTHER_PNG
    profile.save()
    changed = client.get(f"/m/{done.token}/").content.decode()
    assert shown not in changed and "data:image/png;base64,iVBORw0KGgoBAQEB" in changed
    profile.logo, profile.logo_type = b"", ""
    profile.save()
    assert "data:image/" not in client.get(f"/m/{done.token}/").content.decode()


def test_throttles_blocked__each_scope_against_its_own_limit_in_its_own_window():
    now = timezone.now()
    ends = now + dt.timedelta(minutes=10)
    ip_key, _ = _key("miss-ip", "192.0.2.7", now)
    net_key, _ = _key("miss-net", "192.0.2.0/24", now)
    PortalThrottle.objects.create(key=ip_key, count=LIMITS["miss-ip"].count - 1, expires_at=ends)
    PortalThrottle.objects.create(key=net_key, count=LIMITS["miss-ip"].count, expires_at=ends)
    pairs = [("miss-ip", "192.0.2.7"), ("miss-net", "192.0.2.0/24")]
    assert not throttles_blocked(pairs, now=now)  # the network's limit is higher
    assert throttles_blocked([("miss-ip", "192.0.2.0/24")], now=now) is False  # other key
    PortalThrottle.objects.filter(key=ip_key).update(count=LIMITS["miss-ip"].count)
    assert throttles_blocked(pairs, now=now)
    later = now + dt.timedelta(seconds=LIMITS["miss-ip"].seconds)
    assert not throttles_blocked(pairs, now=later)  # a new window counts from zero
