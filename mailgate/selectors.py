"""Reads for the dashboard and `/metrics`: cheap aggregate queries on the queue tables.

The database is the source of truth, so every figure is computed from it (no counters kept
elsewhere). Each function runs a handful of indexed aggregate queries, whatever the size
of the tables.

What the figures mean:
* accepted: messages stored (by `created_at`), including the ones Mailgate makes itself;
* delivered over TLS / without TLS: recipients in delivery attempts with outcome
  "delivered" (by the attempt's start), split by the attempt's `tls`;
* redirected / bounced: recipients that reached that final state (by `final_at`);
* deferred: recipients waiting for a retry now, by their message's arrival;
* held: messages held by a policy or the hop limit (by arrival);
* partner TLS failures: attempts skipped for want of STARTTLS ("skipped") or whose
  handshake failed ("tls-failed"), by the recipient domain of the attempt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, IntegerField, Min, Q, QuerySet, Sum
from django.db.models.expressions import Func
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from relay.models import DeliveryAttempt, Message, MessageState, Recipient, RecipientState

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
WINDOWS: dict[str, timedelta] = {"1h": HOUR, "24h": DAY, "7d": WEEK}

TLS_FAILURE_OUTCOMES = ("skipped", "tls-failed")
PENDING_STATES = (RecipientState.QUEUED, RecipientState.DELIVERING, RecipientState.DEFERRED)
COUNT_NAMES = (
    "accepted",
    "delivered_tls",
    "delivered_plain",
    "redirected",
    "bounced",
    "deferred",
    "held",
)


class JSONArrayLength(Func):
    """The number of items of a JSON array column (SQLite json_array_length, PG jsonb_...)."""

    function = "JSON_ARRAY_LENGTH"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):  # type: ignore[no-untyped-def]
        return self.as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra_context)


@dataclass(frozen=True, slots=True)
class TrafficCounts:
    accepted: int = 0
    delivered_tls: int = 0
    delivered_plain: int = 0
    redirected: int = 0
    bounced: int = 0
    deferred: int = 0
    held: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}


@dataclass(frozen=True, slots=True)
class QueueStatus:
    messages: int
    recipients: int
    by_state: dict[str, int]
    oldest_at: datetime | None
    oldest_queue_id: str

    def oldest_age(self, now: datetime | None = None) -> float:
        if self.oldest_at is None:
            return 0.0
        return max(0.0, ((now or timezone.now()) - self.oldest_at).total_seconds())


@dataclass(frozen=True, slots=True)
class PartnerFailures:
    domain: str
    skipped: int = 0
    tls_failed: int = 0

    @property
    def total(self) -> int:
        return self.skipped + self.tls_failed


@dataclass(slots=True)
class Series:
    bucket: str  # "hour" or "day"
    labels: list[datetime] = field(default_factory=list)
    data: dict[str, list[int]] = field(default_factory=dict)


def _delivered_by_tls(since: datetime) -> dict[bool, int]:
    rows = (
        DeliveryAttempt.objects.filter(outcome="delivered", started_at__gte=since)
        .values("tls")
        .annotate(n=Sum(JSONArrayLength("recipients")))
    )
    return {bool(row["tls"]): int(row["n"] or 0) for row in rows}


def traffic_counts(since: datetime) -> TrafficCounts:
    """What happened since `since` (see the module docstring for each figure)."""
    messages = Message.objects.filter(created_at__gte=since).aggregate(
        accepted=Count("id"), held=Count("id", filter=Q(state=MessageState.HELD))
    )
    finals = Recipient.objects.filter(final_at__gte=since).aggregate(
        redirected=Count("id", filter=Q(state=RecipientState.REDIRECTED)),
        bounced=Count("id", filter=Q(state=RecipientState.BOUNCED)),
    )
    deferred = Recipient.objects.filter(
        state=RecipientState.DEFERRED, message__created_at__gte=since
    ).count()
    delivered = _delivered_by_tls(since)
    return TrafficCounts(
        accepted=messages["accepted"],
        delivered_tls=delivered.get(True, 0),
        delivered_plain=delivered.get(False, 0),
        redirected=finals["redirected"],
        bounced=finals["bounced"],
        deferred=deferred,
        held=messages["held"],
    )


def traffic_counts_by_window(now: datetime | None = None) -> dict[str, TrafficCounts]:
    now = now or timezone.now()
    return {name: traffic_counts(now - span) for name, span in WINDOWS.items()}


def _bucket_starts(since: datetime, now: datetime, bucket: str) -> list[datetime]:
    local = timezone.localtime(since)
    if bucket == "hour":
        start, step = local.replace(minute=0, second=0, microsecond=0), HOUR
    else:
        start, step = local.replace(hour=0, minute=0, second=0, microsecond=0), DAY
    starts = []
    while start <= now:
        starts.append(start)
        start = timezone.localtime(start + step)  # re-localised across DST changes
    return starts


def traffic_series(since: datetime, bucket: str = "hour", now: datetime | None = None) -> Series:
    """Delivered over TLS, redirected, bounced and deferred per hour (or day) since `since`."""
    now = now or timezone.now()
    trunc = TruncHour if bucket == "hour" else TruncDay
    delivered = Sum(JSONArrayLength("recipients"))
    recipients = Recipient.objects.all()
    queries: dict[str, tuple[QuerySet[Any], str, Any]] = {
        "delivered_tls": (
            DeliveryAttempt.objects.filter(outcome="delivered", tls=True),
            "started_at",
            delivered,
        ),
        "redirected": (recipients.filter(state=RecipientState.REDIRECTED), "final_at", Count("id")),
        "bounced": (recipients.filter(state=RecipientState.BOUNCED), "final_at", Count("id")),
        "deferred": (
            recipients.filter(state=RecipientState.DEFERRED),
            "message__created_at",
            Count("id"),
        ),
    }
    series = Series(bucket=bucket, labels=_bucket_starts(since, now, bucket))
    index = {start: i for i, start in enumerate(series.labels)}
    for name, (query, stamp, value) in queries.items():
        rows = (
            query.filter(**{f"{stamp}__gte": since})
            .annotate(b=trunc(stamp))
            .values("b")
            .annotate(n=value)
        )
        values = [0] * len(series.labels)
        for row in rows:
            i = index.get(timezone.localtime(row["b"]))
            if i is not None:
                values[i] += int(row["n"] or 0)
        series.data[name] = values
    return series


def queue_status() -> QueueStatus:
    """What is waiting: messages not yet through the policies, recipients not yet final."""
    by_state = dict(
        Recipient.objects.filter(state__in=PENDING_STATES)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    waiting = Message.objects.filter(
        Q(state=MessageState.RECEIVED) | Q(recipients__state__in=PENDING_STATES)
    )
    totals = waiting.aggregate(messages=Count("id", distinct=True), oldest=Min("created_at"))
    oldest_id = ""
    if totals["oldest"] is not None:
        oldest_id = (
            waiting.filter(created_at=totals["oldest"]).values_list("queue_id", flat=True).first()
            or ""
        )
    return QueueStatus(
        messages=totals["messages"],
        recipients=sum(by_state.values()),
        by_state={str(state): by_state.get(state, 0) for state in PENDING_STATES},
        oldest_at=totals["oldest"],
        oldest_queue_id=oldest_id,
    )


def partner_tls_failures(since: datetime, limit: int | None = 10) -> list[PartnerFailures]:
    """Recipient domains whose hosts failed TLS most often since `since`, worst first.

    An attempt carries the recipients of one domain (delivery groups by domain), so its
    first recipient names the partner."""
    rows = (
        DeliveryAttempt.objects.filter(outcome__in=TLS_FAILURE_OUTCOMES, started_at__gte=since)
        .annotate(first=KT("recipients__0"))
        .values("first", "outcome")
        .annotate(n=Count("id"))
    )
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        domain = str(row["first"] or "").rpartition("@")[2].lower() or "(unknown)"
        counts.setdefault(domain, Counter())[row["outcome"]] += row["n"]
    result = [
        PartnerFailures(domain, skipped=c["skipped"], tls_failed=c["tls-failed"])
        for domain, c in counts.items()
    ]
    result.sort(key=lambda p: (-p.total, p.domain))
    return result[:limit] if limit else result
