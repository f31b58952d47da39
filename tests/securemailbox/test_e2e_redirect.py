"""End to end: the reference Setup A with the real smtpd, Celery worker and beat
(mailgate_stack), a real partner without STARTTLS and DNS on loopback.

A message to the partner cannot go over TLS, so it loops back to Mailgate, policy 1
redirects it to the Secure Mailbox, and the notification (tagged, with the header policy 3
adds) reaches the partner; its pURL opens the message in headless Chromium. A secure reply
written there is accepted like any other message and delivered to the sender's own MX."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from policies.setup import SetupOptions, secure_setup
from relay.models import Message, RecipientState
from relay.models.queue import TAG_PURL, Relation
from securemailbox.models import DeliveryProfile, SecureMessage
from tests.securemailbox.helpers import PURL_RE
from tests.support.browser import screenshot
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SENDER = "alice@sender.test"
SECRET = "The merger closes on Friday; keep this to yourself."


@pytest.fixture
def dns_server(e2e_dns):
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


@pytest.fixture
def setup_a(dns_server, live_server):
    dns_server.add_mx("partner.test", 10, "mx.partner.test")
    dns_server.add_a("mx.partner.test", "127.0.0.3")
    secure_setup(
        options=SetupOptions(mode="A", local_domain="sender.test", partners=("partner.test",))
    )
    profile = DeliveryProfile.objects.get(name="My delivery profile")
    profile.portal_base_url = live_server.url
    profile.organisation_name = "Sender Corp"
    profile.save()
    return profile


def test_redirected_message_is_read_through_the_notifications_purl(
    mailgate_stack, setup_a, plain_partner, page, live_server, output_dir
):
    msg = make_message("Merger", sender=SENDER, to="bob@partner.test", body=SECRET + "\n")
    queue_id = mailgate_stack.submit(msg, SENDER, ["bob@partner.test"])

    (notification,) = plain_partner.wait_for(1, timeout=90)
    assert notification.rcpt_tos == ("bob@partner.test",)
    assert notification.mail_from == "secureMailer@sender.test"
    assert not notification.tls  # "Do not use TLS for Secure Collaboration notifications"
    assert SECRET.encode() not in notification.content
    assert all(SECRET.encode() not in bytes(wire) for wire in plain_partner.wire)
    parsed = message_from_bytes(notification.content, policy=policy.default)
    assert parsed["X-SecureMailNotification"] == "YES"  # policy 3 ran on it
    assert parsed["From"] == "secureMailer@sender.test"
    text = parsed.get_body(("plain",)).get_content()
    match = PURL_RE.search(text.encode())
    assert match and match.group(0).decode().startswith(live_server.url)

    item = SecureMessage.objects.get()
    assert item.recipient_address == "bob@partner.test"
    redirected = item.message
    assert redirected.relation == Relation.LOOPBACK and redirected.parent.queue_id == queue_id
    assert redirected.recipients.get().state == RecipientState.REDIRECTED
    note = Message.objects.get(relation=Relation.NOTIFICATION)
    assert TAG_PURL in note.tags and note.parent_id == redirected.pk

    page.goto(match.group(0).decode())
    assert page.locator("#subject").inner_text() == "Merger"
    assert SECRET in page.locator("#mail-text").inner_text()
    assert "Sender Corp" in page.content()
    screenshot(page, output_dir, "securemailbox-e2e-purl")


def test_secure_reply_is_mail_through_the_relay_to_the_original_sender(
    mailgate_stack, setup_a, plain_partner, sink_factory, dns_server, page, output_dir
):
    dns_server.add_mx("sender.test", 10, "mx.sender.test")
    dns_server.add_a("mx.sender.test", "127.0.0.4")
    home = sink_factory("127.0.0.4", tls=False)  # Alice's own mail server
    msg = make_message("Merger", sender=SENDER, to="bob@partner.test", body=SECRET + "\n")
    original_id = msg["Message-ID"]
    mailgate_stack.submit(msg, SENDER, ["bob@partner.test"])
    (notification,) = plain_partner.wait_for(1, timeout=90)
    purl = PURL_RE.search(notification.content).group(0).decode()

    page.goto(purl)
    page.click("#reply")
    page.fill("textarea[name=text]", "Understood, Alice.\nBob")
    page.click("#send-reply")
    page.wait_for_url(purl)
    screenshot(page, output_dir, "securemailbox-e2e-reply-sent")

    # The reply is an accepted Message like any other: Mailgate's own, from the reader, to
    # the original sender, a child of the redirected message; the worker delivers it.
    item = SecureMessage.objects.get()
    reply = Message.objects.get(relation=Relation.REPLY)
    assert reply.client_ip is None and reply.parent_id == item.message_id
    assert reply.envelope_sender == "bob@partner.test"
    assert list(reply.recipients.values_list("address", flat=True)) == [SENDER]
    (received,) = home.wait_for(1, timeout=90)
    assert received.mail_from == "bob@partner.test" and received.rcpt_tos == (SENDER,)
    parsed = message_from_bytes(received.content, policy=policy.default)
    assert parsed["Subject"] == "Re: Merger" and parsed["In-Reply-To"] == original_id
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.strip() == "Understood, Alice.\nBob"
    assert SECRET not in received.content.decode(errors="replace")
    recipient = mailgate_stack.wait_for(
        lambda: reply.recipients.filter(state=RecipientState.DELIVERED).first(), 30
    )
    assert recipient.address == SENDER
    assert plain_partner.wait_for(1) == [notification]  # nothing else went to the partner
