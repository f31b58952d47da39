"""The policy stage (relay.services.processing) with the real policies, spool and accept."""

from __future__ import annotations

import pytest

from policies.services import policy_create
from relay.models import DeliveryRoute, Message, MessageState, RecipientState
from relay.models.queue import TAG_PURL, Relation
from relay.received import received_build
from relay.services import processing
from relay.services.accept import message_accept
from relay.spool import spool_read

pytestmark = pytest.mark.django_db

RAW = (
    b"From: Alice <alice@sender.test>\r\nTo: bob@partner.test\r\nSubject: Quarterly\r\n"
    b"Message-ID: <q1@sender.test>\r\n\r\nHello.\r\n"
)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_HOSTNAME = "mailgate.test"
    settings.MAILGATE_MAX_HOPS = 30


def accept(sender: str = "alice@sender.test", rcpts=("bob@partner.test",), ip="127.0.0.10"):
    return message_accept(raw=RAW, envelope_sender=sender, recipients=list(rcpts), client_ip=ip)


def test_no_policy__recipients_queued_and_the_message_active(django_capture_on_commit_callbacks):
    message = accept()
    with django_capture_on_commit_callbacks() as callbacks:
        assert processing.message_process(message.pk) == "queued"
    message.refresh_from_db()
    assert message.state == MessageState.ACTIVE
    assert message.lease_until is None
    recipient = message.recipients.get()
    assert recipient.state == RecipientState.QUEUED
    assert recipient.next_attempt_at is not None
    assert len(callbacks) == 1  # message_deliver is enqueued once the rows are committed


def test_a_second_run_does_nothing():
    message = accept()
    assert processing.message_process(message.pk) == "queued"
    assert processing.message_process(message.pk) == "not-claimed"


def test_hop_limit__holds_before_any_policy(settings):
    settings.MAILGATE_MAX_HOPS = 3
    policy_create(name="Reject all", actions=[{"kind": "reject", "params": {"reason": "no"}}])
    message = accept()
    Message.objects.filter(pk=message.pk).update(hop_count=5)  # arrived with 4, ours on top
    assert processing.message_process(message.pk) == "held"
    message.refresh_from_db()
    assert message.state == MessageState.HELD
    assert (
        message.hold_reason == "hop limit: arrived with 4 Mailgate Received headers (more than 3)"
    )
    assert message.policy_trace == []  # the policies never ran
    assert message.recipients.get().state == RecipientState.HELD


def test_at_the_hop_limit_the_message_still_passes(settings):
    settings.MAILGATE_MAX_HOPS = 3
    message = accept()
    Message.objects.filter(pk=message.pk).update(hop_count=4)  # arrived with 3, ours on top
    assert processing.message_process(message.pk) == "queued"


@pytest.mark.parametrize(("arrived", "outcome"), [(0, "queued"), (3, "queued"), (4, "held")])
def test_hop_limit__counts_the_headers_the_message_arrived_with(settings, arrived, outcome):
    """MAILGATE_MAX_HOPS of our Received headers on arrival pass; one more is held. The
    header we prepend on accepting it is not counted."""
    settings.MAILGATE_MAX_HOPS = 3
    ours = received_build(hostname="mailgate.test", queue_id="01OLDER", client_ip="192.0.2.1")
    message = message_accept(
        raw=ours * arrived + RAW,
        envelope_sender="alice@sender.test",
        recipients=["bob@partner.test"],
        client_ip="192.0.2.1",
    )
    assert message.hop_count == arrived + 1
    assert processing.message_process(message.pk) == outcome


def test_headers_tags_route_and_trace_are_stored():
    DeliveryRoute.objects.create(name="Partners", use_dns_first=False, hosts=["127.0.0.2"])
    policy_create(
        name="Mark",
        if_conditions=[{"kind": "sender_ip", "params": {"values": ["127.0.0.10"]}}],
        actions=[
            {"kind": "add_header", "params": {"name": "X-Mark", "value": "yes"}},
            {"kind": "add_tag", "params": {"tag": "Marked"}},
            {"kind": "route", "params": {"route": "Partners"}},
        ],
    )
    message = accept()
    processing.message_process(message.pk)
    message.refresh_from_db()
    assert message.headers_added == [["X-Mark", "yes"]]
    assert "Marked" in message.tags
    assert message.route_name == "Partners"
    (entry,) = message.policy_trace
    assert entry["name"] == "Mark"
    assert entry["if_matched"] and entry["fired"]
    assert message.verdict["route"] == "Partners"


def test_hold_policy__message_and_recipients_held():
    policy_create(name="Quarantine", actions=[{"kind": "hold", "params": {"reason": "review"}}])
    message = accept()
    assert processing.message_process(message.pk) == "held"
    message.refresh_from_db()
    assert message.state == MessageState.HELD
    assert message.hold_reason == "review"
    assert message.recipients.get().state == RecipientState.HELD


def test_reject_policy__recipients_bounced_with_one_dsn_to_the_sender():
    policy_create(name="No", actions=[{"kind": "reject", "params": {"reason": "not allowed"}}])
    message = accept(rcpts=("bob@partner.test", "carol@partner.test"))
    assert processing.message_process(message.pk) == "rejected"
    message.refresh_from_db()
    assert message.state == MessageState.DONE
    recipients = list(message.recipients.all())
    assert {r.state for r in recipients} == {RecipientState.BOUNCED}
    dsn = Message.objects.get(parent=message, relation=Relation.DSN)
    assert {r.dsn_message_id for r in recipients} == {dsn.pk}
    assert dsn.envelope_sender == ""
    assert dsn.client_ip is None
    assert list(dsn.recipients.values_list("address", flat=True)) == ["alice@sender.test"]
    raw = spool_read(dsn.spool_name)
    assert b"From: Mail Delivery System <MAILER-DAEMON@mailgate.test>" in raw
    assert b"Final-Recipient: rfc822; carol@partner.test" in raw
    assert b"Status: 5.7.1" in raw
    assert b"not allowed" in raw


def test_reject_of_a_null_sender_message__bounced_without_dsn():
    policy_create(name="No", actions=[{"kind": "reject", "params": {"reason": "not allowed"}}])
    message = accept(sender="")
    assert processing.message_process(message.pk) == "rejected"
    assert message.recipients.get().state == RecipientState.BOUNCED
    assert not Message.objects.filter(parent=message).exists()


def test_redirect_policy__recipients_redirected_with_a_notification_each(settings, tmp_path):
    from securemailbox.models import DeliveryProfile

    settings.MAILGATE_SECURE_STORE_DIR = tmp_path / "secure"
    DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@sender.test"
    )
    policy_create(
        name="Redirect",
        actions=[{"kind": "redirect_secure_mailbox", "params": {"profile": "My delivery profile"}}],
    )
    message = accept(rcpts=("bob@partner.test", "carol@partner.test"))
    assert processing.message_process(message.pk) == "redirected"
    message.refresh_from_db()
    assert message.state == MessageState.DONE
    assert set(message.recipients.values_list("state", flat=True)) == {RecipientState.REDIRECTED}
    notifications = Message.objects.filter(parent=message, relation=Relation.NOTIFICATION)
    assert notifications.count() == 2
    assert all(TAG_PURL in n.tags for n in notifications)


def test_redirect_to_a_missing_profile__held_never_delivered(monkeypatch):
    from policies.engine import Verdict

    monkeypatch.setattr(
        "policies.services.policies_evaluate",
        lambda message, raw=None, **_: Verdict(final="redirect", profile="Gone"),
    )
    message = accept()
    assert processing.message_process(message.pk) == "held"
    message.refresh_from_db()
    assert message.state == MessageState.HELD and "'Gone' not found" in message.hold_reason
    assert message.recipients.get().state == RecipientState.HELD


def test_deliver_now__the_policy_stage_claims_its_recipients_in_its_own_commit(monkeypatch):
    """The worker's run delivers what it claimed with the verdict: a crash after that
    commit leaves the recipients under a lease that the sweep takes over once it ran out."""
    import datetime as dt

    from relay.services import queue, sending

    handed: list[tuple[int, list[str], list[str]]] = []

    def crash(message_id, *, message=None, claimed=None):
        handed.append((message_id, [r.state for r in claimed], [r.address for r in claimed]))
        raise SystemExit("the worker died before the SMTP session")

    monkeypatch.setattr(sending, "message_deliver", crash)
    message = accept(rcpts=("bob@partner.test", "carol@partner.test"))
    with pytest.raises(SystemExit):
        processing.message_process(message.pk, deliver_now=True)
    assert handed == [(message.pk, ["delivering"] * 2, ["bob@partner.test", "carol@partner.test"])]
    rows = list(message.recipients.order_by("id"))
    assert {r.state for r in rows} == {RecipientState.DELIVERING}
    lease = rows[0].lease_until
    assert lease is not None and all(r.lease_until == lease for r in rows)
    assert queue.sweep_targets(now=lease - dt.timedelta(seconds=1)) == ([], [])
    assert queue.sweep_targets(now=lease + dt.timedelta(seconds=1)) == ([], [message.pk])
    assert queue.recipients_claim(message.pk, now=lease + dt.timedelta(seconds=1))


def test_verdict_and_state_are_written_together_or_not_at_all(monkeypatch):
    """A run superseded by another (the message left `received` meanwhile) stores nothing."""
    policy_create(
        name="Tag", actions=[{"kind": "add_header", "params": {"name": "X-T", "value": "1"}}]
    )
    message = accept()
    real = processing._verdict_fields

    def others_won(message_obj, verdict):
        Message.objects.filter(pk=message_obj.pk).update(state=MessageState.HELD)
        return real(message_obj, verdict)

    monkeypatch.setattr(processing, "_verdict_fields", others_won)
    assert processing.message_process(message.pk, deliver_now=True) == "superseded"
    message.refresh_from_db()
    assert message.headers_added == [] and message.verdict == {}
    assert message.recipients.get().state == RecipientState.QUEUED
