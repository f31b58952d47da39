"""Rate limits for the portal, kept in the database.

Django's LocMem cache is per process, so gunicorn's workers would each count on their own;
the database is shared by every web process and machine, so the counters live there
(``PortalThrottle``, fixed windows). Scopes (see ``LIMITS``): misses (unknown, expired or
revoked tokens) per client IP and per network (/24, /64), wrong codes or passwords per
IP and per item, codes sent and replies sent per item. The client IP is ``REMOTE_ADDR``:
behind a reverse proxy, have the proxy (or a middleware you trust) set it.

A miss is counted *before* the token is looked at, and a blocked client gets 429 for every
token, so the answer never tells a valid token from an invalid one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from .models import PortalThrottle


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


LIMITS = {
    "miss-ip": Limit(30, 600),
    "miss-net": Limit(120, 600),
    "verify-ip": Limit(20, 900),
    "verify-item": Limit(10, 900),
    "code-item": Limit(5, 3600),
    "reply-item": Limit(20, 86400),
}


def _trusted(ip: str, proxies: list[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        return any(addr in ipaddress.ip_network(net, strict=False) for net in proxies)
    except ValueError:
        return False


def client_ip(request: HttpRequest) -> str:
    """The reader's address: REMOTE_ADDR, or behind a trusted proxy the nearest address in
    X-Forwarded-For that is not one of our proxies (read from the right: what a client put
    on the left itself is never believed)."""
    ip = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = list(getattr(settings, "MAILGATE_TRUSTED_PROXIES", []))
    if not proxies or not _trusted(ip, proxies):
        return ip
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return ip  # a forged or garbled header: count the proxy itself
        if not _trusted(hop, proxies):
            return hop
    return ip


def client_network(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _key(scope: str, subject: str, now: dt.datetime) -> tuple[str, dt.datetime]:
    limit = LIMITS[scope]
    window = int(now.timestamp()) // limit.seconds
    ends = dt.datetime.fromtimestamp((window + 1) * limit.seconds, tz=dt.UTC)
    return f"{scope}:{subject}:{window}"[:200], ends


def throttle_blocked(*, scope: str, subject: str, now: dt.datetime | None = None) -> bool:
    """True when this subject has used up its allowance in the current window."""
    return throttles_blocked([(scope, subject)], now=now)


def throttles_blocked(pairs: list[tuple[str, str]], *, now: dt.datetime | None = None) -> bool:
    """True when any (scope, subject) is over its limit: one query for all of them."""
    now = now or timezone.now()
    keys = {_key(scope, subject, now)[0]: LIMITS[scope].count for scope, subject in pairs}
    return any(count >= keys[key] for key, count in _counts(list(keys)))


def _counts(keys: list[str]) -> list[tuple[str, int]]:
    """The (key, count) rows for these keys. Every portal request asks this before anything
    else, so it is one parameterised statement written out: building it with the ORM cost
    ten times what SQLite needs to answer it."""
    if not keys:
        return []
    db = connections[router.db_for_read(PortalThrottle)]
    quote = db.ops.quote_name
    meta = PortalThrottle._meta
    table = quote(meta.db_table)
    columns = {field.name: str(field.column) for field in meta.concrete_fields}
    key, count = quote(columns["key"]), quote(columns["count"])
    marks = ", ".join(["%s"] * len(keys))
    sql = f"SELECT {key}, {count} FROM {table} WHERE {key} IN ({marks})"  # noqa: S608 (names)
    with db.cursor() as cursor:
        cursor.execute(sql, keys)
        return [(str(k), int(c)) for k, c in cursor.fetchall()]


def throttle_hit(*, scope: str, subject: str, now: dt.datetime | None = None) -> bool:
    """Count one event; True when it is still within the limit."""
    key, ends = _key(scope, subject, now or timezone.now())
    for _ in range(3):
        with transaction.atomic():
            if PortalThrottle.objects.filter(key=key).update(count=F("count") + 1):
                count = PortalThrottle.objects.get(key=key).count
                return count <= LIMITS[scope].count
            try:
                with transaction.atomic():
                    PortalThrottle.objects.create(key=key, count=1, expires_at=ends)
                return True
            except IntegrityError:  # another process created it first: count again
                continue
    return False


def throttle_prune(*, now: dt.datetime | None = None) -> int:
    deleted, _ = PortalThrottle.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def miss_blocked(request: HttpRequest) -> bool:
    ip = client_ip(request)
    return throttles_blocked([("miss-ip", ip), ("miss-net", client_network(ip))])


def miss_record(request: HttpRequest) -> None:
    ip = client_ip(request)
    throttle_hit(scope="miss-ip", subject=ip)
    throttle_hit(scope="miss-net", subject=client_network(ip))


def verify_blocked(request: HttpRequest, item_id: int) -> bool:
    return throttles_blocked([("verify-ip", client_ip(request)), ("verify-item", str(item_id))])


def verify_failed(request: HttpRequest, item_id: int) -> None:
    throttle_hit(scope="verify-ip", subject=client_ip(request))
    throttle_hit(scope="verify-item", subject=str(item_id))
