"""A session-wide test CA (trustme) and a server certificate for localhost and 127.0.0.x.

Plain functions (cached for the whole process) so that non-pytest code can use them too;
the fixtures below only expose them.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import tempfile
from pathlib import Path

import pytest
import trustme

# Every loopback address the sinks use, so that verify_certificate=True works against them.
SERVER_NAMES: tuple[str, ...] = (
    "localhost",
    "::1",
    *(f"127.0.0.{n}" for n in range(1, 33)),
)


@functools.cache
def test_ca() -> trustme.CA:
    return trustme.CA(organization_name="Mailgate test CA")


@functools.cache
def server_cert() -> trustme.LeafCert:
    return test_ca().issue_cert(*SERVER_NAMES, common_name="localhost")


def server_context() -> ssl.SSLContext:
    """A fresh server-side context with the test certificate (for aiosmtpd's tls_context)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert().configure_cert(ctx)
    return ctx


def client_context() -> ssl.SSLContext:
    """A client context trusting the test CA (certificate and host name verified)."""
    ctx = ssl.create_default_context()
    test_ca().configure_trust(ctx)
    return ctx


@functools.cache
def ca_file() -> Path:
    """The test CA certificate as a PEM file (for code that takes a ``cafile`` path)."""
    folder = Path(tempfile.mkdtemp(prefix="mailgate-ca-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "ca.pem"
    test_ca().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return test_ca()


@pytest.fixture(scope="session")
def tls_ca_file() -> Path:
    return ca_file()


@pytest.fixture(scope="session")
def tls_server_context() -> ssl.SSLContext:
    return server_context()
