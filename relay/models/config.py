"""Relay policies: sending connection policies, delivery routes and external domains/hosts."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from mailgate.versions import token_read
from relay.hosts import HostSyntaxError, domain_to_unicode, parse_host

DEFAULT_NAME = "Default"


class TLSVersion(models.TextChoices):
    TLS1_0 = "TLSv1", "TLS 1.0"
    TLS1_1 = "TLSv1.1", "TLS 1.1"
    TLS1_2 = "TLSv1.2", "TLS 1.2"
    TLS1_3 = "TLSv1.3", "TLS 1.3"


class SendingConnectionPolicy(models.Model):
    """How Mailgate connects to a remote host: the TLS rules of the vendor's article."""

    name = models.CharField(max_length=100, unique=True)
    enable_tls = models.BooleanField("Enable TLS", default=True)
    require_tls = models.BooleanField(
        "Require TLS",
        default=False,
        help_text="Never send in clear: a host without STARTTLS, or whose handshake fails, "
        "is skipped and the next host is tried.",
    )
    no_tls_for_notifications = models.BooleanField(
        "Do not use TLS for Secure Collaboration notifications",
        default=False,
        help_text="Messages tagged 'Secure Collaboration: PURL' are sent without requiring "
        "TLS (they hold only a link).",
    )
    verify_certificate = models.BooleanField(
        "Verify the peer certificate",
        default=False,
        help_text="Off: 'require' means encrypted (Postfix's 'encrypt' level). "
        "On: the certificate must chain to a trusted CA and match the host name.",
    )
    min_tls_version = models.CharField(
        "Minimum TLS version", max_length=8, choices=TLSVersion, default=TLSVersion.TLS1_2
    )
    connect_timeout = models.PositiveIntegerField("Connect timeout (seconds)", default=30)
    command_timeout = models.PositiveIntegerField("Command timeout (seconds)", default=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "sending connection policy"
        verbose_name_plural = "sending connection policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("relay:sendingpolicy-edit", args=[self.pk])

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NAME

    def clean(self) -> None:
        if self.require_tls and not self.enable_tls:
            raise ValidationError({"require_tls": "Require TLS needs Enable TLS."})
        if not 1 <= self.connect_timeout <= 600:
            raise ValidationError({"connect_timeout": "Between 1 and 600 seconds."})
        if not 1 <= self.command_timeout <= 3600:
            raise ValidationError({"command_timeout": "Between 1 and 3600 seconds."})


class DeliveryRoute(models.Model):
    """Where to send: MX hosts first when 'Try using DNS first' is set, then `hosts` in order."""

    name = models.CharField(max_length=100, unique=True)
    use_dns_first = models.BooleanField("Try using DNS first", default=True)
    hosts = models.JSONField(
        "Mail routing hosts",
        default=list,
        blank=True,
        help_text="Tried in this order: host or host:port, IPv6 in brackets.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("relay:route-edit", args=[self.pk])

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NAME

    def clean(self) -> None:
        hosts = list(self.hosts or [])
        errors = []
        for host in hosts:
            try:
                parse_host(str(host))
            except HostSyntaxError as exc:
                errors.append(str(exc))
        if errors:
            raise ValidationError({"hosts": errors})
        if not self.use_dns_first and not hosts:
            raise ValidationError(
                "A route needs 'Try using DNS first' or at least one mail routing host."
            )


class ExternalDomain(models.Model):
    """A partner domain (optionally with its subdomains) or a single host, and how to reach it."""

    class Kind(models.TextChoices):
        DOMAIN = "domain", "Domain"
        HOST = "host", "Host"

    kind = models.CharField(max_length=10, choices=Kind, default=Kind.DOMAIN)
    domain = models.CharField(
        "Domain or host", max_length=253, unique=True, help_text="Stored in its A-label form."
    )
    include_subdomains = models.BooleanField("Include subdomains", default=False)
    route = models.ForeignKey(
        DeliveryRoute, on_delete=models.PROTECT, related_name="external_domains"
    )
    sending_policy = models.ForeignKey(
        SendingConnectionPolicy,
        on_delete=models.PROTECT,
        related_name="external_domains",
        verbose_name="sending connection policy",
    )
    comment = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "external domain/host"
        verbose_name_plural = "external domains/hosts"

    def __str__(self) -> str:
        return self.domain

    def get_absolute_url(self) -> str:
        return reverse("relay:domain-edit", args=[self.pk])

    @property
    def unicode_domain(self) -> str:
        return domain_to_unicode(self.domain)


CONFIG_VERSION_ROW_ID = 1  # a single row


class ConfigVersion(models.Model):
    """A single row bumped on every change to the routes, sending policies and domains.

    The delivery stage caches the relay configuration in each worker process under this
    row's ``token`` (relay/selectors.py): one indexed read per message instead of one per
    table. The token is random, not a counter, so that a change rolled back and a later,
    different one never meet the same cache key; the bump runs in the transaction of the
    change, so other processes see the new token exactly when they see the new rows.
    """

    token = models.CharField(max_length=32, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"relay configuration {self.token}"

    @classmethod
    def bump(cls) -> None:
        token = uuid.uuid4().hex
        updated = cls.objects.filter(pk=CONFIG_VERSION_ROW_ID).update(
            token=token, updated_at=timezone.now()
        )
        if not updated:
            cls.objects.update_or_create(pk=CONFIG_VERSION_ROW_ID, defaults={"token": token})

    @classmethod
    def current(cls) -> str:
        """The cache key of the current configuration. Without the row (a flushed test
        database) a fresh token each time: nothing is served from the cache then."""
        return token_read(cls._meta.db_table, CONFIG_VERSION_ROW_ID) or uuid.uuid4().hex
