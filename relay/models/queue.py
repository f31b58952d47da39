"""The queue: the database is the source of truth, Celery is only the doorbell.

A `Message` is one accepted SMTP transaction (raw bytes in the spool). Each `Recipient` is
queued, delivered, deferred, bounced, held or redirected on its own, with attempts, the time
of its next attempt and a lease that a worker takes before it delivers it. Every try at a
host is a `DeliveryAttempt`.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse


class MessageState(models.TextChoices):
    RECEIVED = "received", "Received"  # spooled, policies not yet run
    ACTIVE = "active", "Active"  # policies ran; recipients are being delivered
    HELD = "held", "Held"  # quarantined by a policy or the hop limit
    DONE = "done", "Done"  # every recipient is in a final state


class RecipientState(models.TextChoices):
    QUEUED = "queued", "Queued"
    DELIVERING = "delivering", "Delivering"
    DEFERRED = "deferred", "Deferred"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    HELD = "held", "Held"
    REDIRECTED = "redirected", "Redirected to Secure Mailbox"


FINAL_RECIPIENT_STATES = frozenset(
    {RecipientState.DELIVERED, RecipientState.BOUNCED, RecipientState.REDIRECTED}
)


class Relation(models.TextChoices):
    LOOPBACK = "loopback", "Looped-back copy"
    DSN = "dsn", "Delivery status notification"
    NOTIFICATION = "notification", "Secure Mailbox notification"
    REPLY = "reply", "Secure Mailbox reply"
    CODE = "code", "Secure Mailbox one-time code"


class Message(models.Model):
    queue_id = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    state = models.CharField(
        max_length=12, choices=MessageState, default=MessageState.RECEIVED, db_index=True
    )
    # Envelope and connection
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    client_helo = models.CharField(max_length=255, blank=True)
    client_tls = models.BooleanField(default=False)
    envelope_sender = models.CharField(max_length=320, blank=True)  # "" is the null sender
    # Storage (name within the spool storage) and a few parsed fields for lists and search
    spool_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    subject = models.CharField(max_length=998, blank=True)
    header_from = models.CharField(max_length=998, blank=True)
    message_id_header = models.CharField(max_length=998, blank=True)
    hop_count = models.PositiveIntegerField(default=0)
    is_dsn = models.BooleanField(default=False)
    # Policy results
    tags = models.JSONField(default=list, blank=True)
    headers_added = models.JSONField(default=list, blank=True)  # [[name, value], ...]
    policy_trace = models.JSONField(default=list, blank=True)
    verdict = models.JSONField(default=dict, blank=True)
    route_name = models.CharField(max_length=100, blank=True)  # chosen by a policy
    hold_reason = models.TextField(blank=True)
    # Lease for the policy stage (a worker that dies leaves it to run out)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Related messages: a looped-back copy, a DSN, a notification all point at their origin
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    relation = models.CharField(max_length=16, choices=Relation, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "lease_until"])]

    def __str__(self) -> str:
        return self.queue_id

    def get_absolute_url(self) -> str:
        return reverse("relay:message-detail", args=[self.queue_id])


class Recipient(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(max_length=320)
    domain = models.CharField(max_length=253, db_index=True)  # A-label, lower case
    state = models.CharField(
        max_length=12, choices=RecipientState, default=RecipientState.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    dsn_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return self.address


class DeliveryAttempt(models.Model):
    """One try at one host for one or more recipients of a message (one SMTP transaction)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    recipients = models.JSONField(default=list)  # addresses tried in this transaction
    started_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(default=0)
    host = models.CharField(max_length=255, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, blank=True)  # "mx", "route", "a"
    tls = models.BooleanField(default=False)
    tls_version = models.CharField(max_length=16, blank=True)
    tls_cipher = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=16)  # delivered, deferred, bounced, skipped, error
    reply_code = models.PositiveIntegerField(null=True, blank=True)
    reply = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.host} {self.outcome}"


# The tag the Secure Mailbox puts on its notifications (the vendor's exact words).
TAG_PURL = "Secure Collaboration: PURL"
