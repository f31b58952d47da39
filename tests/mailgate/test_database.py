"""The database the suite runs on is the one DATABASE_URL names (CI runs it on both)."""

from __future__ import annotations

import os

import dj_database_url
import pytest
from django.db import connection

from mailgate import selectors

pytestmark = pytest.mark.django_db


def test_the_suite_uses_the_configured_database(settings):
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected
    if expected == "postgresql":
        # pytest-django runs on test_<name>; the end-to-end processes are pointed there too.
        name = dj_database_url.parse(url)["NAME"]
        assert settings.DATABASES["default"]["NAME"].startswith(f"test_{name}")


def test_json_aggregates_work_on_this_database(traffic):
    # JSON_ARRAY_LENGTH / JSONB_ARRAY_LENGTH and the ->>0 lookup are vendor-specific SQL.
    counts = selectors.traffic_counts(traffic.now - selectors.WEEK)
    assert (counts.delivered_tls, counts.delivered_plain) == (3, 1)
    assert selectors.partner_tls_failures(traffic.now - selectors.WEEK)[0].domain == (
        "partner.example"
    )
