"""The sending connection policy as plain data, and the client TLS context it implies.

No ORM: the Django side turns a `SendingConnectionPolicy` row into a `TLSPolicy`.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

PURL_TAG = "Secure Collaboration: PURL"

_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True, slots=True)
class TLSPolicy:
    enable_tls: bool = True  # STARTTLS whenever the peer offers it (RFC 3207)
    require_tls: bool = False  # never send in clear: skip hosts without working TLS
    verify_certificate: bool = False  # off: "require" means encrypted (Postfix "encrypt")
    min_tls_version: str = "TLSv1.2"
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    no_tls_for_notifications: bool = False

    def __post_init__(self) -> None:
        if self.min_tls_version not in _VERSIONS:
            raise ValueError(f"unknown TLS version {self.min_tls_version!r}")
        if self.require_tls and not self.enable_tls:
            raise ValueError("require_tls needs enable_tls")

    @property
    def cache_key(self) -> tuple[bool, bool, bool, str]:
        """What a cached connection must match to be reused under this policy."""
        return (self.enable_tls, self.require_tls, self.verify_certificate, self.min_tls_version)


def is_notification(tags: Iterable[str]) -> bool:
    """A Secure Mailbox notification carries the 'Secure Collaboration: PURL' tag."""
    return PURL_TAG in tags


def effective(policy: TLSPolicy, is_notification: bool) -> TLSPolicy:
    """The policy for one message: with "Do not use TLS for Secure Collaboration
    notifications", a notification (it holds only a link) need not be encrypted. TLS is
    still used when offered (opportunistic, RFC 7435)."""
    if policy.no_tls_for_notifications and is_notification and policy.require_tls:
        return dataclasses.replace(policy, require_tls=False)
    return policy


def client_context(policy: TLSPolicy, cafile: str | None = None) -> ssl.SSLContext:
    """The context for STARTTLS. Without verify_certificate any certificate is accepted:
    most MX hosts have none that a public CA would vouch for for the MX name (RFC 7672 §1.3),
    and encryption alone defeats passive listeners."""
    if policy.verify_certificate:
        context = ssl.create_default_context(cafile=cafile)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = _VERSIONS[policy.min_tls_version]
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        # An admin asked for old peers: OpenSSL's default security level refuses them, and
        # old encryption still beats clear text for opportunistic TLS (RFC 7435 §3).
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
