"""Message tracking pages and actions (Admin UI, login required, CSRF-protected POSTs)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from relay.models import DeliveryAttempt, Message, MessageState, Recipient, RecipientState
from relay.models.queue import Relation
from relay.services import processing
from relay.services.accept import message_accept
from relay.spool import spool_path

pytestmark = pytest.mark.django_db

LIST = reverse("relay:message-list")
ACTION = reverse("relay:message-action")


@pytest.fixture(autouse=True)
def _spool(settings, tmp_path):
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_HOSTNAME = "mailgate.test"


def accept(subject="Quarterly", sender="alice@sender.test", rcpts=("bob@partner.test",), **kw):
    raw = (
        f"From: {sender}\r\nTo: {rcpts[0]}\r\nSubject: {subject}\r\n"
        "X-Evil: <script>alert(1)</script>\r\n\r\nHello.\r\n"
    ).encode()
    return message_accept(
        raw=raw, envelope_sender=sender, recipients=list(rcpts), client_ip="127.0.0.10", **kw
    )


def test_pages_require_login(client):
    message = accept()
    for url in (LIST, message.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(ACTION, {"action": "hold", "ids": [message.queue_id]}).status_code == 302
    assert Message.objects.get(pk=message.pk).state == MessageState.RECEIVED


def test_list_search_by_sender_recipient_subject_and_queue_id(admin_client):
    first = accept(subject="Quarterly report", sender="alice@sender.test")
    second = accept(subject="Lunch", sender="carol@other.test", rcpts=("dave@partner.test",))
    cases = {
        "alice@": first,
        "dave@partner": second,
        "quarterly": first,
        second.queue_id: second,
    }
    for q, expected in cases.items():
        body = admin_client.get(LIST, {"q": q}).content.decode()
        assert expected.queue_id in body, q
        other = second if expected is first else first
        assert other.queue_id not in body, q


def test_list_filters_state_dates_and_tls(admin_client):
    done, held, old = accept(), accept(), accept()
    Message.objects.filter(pk=done.pk).update(state=MessageState.DONE)
    Message.objects.filter(pk=held.pk).update(state=MessageState.HELD)
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    DeliveryAttempt.objects.create(message=done, outcome="delivered", tls=True, host="mx")
    DeliveryAttempt.objects.create(message=old, outcome="delivered", tls=False, host="mx")

    def ids(**params):
        page = admin_client.get(LIST, params).context["page_obj"]
        return {m.queue_id for m in page}

    assert ids(state="held") == {held.queue_id}
    assert ids(tls="yes") == {done.queue_id}
    assert ids(tls="no") == {old.queue_id}
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert ids(date_from=since) == {done.queue_id, held.queue_id}
    assert ids(date_to=(timezone.now() - dt.timedelta(days=5)).date().isoformat()) == {old.queue_id}


def test_list_paginates(admin_client):
    for i in range(55):
        accept(subject=f"m{i}")
    first = admin_client.get(LIST)
    assert len(first.context["page_obj"]) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert len(admin_client.get(LIST, {"page": 2}).context["page_obj"]) == 5


def test_detail_shows_envelope_headers_escaped_trace_attempts_and_recipients(admin_client):
    message = accept()
    processing.message_process(message.pk)
    DeliveryAttempt.objects.create(
        message=message, host="mx.partner.test", ip="127.0.0.2", port=25, tls=True,
        tls_version="TLSv1.3", tls_cipher="TLS_AES_256_GCM_SHA384", outcome="deferred",
        reply_code=451, reply="451 4.3.0 greylisted", recipients=["bob@partner.test"],
    )  # fmt: skip
    body = admin_client.get(message.get_absolute_url()).content.decode()
    assert "alice@sender.test" in body and "127.0.0.10" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert "mx.partner.test" in body and "TLSv1.3" in body and "TLS_AES_256_GCM_SHA384" in body
    assert "451 4.3.0 greylisted" in body
    assert "bob@partner.test" in body
    assert "Received" in body  # our own Received header, read from the spool


def test_detail_shows_the_policy_trace_and_the_verdict(admin_client):
    from policies.services import policy_create

    policy_create(
        name="Quarantine LAN",
        if_conditions=[{"kind": "sender_ip", "params": {"values": ["127.0.0.0/8"]}}],
        actions=[{"kind": "hold", "params": {"reason": "review first"}}],
    )
    message = accept()
    assert processing.message_process(message.pk) == "held"
    body = admin_client.get(message.get_absolute_url()).content.decode()
    trace = body.split("Policy trace", 1)[1].split("Delivery attempts", 1)[0]
    assert "Quarantine LAN" in trace and "table-success" in trace  # the row of the one fired
    assert "processing stopped here" in trace
    assert "Verdict: <strong>hold</strong>" in trace and "review first" in trace


def test_detail_shows_what_the_policies_could_not_read(admin_client):
    raw = b"From: alice@sender.test\r\nSubject: =?utf-8?b?!!!?=\r\n\r\nHello.\r\n"
    message = message_accept(
        raw=raw, envelope_sender="alice@sender.test", recipients=["bob@partner.test"],
        client_ip="127.0.0.10",
    )  # fmt: skip
    processing.message_process(message.pk)
    message.refresh_from_db()
    assert message.verdict["parse_notes"]
    body = admin_client.get(message.get_absolute_url()).content.decode()
    assert 'id="parse-notes"' in body
    for note in message.verdict["parse_notes"]:
        assert escape(note) in body


def test_hostile_helo_sender_and_recipient_are_escaped_on_list_and_detail(admin_client):
    """Corpus INJ-4: markup in HELO, MAIL FROM and RCPT TO is stored as given and shown as
    text, never as markup, on the tracking pages."""
    evil = "<img src=x onerror=alert(1)>"
    message = message_accept(
        raw=b"Subject: hi\r\n\r\nHello.\r\n",
        envelope_sender=f'"{evil}"@sender.test',
        recipients=[f'"{evil}"@partner.test'],
        client_ip="127.0.0.10",
        client_helo=evil,
    )
    for url in (LIST, message.get_absolute_url()):
        body = admin_client.get(url).content.decode()
        assert "<img src=x" not in body, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in body, url


def test_detail_shows_the_whole_flow_both_ways(admin_client):
    origin = accept(subject="Origin")
    loop = accept(subject="Looped", parent=origin, relation=Relation.LOOPBACK)
    dsn = accept(subject="DSN", sender="", parent=loop, relation=Relation.DSN)
    for page in (origin, dsn):
        body = admin_client.get(page.get_absolute_url()).content.decode()
        for other in (origin, loop, dsn):
            assert other.queue_id in body
        assert "Looped-back copy" in body and "Delivery status notification" in body


def test_detail_shows_the_hop_limit_reason(admin_client, settings):
    settings.MAILGATE_MAX_HOPS = 2
    message = accept()
    Message.objects.filter(pk=message.pk).update(hop_count=4)
    processing.message_process(message.pk)
    body = admin_client.get(message.get_absolute_url()).content.decode()
    assert "hop limit: arrived with 3 Mailgate Received headers (more than 2)" in body


def post(client, action, *messages, **extra):
    return client.post(ACTION, {"action": action, "ids": [m.queue_id for m in messages], **extra})


def test_hold_and_release_a_selection(admin_client, django_capture_on_commit_callbacks):
    one, two = accept(), accept()
    for message in (one, two):
        processing.message_process(message.pk)
    response = post(admin_client, "hold", one, two, next=LIST + "?state=active")
    assert response.status_code == 302 and response["Location"] == LIST + "?state=active"
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.HELD}
    assert set(Recipient.objects.values_list("state", flat=True)) == {RecipientState.HELD}
    with django_capture_on_commit_callbacks() as callbacks:
        post(admin_client, "release", one)
    assert len(callbacks) == 1  # the doorbell for the delivery stage
    one.refresh_from_db()
    assert one.state == MessageState.ACTIVE
    assert one.recipients.get().state == RecipientState.QUEUED


def test_release_of_a_message_held_before_the_policies_runs_them_again(admin_client):
    message = accept()
    post(admin_client, "hold", message)
    post(admin_client, "release", message)
    message.refresh_from_db()
    assert message.state == MessageState.RECEIVED
    assert processing.message_process(message.pk) == "queued"


def test_retry_now_makes_deferred_recipients_due(admin_client):
    message = accept()
    processing.message_process(message.pk)
    later = timezone.now() + dt.timedelta(hours=1)
    Recipient.objects.filter(message=message).update(
        state=RecipientState.DEFERRED, next_attempt_at=later
    )
    post(admin_client, "retry", message)
    assert Recipient.objects.get(message=message).next_attempt_at <= timezone.now()


def test_bounce_sends_one_dsn_and_finishes_the_message(admin_client):
    message = accept(rcpts=("bob@partner.test", "carol@partner.test"))
    processing.message_process(message.pk)
    post(admin_client, "bounce", message)
    message.refresh_from_db()
    assert message.state == MessageState.DONE
    assert set(message.recipients.values_list("state", flat=True)) == {RecipientState.BOUNCED}
    assert message.children.filter(relation=Relation.DSN).count() == 1


def test_delete_removes_rows_and_spool_file(admin_client):
    message = accept()
    path = spool_path(message.spool_name)
    assert path.exists()
    response = post(admin_client, "delete", message)
    assert response["Location"] == LIST
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not path.exists()


def test_delete_is_refused_while_a_worker_delivers_it(admin_client):
    busy, idle = accept(), accept()
    for message in (busy, idle):
        processing.message_process(message.pk)
    Recipient.objects.filter(message=busy).update(
        state=RecipientState.DELIVERING, lease_until=timezone.now() + dt.timedelta(minutes=5)
    )
    response = post(admin_client, "delete", busy, idle, next=LIST)
    assert response.status_code == 302
    assert Message.objects.filter(pk=busy.pk).exists() and spool_path(busy.spool_name).exists()
    assert not Message.objects.filter(pk=idle.pk).exists()
    page = admin_client.get(LIST).content.decode()
    assert f"Not deleted, a worker is delivering them right now: {busy.queue_id}" in page
    # Once the worker's lease has run out (it died), the message can be deleted.
    Recipient.objects.filter(message=busy).update(lease_until=timezone.now())
    post(admin_client, "delete", busy)
    assert not Message.objects.filter(pk=busy.pk).exists()


def test_deleting_a_message_that_is_already_gone_is_no_error():
    from relay.services.actions import message_delete

    message = accept()
    stale = Message.objects.get(pk=message.pk)
    assert message_delete(message=message) is True
    assert message_delete(message=stale) is True  # a second click, or two admins at once
    assert not Message.objects.filter(pk=message.pk).exists()


def test_retry_bounce_and_delete_act_on_every_message_of_a_selection(admin_client):
    chosen = [accept() for _ in range(3)]
    for message in chosen:
        processing.message_process(message.pk)
    later = timezone.now() + dt.timedelta(hours=1)
    Recipient.objects.update(state=RecipientState.DEFERRED, next_attempt_at=later)
    post(admin_client, "retry", *chosen)
    assert all(r.next_attempt_at <= timezone.now() for r in Recipient.objects.all())
    post(admin_client, "bounce", *chosen)
    for message in chosen:
        message.refresh_from_db()
        assert message.state == MessageState.DONE
        assert message.children.filter(relation=Relation.DSN).count() == 1
    post(admin_client, "delete", *chosen)
    assert not Message.objects.filter(pk__in=[m.pk for m in chosen]).exists()


def test_actions_need_a_csrf_token(admin_user):
    message = accept()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert post(client, "delete", message).status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


def test_actions_refuse_an_unknown_action_and_foreign_next(admin_client):
    message = accept()
    response = post(admin_client, "explode", message, next="https://evil.test/")
    assert response["Location"] == LIST
    assert post(admin_client, "hold", message, next="https://evil.test/")["Location"] == LIST
