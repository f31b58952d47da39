"""`/metrics`: Prometheus text format, values from known rows, the optional bearer token."""

from __future__ import annotations

import re

import pytest

from mailgate.metrics import Metric, Sample, render, token_ok

pytestmark = pytest.mark.django_db

# name{labels} value — the exposition format's sample line (labels optional)
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?[0-9.e+]+$')  # fmt: skip


def parse(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        key, _, value = line.rpartition(" ")
        values[key] = float(value)
    return values


def test_metrics_values_from_known_rows(client, traffic):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    assert text.endswith("\n")
    values = parse(text)
    assert values['mailgate_messages_accepted{window="1h"}'] == 3
    assert values['mailgate_messages_accepted{window="7d"}'] == 9
    assert values['mailgate_recipients_delivered{tls="true",window="1h"}'] == 2
    assert values['mailgate_recipients_delivered{tls="false",window="24h"}'] == 1
    assert values['mailgate_recipients_delivered{tls="true",window="7d"}'] == 3
    assert values['mailgate_recipients_redirected{window="24h"}'] == 1
    assert values['mailgate_recipients_bounced{window="24h"}'] == 1
    assert values['mailgate_recipients_deferred{window="7d"}'] == 2
    assert values['mailgate_messages_held{window="24h"}'] == 1
    assert values["mailgate_queue_messages"] == 3
    assert values['mailgate_queue_recipients{state="deferred"}'] == 2
    assert values['mailgate_queue_recipients{state="queued"}'] == 1
    assert 3 * 86400 < values["mailgate_queue_oldest_age_seconds"] < 4 * 86400
    assert values['mailgate_partner_tls_failures{domain="partner.example",outcome="skipped"}'] == 1
    assert (
        values['mailgate_partner_tls_failures{domain="partner.example",outcome="tls-failed"}'] == 1
    )
    # tls.example's failure was 3 days ago: outside the 24 h window of this metric
    assert not any("tls.example" in key and "partner" not in key for key in values)
    for name in ("mailgate_messages_accepted", "mailgate_queue_oldest_age_seconds"):
        assert f"# TYPE {name} gauge" in text


def test_metrics_on_an_empty_database(client):
    values = parse(client.get("/metrics").content.decode())
    assert values["mailgate_queue_messages"] == 0
    assert values["mailgate_queue_oldest_age_seconds"] == 0
    assert not any(key.startswith("mailgate_partner_tls_failures") for key in values)


def test_metrics_token(client, settings):
    settings.MAILGATE_METRICS_TOKEN = "s3cret-token"
    denied = client.get("/metrics")
    assert denied.status_code == 401
    assert denied["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert "s3cret" not in ok.content.decode()


def test_token_ok_rules():
    assert token_ok("", "")
    assert token_ok("anything", "")
    assert token_ok("Bearer t", "t") and token_ok("bearer t", "t")
    assert not token_ok("Basic t", "t")
    assert not token_ok("Bearer ", "t")


def test_label_values_are_escaped():
    text = render([Metric("m", "help", [Sample({"domain": 'a"b\\c\nd'}, 1.5), Sample({}, 2)])])
    assert 'm{domain="a\\"b\\\\c\\nd"} 1.5' in text
    assert "\nm 2\n" in text
