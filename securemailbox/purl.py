"""pURL tokens, modelled on ``django.contrib.auth.tokens.PasswordResetTokenGenerator``.

A token is ``secrets.token_urlsafe(32)`` (256 bits, 43 characters). Only a namespaced HMAC
of it is stored (keyed with ``MAILGATE_PURL_SECRET``, or ``SECRET_KEY`` when that is empty),
and the item is looked up by that HMAC. ``check`` fails closed: a malformed, unknown,
revoked or expired token gives ``None``, and every such case looks the same to the caller.
The clock is injectable (``now=``) so tests need no time-travel library. The token never
contains the recipient's address.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import ItemState, SecureMessage

TOKEN_BYTES = 32
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}\Z")  # one canonical form: case matters
# What a portal request never reads (up to 256 KB of logo, the notification templates):
# left in the database; the pages that show the logo load and cache it (views/portal_http).
PROFILE_DEFERRED = ("profile__logo", "profile__notification_text", "profile__notification_html")


class PurlTokenGenerator:
    key_salt = "securemailbox.purl.PurlTokenGenerator"
    algorithm = "sha256"

    def __init__(self, now: Callable[[], dt.datetime] = timezone.now) -> None:
        self._now = now

    @property
    def hmac_secrets(self) -> list[str]:
        """The current secret first, then fallbacks (rotation), like Django's generator."""
        primary = settings.MAILGATE_PURL_SECRET or settings.SECRET_KEY
        fallbacks = [] if settings.MAILGATE_PURL_SECRET else settings.SECRET_KEY_FALLBACKS
        return [primary, *(str(f) for f in fallbacks)]

    def make_token(self) -> tuple[str, str]:
        """A fresh token and the HMAC to store for it."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        return token, self.hash_token(token)

    def hash_token(self, token: str, secret: str | None = None) -> str:
        return salted_hmac(
            self.key_salt, token, secret=secret or self.hmac_secrets[0], algorithm=self.algorithm
        ).hexdigest()

    def lookup(self, token: str) -> SecureMessage | None:
        """The item this token opens, whatever its state; None for a malformed/unknown one."""
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            return None
        candidates = [self.hash_token(token, secret) for secret in self.hmac_secrets]
        rows = SecureMessage.objects.filter(token_hash__in=candidates).order_by()
        for item in rows.select_related("profile").defer(*PROFILE_DEFERRED):
            if any(hmac.compare_digest(item.token_hash, c) for c in candidates):
                return item
        return None

    def check(self, token: str) -> SecureMessage | None:
        """The item, only if the token opens an active, unexpired item; otherwise None."""
        item = self.lookup(token)
        if item is None or not self.is_open(item):
            return None
        return item

    def is_open(self, item: SecureMessage) -> bool:
        return item.state == ItemState.ACTIVE and self._now() < item.expires_at


default_token_generator = PurlTokenGenerator()


def purl_for(base_url: str, token: str) -> str:
    """The absolute pURL: from settings or the profile, never from the request's Host."""
    base = (base_url or settings.MAILGATE_BASE_URL).rstrip("/")
    return f"{base}/m/{token}/"
