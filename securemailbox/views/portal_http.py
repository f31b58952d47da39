"""What every portal response shares: privacy headers, the neutral page, throttling, and
resolving a pURL token to its item (fail closed)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from ..models import DeliveryProfile, SecureMessage
from ..purl import default_token_generator
from ..ratelimit import miss_blocked, miss_record

PortalView = Callable[..., HttpResponseBase]

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


def brand_context(profile: DeliveryProfile) -> dict[str, Any]:
    logo = ""
    if profile.logo and profile.logo_type:
        logo = f"data:{profile.logo_type};base64,{base64.b64encode(bytes(profile.logo)).decode()}"
    return {
        "brand_name": profile.organisation_name,
        "brand_colour": profile.brand_colour,
        "brand_logo": logo,
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
