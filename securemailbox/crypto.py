"""The encrypted store for redirected messages (AES-256-GCM, one file per message).

Key: ``settings.MAILGATE_STORAGE_KEY`` (urlsafe base64 of 32 bytes, the Fernet key format;
several keys separated by commas: the first encrypts, all are tried to decrypt, for key
rotation). When it is empty the key is derived from ``SECRET_KEY`` with HKDF-SHA256, which
is fine on one machine; set it explicitly when several machines share the store.

File layout: ``b"MGS1" | 12-byte nonce | ciphertext+tag``; the file name is bound in as
associated data, so files cannot be swapped for one another unnoticed.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MAGIC = b"MGS1"
NONCE_BYTES = 12
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.bin\Z")


class StoreError(Exception):
    """The stored message is missing, damaged or cannot be decrypted."""


@cache
def _keys(storage_key: str, secret_key: str) -> tuple[bytes, ...]:
    if storage_key.strip():
        keys = []
        for part in storage_key.split(","):
            raw = base64.urlsafe_b64decode(part.strip().encode() + b"==")
            if len(raw) != 32:
                raise StoreError("MAILGATE_STORAGE_KEY must be urlsafe base64 of 32 bytes")
            keys.append(raw)
        return tuple(keys)
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"mailgate", info=b"securemailbox.store.v1"
    )
    return (hkdf.derive(secret_key.encode()),)


def store_keys() -> tuple[bytes, ...]:
    return _keys(settings.MAILGATE_STORAGE_KEY, settings.SECRET_KEY)


def _path(name: str) -> Path:
    if not NAME_RE.match(name):  # never a path from outside: names are ours
        raise StoreError(f"bad store name {name!r}")
    return Path(settings.MAILGATE_SECURE_STORE_DIR) / name


def store_name_for(queue_id: str) -> str:
    """One file per redirected message; a retried redirect rewrites the same file."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", queue_id)[:48] or "message"
    return f"{safe}.bin"


def store_encrypt(name: str, data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(store_keys()[0]).encrypt(nonce, data, MAGIC + name.encode())


def store_decrypt(name: str, blob: bytes) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise StoreError(f"{name}: not a Secure Mailbox file")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    body = blob[len(MAGIC) + NONCE_BYTES :]
    for key in store_keys():
        try:
            return AESGCM(key).decrypt(nonce, body, MAGIC + name.encode())
        except InvalidTag:
            continue
    raise StoreError(f"{name}: cannot be decrypted with the configured keys")


def store_write(name: str, data: bytes) -> None:
    """Encrypt and write atomically: temporary file, fsync, rename, fsync the directory."""
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(store_encrypt(name, data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def store_read(name: str) -> bytes:
    try:
        blob = _path(name).read_bytes()
    except OSError as exc:
        raise StoreError(f"{name}: {exc.strerror}") from exc
    return store_decrypt(name, blob)


def store_exists(name: str) -> bool:
    return _path(name).exists()


def store_delete(name: str) -> None:
    _path(name).unlink(missing_ok=True)
