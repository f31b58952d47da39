"""`/metrics` in the Prometheus text exposition format (version 0.0.4), from the database.

Old records are pruned (MAILGATE_RECORD_RETENTION_DAYS), so figures are gauges over
sliding windows (`window="1h"|"24h"|"7d"`), not ever-growing counters: use them as they
are (`mailgate_recipients_delivered{tls="true",window="1h"}`), not with rate().
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from mailgate import selectors

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PARTNER_WINDOW = "24h"
PARTNER_LIMIT = 50  # bounded label cardinality


@dataclass(frozen=True, slots=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    help: str
    samples: list[Sample]
    kind: str = "gauge"


def metrics_token() -> str:
    return getattr(settings, "MAILGATE_METRICS_TOKEN", "") or os.environ.get(
        "MAILGATE_METRICS_TOKEN", ""
    )


def token_ok(authorization: str, token: str) -> bool:
    """No token configured: open. Else `Authorization: Bearer <token>`, compared in
    constant time."""
    if not token:
        return True
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for sample in metric.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            name = f"{metric.name}{{{labels}}}" if labels else metric.name
            lines.append(f"{name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def collect() -> list[Metric]:
    now = timezone.now()
    counts = selectors.traffic_counts_by_window(now)
    queue = selectors.queue_status()
    partners = selectors.partner_tls_failures(
        now - selectors.WINDOWS[PARTNER_WINDOW], limit=PARTNER_LIMIT
    )

    def windowed(field: str, extra: dict[str, str] | None = None) -> list[Sample]:
        return [
            Sample({**(extra or {}), "window": window}, getattr(c, field))
            for window, c in counts.items()
        ]

    return [
        Metric(
            "mailgate_messages_accepted",
            "Messages accepted (stored) within the window.",
            windowed("accepted"),
        ),
        Metric(
            "mailgate_recipients_delivered",
            "Recipients delivered within the window, by whether the session used TLS.",
            windowed("delivered_tls", {"tls": "true"})
            + windowed("delivered_plain", {"tls": "false"}),
        ),
        Metric(
            "mailgate_recipients_redirected",
            "Recipients redirected to the Secure Mailbox within the window.",
            windowed("redirected"),
        ),
        Metric(
            "mailgate_recipients_bounced",
            "Recipients bounced within the window.",
            windowed("bounced"),
        ),
        Metric(
            "mailgate_recipients_deferred",
            "Recipients waiting for a retry, of messages accepted within the window.",
            windowed("deferred"),
        ),
        Metric(
            "mailgate_messages_held",
            "Messages held (policy or hop limit), of those accepted within the window.",
            windowed("held"),
        ),
        Metric(
            "mailgate_queue_messages",
            "Messages with work left (policies not run, or recipients not final).",
            [Sample({}, queue.messages)],
        ),
        Metric(
            "mailgate_queue_recipients",
            "Recipients not yet in a final state, by state.",
            [Sample({"state": state}, n) for state, n in queue.by_state.items()],
        ),
        Metric(
            "mailgate_queue_oldest_age_seconds",
            "Age of the oldest message with work left (0 when the queue is empty).",
            [Sample({}, round(queue.oldest_age(now), 3))],
        ),
        Metric(
            "mailgate_partner_tls_failures",
            f"Delivery attempts that failed TLS (skipped: no STARTTLS; tls-failed: handshake) "
            f"in the last {PARTNER_WINDOW}, by recipient domain (worst {PARTNER_LIMIT}).",
            [
                Sample({"domain": p.domain, "outcome": outcome}, n)
                for p in partners
                for outcome, n in (("skipped", p.skipped), ("tls-failed", p.tls_failed))
                if n
            ],
        ),
    ]


def metrics_text() -> str:
    return render(collect())
