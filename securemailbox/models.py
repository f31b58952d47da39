"""Secure Mailbox models: delivery profiles, redirected items, portal throttles."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

# The notification travels in clear, so by default it names the sender but not the
# subject: a subject can itself be confidential. {subject} stays available to admins who
# decide otherwise for their organisation.
DEFAULT_SUBJECT = "Secure message from {sender}"
DEFAULT_TEXT = (
    "You have received a secure message from {sender}.\n\n"
    "Read it here (the link is private to you):\n{purl}\n\n"
    "The message is available until {expires}.\n"
)
DEFAULT_HTML = (
    "<p>You have received a secure message from <strong>{sender}</strong>.</p>"
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
        blank=True, help_text="Empty: MAILGATE_BASE_URL. The pURL is this plus /m/<token>/."
    )
    expiry_days = models.PositiveIntegerField(
        default=14, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    verification = models.CharField(max_length=10, choices=Verification, default=Verification.NONE)
    allow_reply = models.BooleanField("Allow secure reply", default=True)
    allow_attachment_download = models.BooleanField(default=True)
    organisation_name = models.CharField(max_length=100, blank=True)
    brand_colour = models.CharField(
        max_length=7,
        default="#0d6efd",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}\Z", "A colour such as #0d6efd.")],
    )
    # The logo lives in the database (small, checked PNG/JPEG/GIF/WebP), shown as a data: URI:
    # no media storage to share between machines, and never served as a document.
    logo = models.BinaryField(blank=True, default=b"", editable=False)
    logo_type = models.CharField(max_length=20, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("securemailbox:profile-edit", args=[self.pk])


class ItemState(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"
    PURGED = "purged", "Purged"  # the stored message is deleted; only the record is left


class SecureMessage(models.Model):
    """One redirected message for one recipient: what a pURL opens."""

    # SET_NULL: the relay prunes old messages; the item keeps its own copy of what it shows.
    message = models.ForeignKey(
        "relay.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient = models.OneToOneField(
        "relay.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="secure_message",
    )
    profile = models.ForeignKey(DeliveryProfile, on_delete=models.PROTECT, related_name="items")
    queue_id = models.CharField(max_length=32, db_index=True)  # of the redirected message
    recipient_address = models.CharField(max_length=320)
    sender = models.CharField(max_length=320, blank=True)  # envelope sender
    header_from = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    message_id_header = models.CharField(max_length=998, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    store_name = models.CharField(max_length=100)  # encrypted raw message (crypto.py)
    token_hash = models.CharField(max_length=64, unique=True)  # HMAC of the pURL token
    token_issued_at = models.DateTimeField()
    state = models.CharField(
        max_length=10, choices=ItemState, default=ItemState.ACTIVE, db_index=True
    )
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    notification = models.ForeignKey(
        "relay.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notifications_sent = models.PositiveIntegerField(default=0)
    # Verification: a password (Django hasher) or a one-time code (HMAC, short-lived)
    password_hash = models.CharField(max_length=256, blank=True)
    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveIntegerField(default=0)
    replies_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue_id", "recipient_address"], name="securemessage_once_per_rcpt"
            )
        ]
        verbose_name = "secure message"

    def __str__(self) -> str:
        return f"{self.queue_id} → {self.recipient_address}"

    def get_absolute_url(self) -> str:
        return reverse("securemailbox:item-detail", args=[self.pk])


class PortalThrottle(models.Model):
    """A fixed-window counter shared by every web process (the database, not LocMem)."""

    key = models.CharField(max_length=200, unique=True)  # "<scope>:<subject>:<window>"
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
