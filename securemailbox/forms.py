"""Forms: delivery profiles and item actions (Admin UI); verification and reply (portal)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone

from mailgate.forms import CrispyModelForm

from .models import DeliveryProfile
from .notify import PLACEHOLDERS, expires_text, placeholders_unknown, template_fill
from .sanitize import html_sanitize

MAX_LOGO = 256 * 1024
LOGO_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
PLACEHOLDER_HELP = "Placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + "."


def logo_type(data: bytes) -> str | None:
    """The image type from the first bytes (never from the upload's name or header)."""
    for magic, ctype in LOGO_MAGIC:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class DeliveryProfileForm(CrispyModelForm):
    logo_upload = forms.FileField(
        label="Logo", required=False, help_text="PNG, JPEG, GIF or WebP, up to 256 KB."
    )
    logo_remove = forms.BooleanField(label="Remove the logo", required=False)
    portal_base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Empty: MAILGATE_BASE_URL. The pURL is this plus /m/<token>/.",
    )

    class Meta:
        model = DeliveryProfile
        fields = [
            "name", "notification_sender", "notification_subject", "notification_text",
            "notification_html", "portal_base_url", "expiry_days", "verification",
            "allow_reply", "allow_attachment_download", "organisation_name", "brand_colour",
        ]  # fmt: skip
        widgets = {
            "notification_text": forms.Textarea(attrs={"rows": 7}),
            "notification_html": forms.Textarea(attrs={"rows": 7}),
            "brand_colour": forms.TextInput(attrs={"type": "color"}),
        }
        help_texts = {
            "notification_subject": PLACEHOLDER_HELP,
            "notification_text": PLACEHOLDER_HELP + " {purl} is required.",
            "notification_html": PLACEHOLDER_HELP + " {purl} is required. Values are escaped.",
            "notification_sender": "e.g. secureMailer@yourdomain.com (policies 2 and 3 match it)",
        }

    def clean_notification_subject(self) -> str:
        value: str = self.cleaned_data["notification_subject"]
        if "\r" in value or "\n" in value:
            raise forms.ValidationError("The subject is one line.")
        return self._placeholders(value, required=False)

    def clean_notification_text(self) -> str:
        return self._placeholders(self.cleaned_data["notification_text"], required=True)

    def clean_notification_html(self) -> str:
        return self._placeholders(self.cleaned_data["notification_html"], required=True)

    def _placeholders(self, value: str, *, required: bool) -> str:
        unknown = placeholders_unknown(value)
        if unknown:
            names = ", ".join(f"{{{u}}}" for u in unknown)
            raise forms.ValidationError(f"Unknown placeholder(s): {names}. {PLACEHOLDER_HELP}")
        if required and "{purl}" not in value:
            raise forms.ValidationError("The body must contain {purl}, the private link.")
        return value

    def clean_logo_upload(self) -> Any:
        upload = self.cleaned_data.get("logo_upload")
        if not upload:
            return None
        if upload.size > MAX_LOGO:
            raise forms.ValidationError("The logo may be at most 256 KB.")
        data = upload.read()
        ctype = logo_type(data)
        if not ctype:
            raise forms.ValidationError("The logo must be a PNG, JPEG, GIF or WebP image.")
        return (data, ctype)

    def save(self, commit: bool = True) -> DeliveryProfile:
        profile: DeliveryProfile = super().save(commit=False)
        if self.cleaned_data.get("logo_remove"):
            profile.logo, profile.logo_type = b"", ""
        if self.cleaned_data.get("logo_upload"):
            profile.logo, profile.logo_type = self.cleaned_data["logo_upload"]
        if commit:
            profile.save()
        return profile

    def preview(self) -> dict[str, str]:
        """The notification with sample values, as the recipient would see it."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else None
        source = data or {f: getattr(self.instance, f) for f in self.Meta.fields}
        values = sample_values(source.get("organisation_name") or "", source.get("expiry_days"))
        html, _ = html_sanitize(
            template_fill(source.get("notification_html") or "", values, escape=True)
        )
        return {
            "sender": source.get("notification_sender") or "",
            "subject": template_fill(source.get("notification_subject") or "", values),
            "text": template_fill(source.get("notification_text") or "", values),
            "html": html,
        }


def sample_values(organisation: str, days: int | None) -> dict[str, str]:
    expires = timezone.now() + dt.timedelta(days=days or 14)
    return {
        "purl": "https://mailgate.example/m/EXAMPLE-TOKEN-abcdefghijklmnopqrstuvwxyz012/",
        "sender": "Alice Example <alice@yourdomain.com>",
        "subject": "Quarterly figures",
        "expires": expires_text(expires),
        "organisation": organisation,
    }


class ExtendForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365, initial=7)


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        max_length=200, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class PasswordSetForm(forms.Form):
    password1 = forms.CharField(
        label="New password",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Repeat the password",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                validate_password(first)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Your reply", max_length=100_000, widget=forms.Textarea(attrs={"rows": 10})
    )
