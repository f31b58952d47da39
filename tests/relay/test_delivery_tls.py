"""TLS policy: handshake failures, certificate verification, the effective policy."""

from __future__ import annotations

import io
import ssl
from typing import Any

import pytest
import trustme

from relay.delivery import DeliveryJob, deliver
from relay.mx import DNSStatus
from relay.routing import Candidate, Candidates
from relay.tls import TLSPolicy, client_context, effective, is_notification
from tests.support.certs import ca_file, server_context

pytest_plugins = ["tests.support.smtp_sinks"]

BODY = b"Subject: tls\r\n\r\nsecret\r\n"
HELO = "mailgate.test"


def _job() -> DeliveryJob:
    return DeliveryJob("Q2", "a@sender.test", ("b@partner.test",), lambda: io.BytesIO(BODY))


def _to(*sinks: Any) -> Candidates:
    hosts = tuple(Candidate(s.address, s.address, s.port, "mx") for s in sinks)
    return Candidates("partner.test", hosts, DNSStatus.OK)


@pytest.fixture
def old_tls_partner(sink_factory: Any) -> Any:
    """STARTTLS offered, but at most TLS 1.2: a TLS 1.3-only client's handshake fails."""
    context = server_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return sink_factory("127.0.0.4", tls_context=context, record_wire=True)


def test_failed_handshake_under_require_tls_skips_to_next_host(
    old_tls_partner: Any, tls_partner: Any
) -> None:
    policy = TLSPolicy(require_tls=True, min_tls_version="TLSv1.3", connect_timeout=2)
    result = deliver(_job(), _to(old_tls_partner, tls_partner), policy, local_hostname=HELO)

    assert [a.outcome for a in result.attempts] == ["tls-failed", "delivered"]
    assert "handshake" in result.attempts[0].reply
    assert old_tls_partner.mail_commands == [] and tls_partner.wait_for(1)[0].tls


def test_failed_opportunistic_handshake_reconnects_in_clear(old_tls_partner: Any) -> None:
    policy = TLSPolicy(enable_tls=True, min_tls_version="TLSv1.3", connect_timeout=2)
    result = deliver(_job(), _to(old_tls_partner), policy, local_hostname=HELO)

    assert [(a.outcome, a.tls) for a in result.attempts] == [
        ("tls-failed", False),
        ("delivered", False),
    ]
    (message,) = old_tls_partner.wait_for(1)
    assert not message.tls and old_tls_partner.connections == 2


def test_tls_disabled_never_starts_tls(tls_partner: Any) -> None:
    policy = TLSPolicy(enable_tls=False, connect_timeout=2)
    deliver(_job(), _to(tls_partner), policy, local_hostname=HELO)
    assert not tls_partner.wait_for(1)[0].tls
    assert b"STARTTLS" not in bytes(tls_partner.wire[0])


def test_verified_certificate_with_the_test_ca(tls_partner: Any) -> None:
    policy = TLSPolicy(require_tls=True, verify_certificate=True, connect_timeout=2)
    result = deliver(_job(), _to(tls_partner), policy, local_hostname=HELO, cafile=str(ca_file()))
    assert result.delivered and tls_partner.wait_for(1)[0].tls


def test_unverifiable_certificate_is_skipped_when_verification_is_on(tls_partner: Any) -> None:
    policy = TLSPolicy(require_tls=True, verify_certificate=True, connect_timeout=2)
    other_ca = ca_file().parent / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    result = deliver(_job(), _to(tls_partner), policy, local_hostname=HELO, cafile=str(other_ca))
    assert result.deferred and result.attempts[0].outcome == "tls-failed"
    assert tls_partner.mail_commands == []


def test_minimum_tls_version_is_honoured(tls_partner: Any) -> None:
    policy = TLSPolicy(require_tls=True, min_tls_version="TLSv1.3", connect_timeout=2)
    result = deliver(_job(), _to(tls_partner), policy, local_hostname=HELO)
    assert result.attempts[0].tls_version == "TLSv1.3"
    assert client_context(policy).minimum_version is ssl.TLSVersion.TLSv1_3


def test_client_context_does_not_verify_by_default() -> None:
    context = client_context(TLSPolicy())
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    strict = client_context(TLSPolicy(verify_certificate=True))
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname


def test_effective_policy_for_notifications() -> None:
    policy = TLSPolicy(require_tls=True, no_tls_for_notifications=True)
    assert is_notification(["Secure Collaboration: PURL"]) and not is_notification(["x"])
    relaxed = effective(policy, is_notification=True)
    assert relaxed.enable_tls and not relaxed.require_tls  # still opportunistic
    assert effective(policy, is_notification=False).require_tls
    assert effective(TLSPolicy(require_tls=True), is_notification=True).require_tls


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TLSPolicy(min_tls_version="SSLv3")
    with pytest.raises(ValueError):
        TLSPolicy(enable_tls=False, require_tls=True)
