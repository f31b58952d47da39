"""Delivery against real aiosmtpd partners on 127.0.0.x (no mocks on the path)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from relay.delivery import DeliveryJob, deliver
from relay.mx import DNSStatus
from relay.routing import Candidate, Candidates
from relay.tls import TLSPolicy
from tests.support.smtp_sinks import SinkServer, free_port

pytest_plugins = ["tests.support.smtp_sinks"]  # fixtures: tls_partner, plain_partner, ...

BODY = b"From: a@sender.test\r\nTo: b@partner.test\r\nSubject: hi\r\n\r\nHello.\r\n"
REQUIRE = TLSPolicy(require_tls=True, connect_timeout=2, command_timeout=5)
OPPORTUNISTIC = TLSPolicy(enable_tls=True, connect_timeout=2, command_timeout=5)
HELO = "mailgate.test"


def job(*recipients: str, body: bytes = BODY, sender: str = "a@sender.test", **kw: Any):
    return DeliveryJob(
        queue_id="Q1",
        sender=sender,
        recipients=recipients or ("b@partner.test",),
        open_data=lambda: io.BytesIO(body),
        **kw,
    )


def to(*sinks: SinkServer | tuple[str, int]) -> Candidates:
    hosts = []
    for sink in sinks:
        ip, port = (sink.address, sink.port) if isinstance(sink, SinkServer) else sink
        hosts.append(Candidate(ip, ip, port, "route"))
    return Candidates("partner.test", tuple(hosts), DNSStatus.OK)


def test_tls_partner_receives_over_tls(tls_partner: SinkServer) -> None:
    result = deliver(job(), to(tls_partner), REQUIRE, local_hostname=HELO)

    assert [r.state for r in result.recipients] == ["delivered"]
    (message,) = tls_partner.wait_for(1)
    assert message.tls and message.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert message.content == BODY
    (attempt,) = result.attempts
    assert attempt.tls and attempt.tls_version == message.tls_version and attempt.tls_cipher
    assert (attempt.outcome, attempt.reply_code, attempt.source) == ("delivered", 250, "route")
    assert result.recipients[0].remote_mta == "127.0.0.2"


def test_require_tls_skips_a_host_without_starttls(
    plain_partner: SinkServer, tls_partner: SinkServer
) -> None:
    result = deliver(job(), to(plain_partner, tls_partner), REQUIRE, local_hostname=HELO)

    assert [a.outcome for a in result.attempts] == ["skipped", "delivered"]
    assert result.delivered and tls_partner.wait_for(1)[0].tls
    # The skipped host saw EHLO and QUIT, never MAIL FROM: nothing was sent in clear.
    assert plain_partner.messages == [] and plain_partner.mail_commands == []
    (wire,) = plain_partner.wire
    assert b"MAIL" not in bytes(wire) and b"Hello." not in bytes(wire)


def test_require_tls_with_no_tls_host_defers(plain_partner: SinkServer) -> None:
    result = deliver(job(), to(plain_partner), REQUIRE, local_hostname=HELO)

    assert [r.state for r in result.recipients] == ["deferred"]
    assert result.recipients[0].status.startswith("4.")
    assert plain_partner.mail_commands == []


def test_enable_tls_only_delivers_in_clear_without_starttls(plain_partner: SinkServer) -> None:
    result = deliver(job(), to(plain_partner), OPPORTUNISTIC, local_hostname=HELO)

    assert result.delivered
    assert not plain_partner.wait_for(1)[0].tls and not result.attempts[0].tls


def test_notification_is_not_held_to_require_tls(plain_partner: SinkServer) -> None:
    policy = TLSPolicy(require_tls=True, no_tls_for_notifications=True, connect_timeout=2)
    result = deliver(job(is_notification=True), to(plain_partner), policy, local_hostname=HELO)
    assert result.delivered

    plain = deliver(job(), to(plain_partner), policy, local_hostname=HELO)
    assert plain.deferred and len(plain_partner.messages) == 1


def test_opportunistic_tls_is_used_when_offered(tls_partner: SinkServer) -> None:
    deliver(job(), to(tls_partner), OPPORTUNISTIC, local_hostname=HELO)
    assert tls_partner.wait_for(1)[0].tls


def test_4xx_then_success_on_retry(tls_partner: SinkServer) -> None:
    tls_partner.on_rcpt("b@partner.test", "451 4.3.0 Try again later", times=1)

    first = deliver(job(), to(tls_partner), REQUIRE, local_hostname=HELO)
    assert first.deferred[0].status == "4.3.0" and first.deferred[0].reply_code == 451
    assert first.attempts[0].outcome == "deferred"

    second = deliver(job(), to(tls_partner), REQUIRE, local_hostname=HELO)
    assert second.delivered and len(tls_partner.messages) == 1


def test_4xx_at_one_host_tries_the_next_for_that_recipient(sink_factory: Any) -> None:
    first = sink_factory("127.0.0.4", tls=True)
    second = sink_factory("127.0.0.5", tls=True)
    first.on_rcpt("c@partner.test", "450 4.2.0 Mailbox busy")

    result = deliver(
        job("b@partner.test", "c@partner.test"), to(first, second), REQUIRE, local_hostname=HELO
    )

    assert [r.state for r in result.recipients] == ["delivered", "delivered"]
    assert first.wait_for(1)[0].rcpt_tos == ("b@partner.test",)
    assert second.wait_for(1)[0].rcpt_tos == ("c@partner.test",)
    assert [a.recipients for a in result.attempts] == [
        ("b@partner.test", "c@partner.test"),
        ("c@partner.test",),
    ]


def test_5xx_bounces_that_recipient_only(tls_partner: SinkServer) -> None:
    tls_partner.on_rcpt("x@partner.test", "550 5.1.1 No such user")

    result = deliver(job("x@partner.test", "b@partner.test"), to(tls_partner), REQUIRE,
                     local_hostname=HELO)  # fmt: skip

    bounced, delivered = result.recipients
    assert (bounced.state, bounced.status, bounced.reply_code) == ("bounced", "5.1.1", 550)
    assert bounced.remote_mta == "127.0.0.2" and "No such user" in bounced.reply
    assert delivered.state == "delivered"
    assert tls_partner.wait_for(1)[0].rcpt_tos == ("b@partner.test",)


def test_5xx_is_final_and_the_next_host_is_not_tried(
    tls_partner: SinkServer, plain_partner: SinkServer
) -> None:
    tls_partner.on_rcpt(None, "550 5.7.1 Relaying denied")
    result = deliver(job(), to(tls_partner, plain_partner), OPPORTUNISTIC, local_hostname=HELO)
    assert result.bounced and len(result.attempts) == 1 and plain_partner.connections == 0


def test_data_reply_applies_to_all_accepted_recipients(tls_partner: SinkServer) -> None:
    tls_partner.on_data("554 5.6.0 Content rejected")
    result = deliver(job("b@partner.test", "c@partner.test"), to(tls_partner), REQUIRE,
                     local_hostname=HELO)  # fmt: skip
    assert [(r.state, r.status) for r in result.recipients] == [("bounced", "5.6.0")] * 2

    tls_partner.clear_rules()
    tls_partner.on_data("452 4.3.1 Insufficient storage", times=1)
    again = deliver(job(), to(tls_partner), REQUIRE, local_hostname=HELO)
    assert again.deferred and again.deferred[0].status == "4.3.1"


def test_mail_from_rejected_bounces_everyone(tls_partner: SinkServer) -> None:
    tls_partner.on_mail("553 5.7.1 Sender rejected")
    result = deliver(job("b@partner.test", "c@partner.test"), to(tls_partner), REQUIRE,
                     local_hostname=HELO)  # fmt: skip
    assert [r.state for r in result.recipients] == ["bounced", "bounced"]


def test_connection_refused_goes_to_the_next_host(tls_partner: SinkServer) -> None:
    dead = ("127.0.0.6", free_port("127.0.0.6"))
    result = deliver(job(), to(dead, tls_partner), REQUIRE, local_hostname=HELO)
    assert [a.outcome for a in result.attempts] == ["error", "delivered"]
    assert result.delivered


def test_all_hosts_failing_defers(plain_partner: SinkServer) -> None:
    dead = ("127.0.0.6", free_port("127.0.0.6"))
    plain_partner.on_rcpt(None, "421 4.3.2 Shutting down")
    result = deliver(job(), to(dead, plain_partner), OPPORTUNISTIC, local_hostname=HELO)
    assert [a.outcome for a in result.attempts] == ["error", "deferred"]
    assert result.deferred[0].reply_code == 421


def test_peer_size_limit_bounces_before_mail_from(sink_factory: Any) -> None:
    small = sink_factory("127.0.0.4", tls=True, data_size_limit=32)
    result = deliver(job(), to(small), REQUIRE, local_hostname=HELO)
    (recipient,) = result.recipients
    assert (recipient.state, recipient.reply_code, recipient.status) == ("bounced", 552, "5.3.4")
    assert small.mail_commands == []


def test_size_is_declared_on_mail_from(tls_partner: SinkServer) -> None:
    deliver(job(), to(tls_partner), REQUIRE, local_hostname=HELO)
    assert f"SIZE={len(BODY)}" in tls_partner.wait_for(1)[0].mail_options


def test_null_sender_and_prepended_headers(tls_partner: SinkServer) -> None:
    prepend = b"X-SecureMailNotification: YES\r\n"
    deliver(job(sender="", prepend=prepend), to(tls_partner), REQUIRE, local_hostname=HELO)
    (message,) = tls_partner.wait_for(1)
    assert message.mail_from == "<>"
    assert message.content == prepend + BODY


@pytest.mark.parametrize(
    "bad",
    [
        "x@y.example\r\nRCPT TO:<evil@evil.example>",  # corpus INJ-1
        "x@y.example>\r\nRCPT TO:<evil@evil.example",
        '"x\r\nRCPT TO:<e@evil.example>"@d.example',
        "a b@partner.test",
        "<b@partner.test>",
        "b@partner.test\x00",
        "nobody",
        "a" * 65 + "@partner.test",
        "b@[127.0.0.1]",
    ],
)
def test_bad_recipient_is_bounced_without_network(bad: str) -> None:
    nowhere = ("127.0.0.6", free_port("127.0.0.6"))  # nothing listens: any connect fails
    result = deliver(job(bad), to(nowhere), REQUIRE, local_hostname=HELO)
    (recipient,) = result.recipients
    assert (recipient.state, recipient.status) == ("bounced", "5.1.3")
    assert result.attempts == ()


def test_bad_sender_bounces_everyone_without_network() -> None:
    nowhere = ("127.0.0.6", free_port("127.0.0.6"))
    result = deliver(job(sender="a@b.test\r\nRSET"), to(nowhere), REQUIRE, local_hostname=HELO)
    assert result.bounced[0].status == "5.1.7" and result.attempts == ()


def test_smtputf8_and_8bitmime_when_needed(tls_partner: SinkServer) -> None:
    body = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode()
    result = deliver(job("j\u00fcrgen@partner.test", body=body), to(tls_partner), REQUIRE,
                     local_hostname=HELO)  # fmt: skip
    assert result.delivered
    (message,) = tls_partner.wait_for(1)
    assert "SMTPUTF8" in message.mail_options and "BODY=8BITMIME" in message.mail_options
    assert message.rcpt_tos == ("j\u00fcrgen@partner.test",) and message.content == body


def test_no_hosts_uses_the_dns_outcome() -> None:
    permanent = Candidates("x.test", (), DNSStatus.PERMANENT, errors=("x.test: null MX",))
    temporary = Candidates("x.test", (), DNSStatus.TEMPORARY, errors=("SERVFAIL",))
    bounced = deliver(job(), permanent, REQUIRE, local_hostname=HELO)
    deferred = deliver(job(), temporary, REQUIRE, local_hostname=HELO)
    assert bounced.bounced[0].status == "5.1.2" and "null MX" in bounced.bounced[0].reply
    assert deferred.deferred[0].status == "4.4.3"


def test_helo_fallback_when_ehlo_is_refused(plain_partner: SinkServer) -> None:
    plain_partner.on_ehlo("502 5.5.2 EHLO not implemented")
    result = deliver(job(), to(plain_partner), OPPORTUNISTIC, local_hostname=HELO)
    assert result.delivered
    assert bytes(plain_partner.wire[0]).startswith(b"ehlo mailgate.test\r\nhelo mailgate.test\r\n")
    assert plain_partner.wait_for(1)[0].mail_options == ()  # no ESMTP parameters after HELO


def test_helo_only_host_is_skipped_under_require_tls(plain_partner: SinkServer) -> None:
    plain_partner.on_ehlo("502 5.5.2 EHLO not implemented")
    result = deliver(job(), to(plain_partner), REQUIRE, local_hostname=HELO)
    assert result.attempts[0].outcome == "skipped" and plain_partner.mail_commands == []


def test_unreadable_spool_defers_without_network(tmp_path: Any) -> None:
    missing = tmp_path / "gone.eml"
    nowhere = ("127.0.0.6", free_port("127.0.0.6"))
    unreadable = DeliveryJob("Q9", "a@sender.test", ("b@partner.test",), missing.open)
    result = deliver(unreadable, to(nowhere), REQUIRE, local_hostname=HELO)
    assert result.deferred[0].status == "4.3.0" and result.attempts == ()
