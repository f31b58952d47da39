"""crypto.py (the encrypted store) and purl.py (tokens), without the portal."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from django.utils import timezone

from securemailbox import crypto
from securemailbox.crypto import StoreError, store_read, store_write
from securemailbox.models import ItemState, SecureMessage
from securemailbox.purl import PurlTokenGenerator, default_token_generator, purl_for


def test_store__round_trip_encrypted_at_rest(settings):
    store_write("m1.bin", b"secret bytes")
    path = settings.MAILGATE_SECURE_STORE_DIR / "m1.bin"
    assert b"secret" not in path.read_bytes() and path.stat().st_mode & 0o077 == 0
    assert store_read("m1.bin") == b"secret bytes"


def test_store__tampering_and_swapping_are_detected(settings):
    store_write("a.bin", b"aaaa")
    store_write("b.bin", b"bbbb")
    root = settings.MAILGATE_SECURE_STORE_DIR
    (root / "c.bin").write_bytes((root / "a.bin").read_bytes())  # moved under another name
    with pytest.raises(StoreError):
        store_read("c.bin")
    blob = bytearray((root / "b.bin").read_bytes())
    blob[-1] ^= 1
    (root / "b.bin").write_bytes(bytes(blob))
    with pytest.raises(StoreError):
        store_read("b.bin")
    with pytest.raises(StoreError):
        store_read("missing.bin")
    with pytest.raises(StoreError):
        store_read("../../etc/passwd")


def test_store__explicit_key_and_rotation(settings):
    old = base64.urlsafe_b64encode(os.urandom(32)).decode()
    new = base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings.MAILGATE_STORAGE_KEY = old
    store_write("k.bin", b"under the old key")
    settings.MAILGATE_STORAGE_KEY = f"{new},{old}"
    assert store_read("k.bin") == b"under the old key"
    settings.MAILGATE_STORAGE_KEY = new
    with pytest.raises(StoreError):
        store_read("k.bin")
    settings.MAILGATE_STORAGE_KEY = ""
    assert crypto.store_keys()[0] != base64.urlsafe_b64decode(new)  # derived from SECRET_KEY


def test_purl_never_from_the_request(settings):
    settings.MAILGATE_BASE_URL = "https://mail.example"
    assert purl_for("", "T") == "https://mail.example/m/T/"
    assert purl_for("https://p.example/base/", "T") == "https://p.example/base/m/T/"


def test_token_hash__namespaced_and_keyed(settings):
    token, digest = default_token_generator.make_token()
    settings.MAILGATE_PURL_SECRET = "another secret"
    assert default_token_generator.hash_token(token) != digest


@pytest.mark.django_db
def test_check__fails_closed_and_honours_secret_rotation(redirect, settings):
    done = redirect()
    now = timezone.now()
    assert PurlTokenGenerator(now=lambda: now).check(done.token).pk == done.item.pk
    late = PurlTokenGenerator(now=lambda: done.item.expires_at)
    assert late.check(done.token) is None and late.lookup(done.token) is not None
    for bad in ("", None, 42, done.token[:-1], done.token + "=", " " + done.token):
        assert default_token_generator.check(bad) is None
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "y" * 30
    assert default_token_generator.check(done.token) is not None  # old links keep working
    done.item.state = ItemState.REVOKED
    done.item.save()
    assert default_token_generator.check(done.token) is None


def test_expiry_comparison_is_aware():
    assert timezone.now() + dt.timedelta(days=1) > timezone.now()


@pytest.mark.django_db
def test_lookup__the_written_out_query_gives_what_the_orm_gives(redirect, profile):
    """purl.lookup reads the item and its profile with one SQL statement of its own: every
    field converted as the ORM converts it, the profile's large fields loaded on demand."""
    done = redirect()
    profile.logo, profile.logo_type = b"\x89PNG\r\n\x1a\n", "image/png"
    profile.save()
    found = default_token_generator.lookup(done.token)
    expected = SecureMessage.objects.select_related("profile").get(pk=done.item.pk)
    assert found is not None and found.pk == expected.pk
    for field in SecureMessage._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert timezone.is_aware(found.expires_at) and found.state == ItemState.ACTIVE
    loaded = found.profile
    assert loaded.pk == profile.pk and loaded.get_deferred_fields() == {
        "logo", "notification_text", "notification_html"
    }  # fmt: skip
    assert bytes(loaded.logo) == b"\x89PNG\r\n\x1a\n"  # read when asked for
    assert loaded.organisation_name == "Sender Corp" and loaded.updated_at == profile.updated_at
