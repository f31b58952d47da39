"""The recipient portal: the message page, the sandboxed body, attachments, secure reply.

Pages change nothing on GET except the open count (link scanners prefetch pURLs, T-5);
everything else is a POST with a CSRF token.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from .. import access
from ..crypto import StoreError
from ..forms import ReplyForm
from ..models import SecureMessage
from ..ratelimit import throttle_hit
from ..render import attachment_read
from ..services import securemessage_open
from .csrf import portal_csrf_protect
from .portal_http import BODY_CSP, branded, neutral, with_item
from .rendering import rendered_for
from .verify import verification_step


def _remote(request: HttpRequest) -> bool:
    return request.GET.get("images") == "1"


@portal_csrf_protect
@with_item
@require_http_methods(["GET", "POST"])
def message(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    if not access.grant_valid(request, item):
        return verification_step(request, item, token)
    if request.method == "POST":  # only verification forms post here
        return HttpResponseRedirect(reverse("portal:message", args=[token]))
    try:
        shown = rendered_for(item, allow_remote=_remote(request))
    except StoreError:
        return neutral(request)
    securemessage_open(item=item)
    body_url = reverse("portal:body", args=[token]) + ("?images=1" if _remote(request) else "")
    return branded(request, item, "portal/message.html", {
        "item": item,
        "token": token,
        "shown": shown,
        "body_url": body_url,
        "remote": _remote(request),
        "allow_download": item.profile.allow_attachment_download,
        "allow_reply": item.profile.allow_reply and bool(access.reply_address(item)),
    })  # fmt: skip


@with_item
@require_GET
def body(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    """The sanitised HTML body, as its own document under the strict body CSP."""
    if not access.grant_valid(request, item):
        return neutral(request)
    try:
        shown = rendered_for(item, allow_remote=_remote(request))
    except StoreError:
        return neutral(request)
    html = render_to_string("portal/body.html", {"html": shown.html or ""})
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = BODY_CSP.format(
        remote=" https: http:" if _remote(request) else ""
    )
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


@with_item
@require_GET
def attachment(
    request: HttpRequest, item: SecureMessage, token: str, index: int
) -> HttpResponseBase:
    """A download, never shown inline: octet-stream, attachment, nosniff (A-2 to A-5)."""
    if not access.grant_valid(request, item) or not item.profile.allow_attachment_download:
        return neutral(request)
    try:
        found = attachment_read(rendered_raw(item), index)
    except StoreError:
        found = None
    if found is None:  # scoped to this item's message: another item's index is just absent
        return neutral(request)
    name, data = found
    return FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=name,
        content_type="application/octet-stream",
    )


def rendered_raw(item: SecureMessage) -> bytes:
    from ..crypto import store_read

    return store_read(item.store_name)


@portal_csrf_protect
@with_item
@require_http_methods(["GET", "POST"])
def reply(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    allowed = item.profile.allow_reply and access.reply_address(item)
    if not access.grant_valid(request, item) or not allowed:
        return neutral(request)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not throttle_hit(scope="reply-item", subject=str(item.pk)):
            form.add_error(None, "Too many replies for this message; try again later.")
        else:
            access.securemessage_reply(item=item, text=form.cleaned_data["text"])
            messages.success(request, "Your reply was sent securely.")
            return HttpResponseRedirect(reverse("portal:message", args=[token]))
    return branded(request, item, "portal/reply.html", {"item": item, "token": token, "form": form})
