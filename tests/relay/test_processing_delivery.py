"""The delivery stage (relay.services.sending) against real partners and a real DNS server.

In-process (no Celery): the services are called as the tasks call them."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from relay.models import (
    DeliveryAttempt,
    DeliveryRoute,
    ExternalDomain,
    Message,
    MessageState,
    Recipient,
    RecipientState,
    SendingConnectionPolicy,
)
from relay.models.queue import TAG_PURL, Relation
from relay.services import processing, sending
from relay.services.accept import message_accept
from relay.spool import spool_read

pytestmark = pytest.mark.django_db

RAW = (
    b"From: Alice <alice@sender.test>\r\nTo: bob@partner.test\r\nSubject: Quarterly\r\n"
    b"Message-ID: <q1@sender.test>\r\n\r\nHello.\r\n"
)


@pytest.fixture(autouse=True)
def outbound(settings, tmp_path, dns_server, delivery_port):
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_HOSTNAME = "mailgate.test"
    settings.MAILGATE_DELIVERY_PORT = delivery_port
    settings.MAILGATE_DNS_NAMESERVERS = [dns_server.nameserver]
    settings.MAILGATE_DNS_TIMEOUT = 2
    settings.MAILGATE_RETRY_BASE = 300
    settings.MAILGATE_RETRY_MAX = 3600
    settings.MAILGATE_MAX_QUEUE_LIFETIME = 3600
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.2")
    dns_server.add_mx("plain.test", 10, "mx.plain.test")
    dns_server.add_a("mx.plain.test", "127.0.0.3")
    return dns_server


def queued(sender="alice@sender.test", rcpts=("bob@partner.test",), tags=()) -> Message:
    message = message_accept(
        raw=RAW, envelope_sender=sender, recipients=list(rcpts), client_ip="127.0.0.10", tags=tags
    )
    assert processing.message_process(message.pk) == "queued"
    return Message.objects.get(pk=message.pk)


def test_delivered_over_tls__attempt_recorded_and_message_done(tls_partner):
    message = queued()
    assert sending.message_deliver(message.pk) == 1
    (received,) = tls_partner.wait_for(1)
    assert received.tls and received.rcpt_tos == ("bob@partner.test",)
    message.refresh_from_db()
    assert message.state == MessageState.DONE
    recipient = message.recipients.get()
    assert recipient.state == RecipientState.DELIVERED
    assert recipient.final_at is not None and recipient.attempts == 1
    attempt = DeliveryAttempt.objects.get(message=message)
    assert (attempt.ip, attempt.source, attempt.outcome) == ("127.0.0.2", "mx", "delivered")
    assert attempt.tls and attempt.tls_version.startswith("TLS") and attempt.tls_cipher


def test_a_second_run_delivers_nothing_again(tls_partner):
    message = queued()
    assert sending.message_deliver(message.pk) == 1
    assert sending.message_deliver(message.pk) == 0
    tls_partner.wait_for(1)
    assert len(tls_partner.messages) == 1


def test_policy_headers_are_prepended_as_raw_lines(tls_partner):
    message = queued()
    Message.objects.filter(pk=message.pk).update(
        headers_added=[["X-SecureMailNotification", "YES"], ["Bad\r\nName", "x"], ["X-Ok", "a\nb"]]
    )
    sending.message_deliver(message.pk)
    (received,) = tls_partner.wait_for(1)
    # Byte for byte: our line, then the spool file untouched (never re-serialised).
    assert received.content == b"X-SecureMailNotification: YES\r\n" + spool_read(message.spool_name)


def test_header_lines__valid_names_and_values_only():
    assert sending.header_lines([["X-A", "1"], ["X:B", "2"], ["X-C", "3\r"], ["", "4"]]) == (
        b"X-A: 1\r\n"
    )


def test_require_tls__a_host_without_starttls_is_skipped_for_the_next(plain_partner, tls_partner):
    require = SendingConnectionPolicy.objects.create(
        name="Require TLS", enable_tls=True, require_tls=True
    )
    route = DeliveryRoute.objects.create(
        name="Partners", use_dns_first=False, hosts=["127.0.0.3", "127.0.0.2"]
    )
    ExternalDomain.objects.create(domain="partner.test", route=route, sending_policy=require)
    message = queued()
    sending.message_deliver(message.pk)
    tls_partner.wait_for(1)
    assert plain_partner.mail_commands == [] and plain_partner.messages == []
    outcomes = list(DeliveryAttempt.objects.filter(message=message).values_list("ip", "outcome"))
    assert outcomes[0][0] == "127.0.0.3" and outcomes[0][1] != "delivered"
    assert outcomes[-1] == ("127.0.0.2", "delivered")


def test_notifications_need_no_tls_when_the_policy_says_so(plain_partner):
    require = SendingConnectionPolicy.objects.create(
        name="Require TLS", require_tls=True, no_tls_for_notifications=True
    )
    route = DeliveryRoute.objects.get_or_create(name="Default")[0]
    ExternalDomain.objects.create(domain="plain.test", route=route, sending_policy=require)
    plain = queued(rcpts=("x@plain.test",))
    notification = queued(rcpts=("y@plain.test",), tags=[TAG_PURL])
    sending.message_deliver(plain.pk)
    sending.message_deliver(notification.pk)
    (received,) = plain_partner.wait_for(1)
    assert received.rcpt_tos == ("y@plain.test",)
    assert Recipient.objects.get(address="x@plain.test").state == RecipientState.DEFERRED


def test_4xx_defers_with_backoff_then_delivers(tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 try later", times=1)
    message = queued()
    before = timezone.now()
    sending.message_deliver(message.pk)
    recipient = Recipient.objects.get(message=message)
    assert recipient.state == RecipientState.DEFERRED
    assert recipient.attempts == 1 and recipient.last_response.startswith("451")
    assert recipient.next_attempt_at >= before + dt.timedelta(seconds=300)
    assert sending.message_deliver(message.pk) == 0  # not due yet
    Recipient.objects.filter(pk=recipient.pk).update(next_attempt_at=timezone.now())
    assert sending.message_deliver(message.pk) == 1
    tls_partner.wait_for(1)
    recipient.refresh_from_db()
    assert (recipient.state, recipient.attempts) == (RecipientState.DELIVERED, 2)
    assert Message.objects.get(pk=message.pk).state == MessageState.DONE


def test_second_deferral_doubles_the_wait(tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 try later")
    message = queued()
    sending.message_deliver(message.pk)
    Recipient.objects.filter(message=message).update(next_attempt_at=timezone.now())
    before = timezone.now()
    sending.message_deliver(message.pk)
    recipient = Recipient.objects.get(message=message)
    assert recipient.attempts == 2
    wait = recipient.next_attempt_at - before
    assert dt.timedelta(seconds=599) <= wait <= dt.timedelta(seconds=601)


def dsn_of(message: Message) -> tuple[Message, bytes]:
    dsn = Message.objects.get(parent=message, relation=Relation.DSN)
    assert dsn.envelope_sender == "" and dsn.is_dsn
    assert list(dsn.recipients.values_list("address", flat=True)) == [message.envelope_sender]
    assert set(message.recipients.values_list("dsn_message", flat=True)) == {dsn.pk}
    return dsn, spool_read(dsn.spool_name)


def test_5xx_bounces_with_a_dsn(tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "550 5.1.1 no such user")
    message = queued(rcpts=("bob@partner.test", "carol@partner.test"))
    sending.message_deliver(message.pk)
    tls_partner.wait_for(1)
    bob = Recipient.objects.get(address="bob@partner.test")
    assert bob.state == RecipientState.BOUNCED and bob.final_at
    dsn = Message.objects.get(parent=message, relation=Relation.DSN)
    assert bob.dsn_message_id == dsn.pk
    assert Recipient.objects.get(address="carol@partner.test").dsn_message_id is None
    raw = spool_read(dsn.spool_name)
    assert b"Final-Recipient: rfc822; bob@partner.test" in raw
    assert b"carol@partner.test" not in raw.split(b"text/rfc822-headers")[0]
    assert b"Status: 5.1.1" in raw and b"Remote-MTA: dns; mx.partner.test" in raw
    assert Message.objects.get(pk=message.pk).state == MessageState.DONE


@pytest.mark.parametrize("kind", ["nxdomain", "null-mx"])
def test_undeliverable_domains_bounce_with_a_dsn(outbound, kind):
    if kind == "null-mx":
        outbound.add_null_mx("nomail.test")
    message = queued(rcpts=("x@nomail.test",))
    sending.message_deliver(message.pk)
    recipient = Recipient.objects.get(message=message)
    assert recipient.state == RecipientState.BOUNCED
    _, raw = dsn_of(message)
    assert b"Status: 5.1.2" in raw
    assert (b"null MX" if kind == "null-mx" else b"NXDOMAIN") in raw


def test_expiry__a_deferral_past_the_queue_lifetime_bounces_with_4_4_7(settings, tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "451 4.3.0 try later")
    message = queued()
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=3601)
    )
    sending.message_deliver(message.pk)
    recipient = Recipient.objects.get(message=message)
    assert recipient.state == RecipientState.BOUNCED
    _, raw = dsn_of(message)
    assert b"Status: 4.4.7" in raw and b"try later" in raw


def test_null_sender__bounced_without_a_dsn(tls_partner):
    tls_partner.on_rcpt("bob@partner.test", "550 5.1.1 no such user")
    message = queued(sender="")
    sending.message_deliver(message.pk)
    assert Recipient.objects.get(message=message).state == RecipientState.BOUNCED
    assert not Message.objects.filter(parent=message).exists()


def test_an_admin_hold_during_delivery_is_not_overwritten(tls_partner):
    message = queued()
    claimed = sending.queue.recipients_claim(message.pk)
    Recipient.objects.filter(pk=claimed[0].pk).update(state=RecipientState.HELD)
    result = sending._deliver_domain(message, "partner.test", claimed)
    sending._record(message, claimed, result)
    assert Recipient.objects.get(pk=claimed[0].pk).state == RecipientState.HELD


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_deliver_each_recipient_once(tls_partner, memory_broker):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a file database shared between threads")
    message = queued(rcpts=[f"r{i}@partner.test" for i in range(6)])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sending.message_deliver(message.pk)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    tls_partner.wait_for(1)
    delivered = [rcpt for m in tls_partner.messages for rcpt in m.rcpt_tos]
    assert sorted(delivered) == sorted(f"r{i}@partner.test" for i in range(6))
    assert Message.objects.get(pk=message.pk).state == MessageState.DONE


def test_a_run_whose_lease_was_taken_over_writes_nothing(tls_partner):
    message = queued()
    claimed = sending.queue.recipients_claim(message.pk)
    other = timezone.now() + dt.timedelta(minutes=9)
    Recipient.objects.filter(pk=claimed[0].pk).update(lease_until=other)  # another run's claim
    assert sending.queue.recipients_renew(claimed) == []
    result = sending._deliver_domain(message, "partner.test", claimed)
    sending._record(message, claimed, result)
    recipient = Recipient.objects.get(pk=claimed[0].pk)
    assert (recipient.state, recipient.lease_until) == (RecipientState.DELIVERING, other)


def test_renew_extends_the_lease_of_rows_still_ours():
    message = queued()
    claimed = sending.queue.recipients_claim(message.pk)
    before = claimed[0].lease_until
    (kept,) = sending.queue.recipients_renew(claimed, now=timezone.now() + dt.timedelta(seconds=5))
    assert kept.lease_until > before
    assert Recipient.objects.get(pk=kept.pk).lease_until == kept.lease_until


def test_worker_run__policies_and_delivery_in_few_queries(
    tls_partner, django_assert_max_num_queries
):
    """The worker's whole run for a message (what `message_process` the task does) stays
    within the queries it needs: each is ORM work the worker pays for every message
    (measured in bench/bench_relay.py). Claim 2, read 2, policy version 1, verdict and
    claim of the recipients 4, configuration version 1, result 4, done 1."""

    def accepted(rcpt: str) -> Message:
        return message_accept(
            raw=RAW, envelope_sender="a@sender.test", recipients=[rcpt], client_ip="127.0.0.10"
        )

    message = accepted("bob@partner.test")
    # a first run builds the process's caches
    processing.message_process(accepted("c@partner.test").pk, deliver_now=True)
    with django_assert_max_num_queries(15):
        assert processing.message_process(message.pk, deliver_now=True) == "queued"
    assert len(tls_partner.wait_for(2)) == 2
    message.refresh_from_db()
    assert message.state == MessageState.DONE
    assert message.recipients.get().state == RecipientState.DELIVERED
