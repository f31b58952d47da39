"""Content policies: ordered outbound delivery policies with IF / EXCEPT IF / THEN rows.

The rows are the editable form; ``ContentPolicy.to_spec()`` turns one policy into the pure
engine's dict (``policies.engine.PolicySpec.from_dict``), and ``policies.loader`` compiles
the enabled ones into the frozen ruleset the worker evaluates.

Actions that name a delivery route or a delivery profile hold a foreign key
(``on_delete=PROTECT``): deleting a route or profile in use is refused, and a rename is
picked up by the next ``to_spec()`` (the rename bumps ``PolicyVersion``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.urls import reverse
from django.utils import timezone

from mailgate.versions import token_read

VERSION_ROW_ID = 1  # PolicyVersion is a single row


class ConditionKind(models.TextChoices):
    SENDER_IP = "sender_ip", "Sender IP address"
    SENDER_ADDRESS = "sender_address", "Sender address"
    RECIPIENT_ADDRESS = "recipient_address", "Recipient address"
    HEADER = "header", "Message header"
    IS_DSN = "is_dsn", "Delivery status notification"
    TAGS_ANY = "tags_any", "Contains any of the tags"
    TAGS_NONE = "tags_none", "Contains none of the tags"
    SUBJECT = "subject", "Subject"
    SIZE_OVER = "size_over", "Message size over"
    ATTACHMENT = "attachment", "Attachment"


class ActionKind(models.TextChoices):
    REDIRECT_SECURE_MAILBOX = "redirect_secure_mailbox", "Redirect to Secure Mailbox"
    ROUTE = "route", "Route using delivery route"
    ADD_HEADER = "add_header", "Add header"
    ADD_TAG = "add_tag", "Add tag"
    HOLD = "hold", "Hold the message"
    REJECT = "reject", "Reject the message"


class Section(models.TextChoices):
    IF = "if", "IF"
    EXCEPT = "except", "EXCEPT IF"


class Join(models.TextChoices):
    AND = "and", "and"
    OR = "or", "or"


class ContentPolicy(models.Model):
    """One outbound delivery policy; lower ``position`` runs first."""

    class Target(models.TextChoices):
        MESSAGE = "message", "Message"

    name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, db_index=True)
    target = models.CharField(max_length=16, choices=Target, default=Target.MESSAGE)
    continue_processing = models.BooleanField("and continue processing", default=False)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "delivery policy"
        verbose_name_plural = "delivery policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("policies:policy-edit", args=[self.pk])

    def to_spec(self) -> dict[str, Any]:
        """The engine's policy dict (see ``policies.engine.specs``); not validated here."""
        conditions = list(self.conditions.all())
        return {
            "id": self.pk,
            "name": self.name,
            "enabled": self.enabled,
            "if": [c.to_spec() for c in conditions if c.section == Section.IF],
            "except_if": [c.to_spec() for c in conditions if c.section == Section.EXCEPT],
            "then": [a.to_spec() for a in self.actions.all()],
            "continue_processing": self.continue_processing,
        }


class PolicyCondition(models.Model):
    policy = models.ForeignKey(ContentPolicy, on_delete=models.CASCADE, related_name="conditions")
    section = models.CharField(max_length=8, choices=Section, default=Section.IF)
    position = models.PositiveIntegerField(default=0)
    join = models.CharField(
        max_length=3,
        choices=Join,
        default=Join.AND,
        help_text="The word between this condition and the one before it.",
    )
    kind = models.CharField(max_length=32, choices=ConditionKind)
    negate = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["section", "position", "id"]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_section_display()} {self.get_kind_display()}"

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": dict(self.params or {}),
            "negate": self.negate,
            "join": self.join,
        }


class PolicyAction(models.Model):
    policy = models.ForeignKey(ContentPolicy, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=32, choices=ActionKind)
    params = models.JSONField(default=dict, blank=True)
    route = models.ForeignKey(
        "relay.DeliveryRoute",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="policy_actions",
    )
    profile = models.ForeignKey(
        "securemailbox.DeliveryProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="policy_actions",
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        # Shown by the CRUD delete view: "'Default' is still in use by 'delivery policy X'".
        return f"delivery policy {self.policy}"

    def to_spec(self) -> dict[str, Any]:
        params = dict(self.params or {})
        if self.kind == ActionKind.ROUTE and self.route_id is not None:
            params = {"route": self.route.name}  # type: ignore[union-attr]
        elif self.kind == ActionKind.REDIRECT_SECURE_MAILBOX and self.profile_id is not None:
            params = {"profile": self.profile.name}  # type: ignore[union-attr]
        return {"kind": self.kind, "params": params}


class PolicyVersion(models.Model):
    """A single row bumped on every change the compiled ruleset depends on.

    ``token`` is random, not a counter: a change rolled back and a later, different change
    can never meet the same cache key.
    """

    number = models.PositiveBigIntegerField(default=0)
    token = models.CharField(max_length=32, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"policy version {self.number}"

    @classmethod
    def bump(cls) -> None:
        token = uuid.uuid4().hex
        updated = cls.objects.filter(pk=VERSION_ROW_ID).update(
            number=models.F("number") + 1, token=token, updated_at=timezone.now()
        )
        if not updated:
            cls.objects.update_or_create(pk=VERSION_ROW_ID, defaults={"number": 1, "token": token})

    @classmethod
    def current(cls) -> str:
        """The cache key of the current ruleset: one indexed single-row query."""
        return token_read(cls._meta.db_table, VERSION_ROW_ID)
