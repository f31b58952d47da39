"""The policy tester's form: a raw message (pasted or uploaded) and its envelope."""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms
from django.conf import settings

from policies.models import ContentPolicy

TEXT = {"class": "form-control"}


class PolicyTestForm(forms.Form):
    message = forms.CharField(
        label="Message (headers and body, as sent)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={**TEXT, "rows": 10, "class": "form-control mono"}),
    )
    upload = forms.FileField(label="…or upload an .eml file", required=False)
    client_ip = forms.CharField(
        label="Sent from IP address",
        initial="127.0.0.1",
        widget=forms.TextInput(attrs=TEXT),
        help_text="The SMTP client's address (127.0.0.1 is a looped-back message).",
    )
    sender = forms.CharField(
        label="Envelope sender",
        required=False,
        widget=forms.TextInput(attrs=TEXT),
        help_text="Empty or <> for the null sender (a bounce).",
    )
    recipients = forms.CharField(
        label="Recipients (one per line)", widget=forms.Textarea(attrs={**TEXT, "rows": 2})
    )
    tags = forms.CharField(
        label="Tags (one per line)",
        required=False,
        widget=forms.Textarea(attrs={**TEXT, "rows": 2}),
        help_text="E.g. Secure Collaboration: PURL for a Secure Mailbox notification.",
    )
    policies = forms.ModelMultipleChoiceField(
        label="Policies to run",
        queryset=ContentPolicy.objects.order_by("position", "id"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: the enabled policies, in order.",
    )

    def clean_client_ip(self) -> str:
        text = self.cleaned_data["client_ip"].strip()
        try:
            ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            raise forms.ValidationError(f"'{text}' is not an IPv4 or IPv6 address.") from None
        return text

    def clean_recipients(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["recipients"].splitlines() if line.strip()
        ]

    def clean_tags(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["tags"].splitlines() if line.strip()]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        upload = cleaned.get("upload")
        if upload is not None:
            if upload.size > settings.MAILGATE_MAX_MESSAGE_SIZE:
                self.add_error("upload", "The file is larger than the maximum message size.")
                return cleaned
            cleaned["raw"] = upload.read()
        else:
            text = cleaned.get("message") or ""
            # A pasted message has browser line ends; SMTP's are CRLF (RFC 5321 §2.3.8).
            cleaned["raw"] = "\r\n".join(text.splitlines()).encode("utf-8") + b"\r\n"
        if not cleaned["raw"].strip():
            self.add_error("message", "Paste a message or upload a file.")
        return cleaned
