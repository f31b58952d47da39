"""The secure setup wizard and the loop check page. Thin: the form validates, the service
(``policies.setup.secure_setup``) previews (a rolled-back run) and applies."""

from __future__ import annotations

import hashlib
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from policies.loopcheck.collect import loop_check_run
from policies.setup import (
    DEFAULT_PROFILE,
    SetupError,
    SetupOptions,
    secure_setup,
    setup_options_clean,
)
from securemailbox.models import DeliveryProfile, Verification

MODES = [
    ("A", "Setup A: partner domains must get TLS (else the Secure Mailbox)"),
    ("B", "Setup B: all outbound mail must get TLS (else the Secure Mailbox)"),
]


class SecureSetupForm(forms.Form):
    mode = forms.ChoiceField(choices=MODES, widget=forms.RadioSelect, initial="A")
    local_domain = forms.CharField(label="Your domain", max_length=253)
    partners = forms.CharField(
        label="Partner domains",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Setup A: one per line. Run the setup again to add more.",
    )
    notification_sender = forms.EmailField(
        required=False,
        help_text="Empty: the profile's sender, or secureMailer@ your domain for a new profile.",
    )
    profile = forms.CharField(label="Delivery profile", max_length=100, initial=DEFAULT_PROFILE)
    verification = forms.ChoiceField(
        choices=[("", "Keep the profile's (a new profile: none)"), *Verification.choices],
        required=False,
    )
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.options: SetupOptions | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        options = SetupOptions(
            mode=data["mode"],
            local_domain=data["local_domain"],
            partners=tuple(data["partners"].replace(",", "\n").split()),
            notification_sender=data["notification_sender"],
            profile=data["profile"],
            verification=data["verification"],
        )
        try:
            self.options = setup_options_clean(options)
        except SetupError as error:
            raise forms.ValidationError(str(error)) from None
        return data

    @property
    def digest(self) -> str:
        """Identifies the options a preview showed: Apply applies only those."""
        return hashlib.sha256(repr(self.options).encode()).hexdigest()[:16]


def _initial() -> dict[str, str]:
    domains = list(getattr(settings, "MAILGATE_LOCAL_DOMAINS", []) or [])
    profile = DeliveryProfile.objects.order_by("pk").first()
    if not domains and profile is not None:
        domains = [profile.notification_sender.rpartition("@")[2]]
    return {"local_domain": domains[0] if domains else ""}


def _crumbs(title: str) -> list[tuple[str, str | None]]:
    return [
        ("Content Policies", None),
        ("Delivery policies", reverse("policies:policy-list")),
        (title, None),
    ]


@login_required
def secure_setup_view(request: HttpRequest) -> HttpResponse:
    title = "Secure setup"
    form = SecureSetupForm(request.POST or None, initial=_initial())
    context: dict[str, Any] = {"title": title, "form": form, "breadcrumbs": _crumbs(title)}
    if request.method == "POST" and form.is_valid() and form.options is not None:
        confirmed = "apply" in request.POST and form.cleaned_data["previewed"] == form.digest
        if "apply" in request.POST and not confirmed:
            messages.warning(request, "The settings changed since the preview: check it again.")
        result = secure_setup(options=form.options, dry_run=not confirmed)
        context["result"] = result
        if confirmed:
            messages.success(request, f"Setup {form.options.mode} applied.")
            return render(request, "policies/setup_done.html", context)
        context["form"] = SecureSetupForm(
            initial={**form.cleaned_data, "previewed": form.digest}, data=None
        )
    return render(request, "policies/setup_form.html", context)


@login_required
def loop_check_view(request: HttpRequest) -> HttpResponse:
    title = "Loop check"
    report = loop_check_run()
    return render(
        request,
        "policies/loopcheck_page.html",
        {
            "title": title,
            "report": report,
            "loop_findings": report.findings,
            "breadcrumbs": _crumbs(title),
        },
    )
