"""The smtpd's TLS certificate: the configured one, or a self-signed one made on first start.

STARTTLS (RFC 3207) is offered to every client; opportunistic senders do not verify
certificates (RFC 7435), so a self-signed certificate is enough until an operator sets
``MAILGATE_TLS_CERT`` / ``MAILGATE_TLS_KEY``. The key is EC P-256 (fast to make, supported by
every TLS 1.2+ client) and the file is written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "smtpd-cert.pem"
KEY_FILE = "smtpd-key.pem"
VALID_DAYS = 3650


def self_signed_ensure(directory: Path, hostname: str) -> tuple[Path, Path]:
    """Return (cert, key) paths in `directory`, generating them if either is missing."""
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_tls_context(
    cert: str | Path | None, key: str | Path | None, *, directory: Path, hostname: str
) -> ssl.SSLContext:
    """A server context for aiosmtpd's STARTTLS: the configured pair or the self-signed one."""
    if not cert or not key:
        cert, key = self_signed_ensure(directory, hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
