"""CSRF for the portal, where every page sends ``Referrer-Policy: no-referrer``.

Under that policy a browser sends ``Origin: null`` with a same-origin form POST (Fetch,
"serializing a request origin"), which Django's origin check refuses. The portal accepts a
``null`` Origin only when the browser's own Fetch Metadata says the request is same-origin
(``Sec-Fetch-Site: same-origin``, which a page cannot forge); everything else, the CSRF
token above all, is Django's check unchanged. Cookies are SameSite (settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt


class PortalCsrfMiddleware(CsrfViewMiddleware):
    # Django's hook for the Origin check (CsrfViewMiddleware, since 4.0).
    def _origin_verified(self, request: HttpRequest) -> bool:  # type: ignore[misc]
        if request.META.get("HTTP_ORIGIN") == "null":
            return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"
        return bool(super()._origin_verified(request))  # type: ignore[misc]


_portal_csrf = decorator_from_middleware(PortalCsrfMiddleware)


def portal_csrf_protect(view: Callable[..., Any]) -> Callable[..., Any]:
    """The portal's CSRF check instead of the global middleware's (which is told to skip)."""
    return csrf_exempt(_portal_csrf(view))
