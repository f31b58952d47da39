"""Secure Mailbox models."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

DEFAULT_SUBJECT = "Secure message from {sender}: {subject}"
DEFAULT_TEXT = (
    "You have received a secure message from {sender}.\n\n"
    "Subject: {subject}\n\n"
    "Read it here (the link is private to you):\n{purl}\n\n"
    "The message is available until {expires}.\n"
)
DEFAULT_HTML = (
    "<p>You have received a secure message from <strong>{sender}</strong>.</p>"
    "<p>Subject: {subject}</p>"
    '<p><a href="{purl}">Read the message</a></p>'
    "<p>The message is available until {expires}.</p>"
)


class Verification(models.TextChoices):
    NONE = "none", "None (the pURL alone)"
    CODE = "code", "One-time code sent to the recipient's address"
    PASSWORD = "password", "Password set by the recipient on first visit"


class DeliveryProfile(models.Model):
    """How redirected messages are announced and read (the vendor's 'delivery profile')."""

    name = models.CharField(max_length=100, unique=True)
    notification_sender = models.EmailField(max_length=320)
    notification_subject = models.CharField(max_length=300, default=DEFAULT_SUBJECT)
    notification_text = models.TextField("Notification body (plain text)", default=DEFAULT_TEXT)
    notification_html = models.TextField("Notification body (HTML)", default=DEFAULT_HTML)
    portal_base_url = models.URLField(
        blank=True, help_text="Empty: MAILGATE_BASE_URL. The pURL is this plus /m/<token>."
    )
    expiry_days = models.PositiveIntegerField(default=14)
    verification = models.CharField(max_length=10, choices=Verification, default=Verification.NONE)
    allow_reply = models.BooleanField("Allow secure reply", default=True)
    allow_attachment_download = models.BooleanField(default=True)
    organisation_name = models.CharField(max_length=100, blank=True)
    brand_colour = models.CharField(
        max_length=7,
        default="#0d6efd",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour such as #0d6efd.")],
    )
    logo = models.FileField(upload_to="branding/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("securemailbox:profile-edit", args=[self.pk])
