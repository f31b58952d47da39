"""What every portal response shares: privacy headers, the neutral page, throttling, and
resolving a pURL token to its item (fail closed)."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from ..models import DeliveryProfile, SecureMessage
from ..purl import default_token_generator
from ..ratelimit import miss_blocked, miss_record

PortalView = Callable[..., HttpResponseBase]
LOGO_CACHE_SIZE = 64  # profiles; a logo is at most 256 KB (forms.py)
_logo_lock = threading.Lock()
_logo_cache: OrderedDict[tuple[int, dt.datetime, str], str] = OrderedDict()

CHROME_CSP = (
    "default-src 'none'; style-src 'self'{nonce}; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The document that shows the mail: no script, no form, no request but data: images (and
# remote ones after the reader asked), in a sandbox (opaque origin) only the portal frames.
BODY_CSP = (
    "default-src 'none'; img-src data:{remote}; style-src 'unsafe-inline'; font-src 'none'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def privacy_headers(response: HttpResponseBase) -> HttpResponseBase:
    """No caching, no Referer (the pURL must not leak), no indexing (portal-attacks.md T-4)."""
    response["Cache-Control"] = "no-store, private, max-age=0"
    response["Pragma"] = "no-cache"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    response["X-Content-Type-Options"] = "nosniff"
    response.setdefault("Content-Security-Policy", CHROME_CSP.format(nonce=""))
    response.setdefault("X-Frame-Options", "DENY")
    response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def portal_headers(view: PortalView) -> PortalView:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return privacy_headers(view(request, *args, **kwargs))

    return wrapped


def neutral(request: HttpRequest) -> HttpResponse:
    """The one answer for unknown, expired, revoked and malformed tokens: same status, body."""
    return render(request, "portal/neutral.html", status=404)


def throttled(request: HttpRequest) -> HttpResponse:
    response = render(request, "portal/throttled.html", status=429)
    response["Retry-After"] = "600"
    return response


def with_item(view: PortalView) -> PortalView:
    """Resolve ``token`` to an open item or answer neutrally; count misses per client."""

    @portal_headers
    @wraps(view)
    def wrapped(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if miss_blocked(request):  # before the lookup: the answer says nothing about the token
            return throttled(request)
        item = default_token_generator.check(token)
        if item is None:
            miss_record(request)
            return neutral(request)
        return view(request, item, token, *args, **kwargs)

    return wrapped


def brand_logo(profile: DeliveryProfile) -> str:
    """The profile's logo as a data: URI ("" for none). Items come without the logo's bytes
    (purl.lookup defers them); they are read and encoded once per saved version of the
    profile, which every change to the logo is (``updated_at``)."""
    if not profile.logo_type:
        return ""
    key = (profile.pk, profile.updated_at, profile.logo_type)
    with _logo_lock:
        uri = _logo_cache.get(key)
    if uri is None:
        data = bytes(profile.logo)  # one query when deferred
        uri = f"data:{profile.logo_type};base64,{base64.b64encode(data).decode()}" if data else ""
        with _logo_lock:
            _logo_cache[key] = uri
            while len(_logo_cache) > LOGO_CACHE_SIZE:
                _logo_cache.popitem(last=False)
    return uri


def brand_context(profile: DeliveryProfile) -> dict[str, Any]:
    return {
        "brand_name": profile.organisation_name,
        "brand_colour": profile.brand_colour,
        "brand_logo": brand_logo(profile),
        "csp_nonce": secrets.token_urlsafe(16),
    }


def branded(
    request: HttpRequest, item: SecureMessage, template: str, ctx: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A portal page in the profile's look; its inline brand style is allowed by a nonce."""
    brand = brand_context(item.profile)
    response = render(request, template, {**brand, **ctx}, status=status)
    response["Content-Security-Policy"] = CHROME_CSP.format(nonce=f" 'nonce-{brand['csp_nonce']}'")
    return response
