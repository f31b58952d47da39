"""The dashboard (the Admin UI's home page), `/healthz` and `/metrics`.

`/healthz` and `/metrics` need no login: container health checks and Prometheus call them.
`/metrics` asks for `Authorization: Bearer <MAILGATE_METRICS_TOKEN>` when that is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mailgate import health, metrics, selectors

# Rows of the counts table: (label, field, tracking filter, Bootstrap colour)
COUNT_ROWS = (
    ("Accepted", "accepted", "", "secondary"),
    ("Delivered over TLS", "delivered_tls", "state=delivered", "success"),
    ("Delivered without TLS", "delivered_plain", "state=delivered", "warning"),
    ("Redirected to Secure Mailbox", "redirected", "state=redirected", "primary"),
    ("Bounced", "bounced", "state=bounced", "danger"),
    ("Deferred", "deferred", "state=deferred", "warning"),
    ("Held", "held", "state=held", "dark"),
)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """`?only=db,broker` limits the checks; 200 when all pass, else 503 naming the failures."""
    try:
        ok, report = health.health_report(request.GET.get("only"))
    except health.UnknownCheck as exc:
        return JsonResponse({"status": "error", "error": str(exc)}, status=400)
    return JsonResponse(report, status=200 if ok else 503)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics.token_ok(request.headers.get("Authorization", ""), metrics.metrics_token()):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="mailgate-metrics"'
        return response
    return HttpResponse(metrics.metrics_text(), content_type=metrics.CONTENT_TYPE)


def _chart_data(series: selectors.Series) -> dict[str, Any]:
    fmt = "%H:%M" if series.bucket == "hour" else "%a %d %b"
    return {
        "labels": [timezone.localtime(label).strftime(fmt) for label in series.labels],
        "datasets": series.data,
    }


def _count_table(counts: dict[str, selectors.TrafficCounts]) -> list[dict[str, Any]]:
    tracking = reverse("relay:message-list")
    return [
        {
            "label": label,
            "colour": colour,
            "url": f"{tracking}?{query}" if query else tracking,
            "values": [getattr(c, field) for c in counts.values()],
        }
        for label, field, query, colour in COUNT_ROWS
    ]


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    counts = selectors.traffic_counts_by_window(now)
    queue = selectors.queue_status()
    oldest: datetime | None = queue.oldest_at
    context = {
        "windows": list(counts),
        "day": counts["24h"],
        "rows": _count_table(counts),
        "queue": queue,
        "oldest_age": queue.oldest_age(now) if oldest else None,
        "partners": selectors.partner_tls_failures(now - selectors.WEEK, limit=10),
        "chart": {
            "day": _chart_data(selectors.traffic_series(now - selectors.DAY, "hour", now)),
            "week": _chart_data(selectors.traffic_series(now - selectors.WEEK, "day", now)),
        },
        "tracking_url": reverse("relay:message-list"),
    }
    return render(request, "dashboard.html", context)
