"""The profile's verification step before a message is shown: a one-time code mailed to the
recipient, or a password the recipient sets on the first visit. Wrong answers are counted
per client IP and per item (ratelimit.py); codes are only sent on POST (link scanners)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .. import access
from ..forms import CodeForm, PasswordForm, PasswordSetForm
from ..models import SecureMessage, Verification
from ..ratelimit import throttle_hit, verify_blocked, verify_failed
from .portal_http import branded

TOO_MANY = "Too many attempts. Please wait a few minutes and try again."


def masked(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}" if local else "•••"


def verification_step(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    if item.profile.verification == Verification.CODE:
        return _code_step(request, item, token)
    if not item.password_hash:
        return _password_set_step(request, item, token)
    return _password_step(request, item, token)


def _granted(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    access.grant_give(request, item)
    return HttpResponseRedirect(reverse("portal:message", args=[token]))


def _code_step(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    form = CodeForm()
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "send":
        if throttle_hit(scope="code-item", subject=str(item.pk)):
            access.securemessage_code_send(item=item)
            messages.info(request, f"A code was sent to {masked(item.recipient_address)}.")
        else:
            messages.error(request, "Too many codes were sent. Please try again later.")
        return HttpResponseRedirect(reverse("portal:message", args=[token]))
    if action == "verify":
        form = CodeForm(request.POST)
        if verify_blocked(request, item.pk):
            form.add_error(None, TOO_MANY)
        elif form.is_valid():
            if access.securemessage_code_check(item=item, code=form.cleaned_data["code"]):
                return _granted(request, item, token)
            verify_failed(request, item.pk)
            form.add_error("code", "This code is not valid (any more). Ask for a new one.")
    ctx = {"item": item, "token": token, "form": form, "masked": masked(item.recipient_address)}
    return branded(request, item, "portal/verify_code.html", ctx)


def _password_set_step(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    form = PasswordSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if access.securemessage_password_set(item=item, password=form.cleaned_data["password1"]):
            return _granted(request, item, token)
        # Somebody set it a moment ago: ask for it like on any later visit.
        return HttpResponseRedirect(reverse("portal:message", args=[token]))
    return branded(
        request, item, "portal/password_set.html", {"item": item, "token": token, "form": form}
    )


def _password_step(request: HttpRequest, item: SecureMessage, token: str) -> HttpResponse:
    form = PasswordForm(request.POST or None)
    if request.method == "POST":
        if verify_blocked(request, item.pk):
            form.add_error(None, TOO_MANY)
        elif form.is_valid():
            if access.securemessage_password_check(
                item=item, password=form.cleaned_data["password"]
            ):
                return _granted(request, item, token)
            verify_failed(request, item.pk)
            form.add_error("password", "This password is not right.")
    return branded(
        request, item, "portal/password.html", {"item": item, "token": token, "form": form}
    )
