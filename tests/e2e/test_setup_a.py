"""Setup A end to end: partner domains must get TLS (DESIGN.md "The reference setup").

Built with `secure_setup` (what ``manage.py secure_setup`` runs), driven through the real
smtpd, worker and beat. Partners: tls-partner.example (STARTTLS) and plain-partner.example
(none); elsewhere.example is no partner; yourdomain.com is ours (see conftest.py)."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

import pytest
from django.urls import reverse

from relay.models import DeliveryAttempt, Message, MessageState, RecipientState
from relay.models.queue import TAG_PURL, Relation
from securemailbox.models import SecureMessage
from tests.e2e.conftest import (
    NOTIFIER,
    OTHER_RCPT,
    PLAIN_DOMAIN,
    PLAIN_RCPT,
    SENDER,
    TLS_RCPT,
    all_done,
    done,
    saw,
    sweeps,
    vanish_after_first_lookup,
)
from tests.securemailbox.helpers import PURL_RE
from tests.support.browser import screenshot
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "The merger closes on Friday; keep this to yourself."
SECRET_HEADER = "X-Deal-Code: ORCHID-7731"  # a header of the original, never on the wire


@pytest.fixture
def setup_a(reference_setup):
    return reference_setup("A")


def secret_message(subject: str, to: str):
    msg = make_message(subject, sender=SENDER, to=to, body=SECRET + "\n")
    name, value = SECRET_HEADER.split(": ")
    msg[name] = value
    return msg


def test_tls_partner_receives_over_tls_exactly_once_and_no_notification(
    mailgate_stack, setup_a, tls_partner, plain_partner, home_sink
):
    queue_id = mailgate_stack.submit(secret_message("To TLS", TLS_RCPT), SENDER, [TLS_RCPT])

    (received,) = tls_partner.wait_for(1, timeout=30)
    assert received.tls and received.tls_version in ("TLSv1.2", "TLSv1.3")
    assert received.rcpt_tos == (TLS_RCPT,) and SECRET.encode() in received.content
    message = mailgate_stack.wait_for(lambda: done(queue_id), what="the message done")
    sweeps(mailgate_stack)
    assert len(tls_partner.messages) == 1  # exactly once
    assert Message.objects.count() == 1  # no loop-back copy, no notification, no DSN
    assert not SecureMessage.objects.exists()
    assert plain_partner.connections == 0 and home_sink.connections == 0
    (attempt,) = DeliveryAttempt.objects.filter(message=message)
    assert (attempt.outcome, attempt.tls, attempt.source) == ("delivered", True, "mx")


@pytest.mark.browser
def test_plain_partner_gets_only_the_notification_and_its_purl_opens_the_message(
    mailgate_stack, setup_a, tls_partner, plain_partner, home_sink, page, live_server, output_dir
):
    mailgate_stack.submit(secret_message("Merger", PLAIN_RCPT), SENDER, [PLAIN_RCPT])

    (note,) = plain_partner.wait_for(1, timeout=60)
    assert (note.mail_from, note.rcpt_tos) == (NOTIFIER, (PLAIN_RCPT,))
    assert not note.tls  # "Do not use TLS for Secure Collaboration notifications"
    parsed = message_from_bytes(note.content, policy=email_policy.default)
    assert parsed["X-SecureMailNotification"] == "YES"  # policy 3
    text = parsed.get_body(("plain",)).get_content()
    purl = PURL_RE.search(text.encode())
    assert purl and purl.group(0).decode().startswith(live_server.url + "/m/")

    # original → looped-back copy (redirected) → notification, and nothing more
    mailgate_stack.wait_for(lambda: all_done(3), what="three messages done")
    sweeps(mailgate_stack)
    assert Message.objects.count() == 3 and len(plain_partner.messages) == 1
    # Never in clear: no byte of the original's body or of its own headers reached any
    # sink (the plain partner's MX got an EHLO for the original, no MAIL FROM).
    sinks = [plain_partner, tls_partner, home_sink]
    assert saw(sinks, SECRET.encode()) == [] and saw(sinks, SECRET_HEADER.encode()) == []
    assert plain_partner.mail_commands == [NOTIFIER]

    page.goto(purl.group(0).decode())
    assert page.locator("#subject").inner_text() == "Merger"
    assert SECRET in page.locator("#mail-text").inner_text()
    screenshot(page, output_dir, "e2e-setup-a-purl")
    assert SecureMessage.objects.get().open_count == 1


def test_a_domain_that_is_no_partner_is_delivered_as_before(
    mailgate_stack, setup_a, dns_server, tls_partner, other_sink
):
    """The Default route and sending policy: opportunistic TLS. In clear to a host without
    STARTTLS, over TLS where it is offered; nothing is redirected."""
    dns_server.add_mx("tls-elsewhere.example", 10, "mx.tls-partner.example")  # 127.0.0.2
    rcpts = [OTHER_RCPT, "erin@tls-elsewhere.example"]
    queue_id = mailgate_stack.submit(secret_message("Hello", OTHER_RCPT), SENDER, rcpts)

    (clear,) = other_sink.wait_for(1, timeout=30)
    (encrypted,) = tls_partner.wait_for(1, timeout=30)
    assert (clear.rcpt_tos, clear.tls) == ((OTHER_RCPT,), False)
    assert (encrypted.rcpt_tos, encrypted.tls) == (("erin@tls-elsewhere.example",), True)
    message = mailgate_stack.wait_for(lambda: done(queue_id), what="the message done")
    assert set(message.recipients.values_list("state", flat=True)) == {RecipientState.DELIVERED}
    assert message.route_name == "" and not any(t["fired"] for t in message.policy_trace)
    sweeps(mailgate_stack)
    assert Message.objects.count() == 1 and not SecureMessage.objects.exists()


@pytest.mark.parametrize("failure", ["nxdomain", "greylisted-then-rejected"])
def test_an_undeliverable_notification_bounces_once_and_does_not_loop(
    mailgate_stack, setup_a, dns_server, plain_partner, home_sink, monkeypatch, failure
):
    """The notification cannot be delivered: it goes round once (its route's last host is
    Mailgate), policy 2 sends the looped-back copy by the Default route, that fails for good,
    and ONE DSN goes to the notification sender (yourdomain.com's MX is `home_sink`).

    nxdomain: the partner's domain is gone once the original was routed.
    greylisted-then-rejected: the partner's MX answers 451 to the notification first (so it
    is handed back to Mailgate), then 550 to the looped-back copy."""
    if failure == "nxdomain":
        answers = vanish_after_first_lookup(monkeypatch, dns_server, PLAIN_DOMAIN)
    else:
        plain_partner.on_rcpt(PLAIN_RCPT, "451 4.7.1 Greylisted, try again later", times=1)
        plain_partner.on_rcpt(PLAIN_RCPT, "550 5.1.1 No such user")
    queue_id = mailgate_stack.submit(secret_message("Doomed", PLAIN_RCPT), SENDER, [PLAIN_RCPT])

    (dsn,) = home_sink.wait_for(1, timeout=60)
    assert dsn.mail_from == "<>" and dsn.rcpt_tos == (NOTIFIER,)
    assert b"multipart/report" in dsn.content
    assert (b"Status: 5.1.2" if failure == "nxdomain" else b"Status: 5.1.1") in dsn.content

    # original, its looped-back copy, the notification, the notification's looped-back copy,
    # the DSN: then everything is done and stays so.
    mailgate_stack.wait_for(lambda: all_done(5), timeout=30, what="five messages done")
    sweeps(mailgate_stack, 3)
    assert Message.objects.count() == 5 and len(home_sink.messages) == 1
    assert plain_partner.messages == []  # the notification never arrived either
    original = Message.objects.get(queue_id=queue_id)
    copy = original.children.get(relation=Relation.LOOPBACK)
    note = copy.children.get(relation=Relation.NOTIFICATION)
    note_copy = note.children.get(relation=Relation.LOOPBACK)
    assert note_copy.client_ip == "127.0.0.1" and note_copy.route_name == "Default"  # policy 2
    assert note_copy.recipients.get().state == RecipientState.BOUNCED
    assert note.recipients.get().state == RecipientState.DELIVERED  # to Mailgate itself
    dsn_row = note_copy.children.get(relation=Relation.DSN)
    assert dsn_row.recipients.get().state == RecipientState.DELIVERED
    assert SecureMessage.objects.count() == 1  # the notification was never redirected
    if failure == "nxdomain":
        assert answers[0] == "ok" and set(answers[1:]) == {"nxdomain"}


def test_tracking_page_of_the_original_follows_the_whole_flow(
    mailgate_stack, setup_a, plain_partner, admin_client
):
    """Item 4: one page shows the looped-back copy, the Secure Mailbox item and the
    notification of a redirected message, each a link to follow."""
    queue_id = mailgate_stack.submit(secret_message("Trace me", PLAIN_RCPT), SENDER, [PLAIN_RCPT])
    plain_partner.wait_for(1, timeout=60)
    mailgate_stack.wait_for(lambda: all_done(3), what="three messages done")
    original = Message.objects.get(queue_id=queue_id)
    copy = original.children.get(relation=Relation.LOOPBACK)
    note = copy.children.get(relation=Relation.NOTIFICATION)
    item = SecureMessage.objects.get()
    assert item.message_id == copy.pk and item.notification_id == note.pk
    assert TAG_PURL in note.tags and original.state == MessageState.DONE

    page = admin_client.get(reverse("relay:message-detail", args=[queue_id])).content.decode()
    flow, _, secure = page.partition('<div class="card-header">Secure Mailbox</div>')
    flow = flow.partition('<div class="card-header">Message flow</div>')[2]
    for linked, label in ((copy, "Looped-back copy"), (note, "Secure Mailbox notification")):
        assert f'href="{linked.get_absolute_url()}"' in flow and label in flow
    # The item the copy was redirected to, with links to the copy and the notification.
    secure = secure.partition('<div class="card mt-3">')[0]
    assert f'href="{item.get_absolute_url()}">{PLAIN_RCPT}</a>' in secure
    assert f'href="{copy.get_absolute_url()}">{copy.queue_id}</a>' in secure
    assert f'href="{note.get_absolute_url()}">{note.queue_id}</a>' in secure
