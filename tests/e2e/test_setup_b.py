"""Setup B end to end: all outbound mail must get TLS (DESIGN.md "The reference setup").

The Default sending policy requires TLS and policy 4 sends everything but notifications and
looped-back DSNs by the loopback route; built with `secure_setup` and driven through the
real smtpd, worker and beat (world in conftest.py)."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

import pytest

from relay.models import Message, RecipientState
from relay.models.queue import TAG_PURL, Relation
from securemailbox.models import SecureMessage
from tests.e2e.conftest import (
    NOTIFIER,
    PLAIN_RCPT,
    SENDER,
    TLS_RCPT,
    all_done,
    saw,
    sweeps,
)
from tests.securemailbox.helpers import PURL_RE
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "Payroll for March is attached."
POLICY_4 = "Send all outbound mail by the loopback route"


@pytest.fixture
def setup_b(reference_setup):
    return reference_setup("B")


def fired(message: Message) -> list[str]:
    return [t["name"] for t in message.policy_trace if t["fired"]]


def test_every_message_leaves_over_tls_or_into_the_secure_mailbox(
    mailgate_stack, setup_b, tls_partner, plain_partner, live_server
):
    msg = make_message("Payroll", sender=SENDER, to=TLS_RCPT, body=SECRET + "\n")
    queue_id = mailgate_stack.submit(msg, SENDER, [TLS_RCPT, PLAIN_RCPT])

    (over_tls,) = tls_partner.wait_for(1, timeout=30)
    assert over_tls.tls and over_tls.rcpt_tos == (TLS_RCPT,) and SECRET.encode() in over_tls.content
    (note,) = plain_partner.wait_for(1, timeout=60)
    # The notification holds only the link, so it goes out in clear where TLS is not offered.
    assert (note.mail_from, note.rcpt_tos, note.tls) == (NOTIFIER, (PLAIN_RCPT,), False)
    parsed = message_from_bytes(note.content, policy=email_policy.default)
    assert parsed["X-SecureMailNotification"] == "YES"
    purl = PURL_RE.search(parsed.get_body(("plain",)).get_content().encode())
    assert purl and purl.group(0).decode().startswith(live_server.url)

    mailgate_stack.wait_for(lambda: all_done(3), what="three messages done")
    sweeps(mailgate_stack)
    assert Message.objects.count() == 3  # original, its looped-back copy, the notification
    assert len(tls_partner.messages) == 1 and len(plain_partner.messages) == 1
    assert saw([plain_partner], SECRET.encode()) == []  # never in clear
    original = Message.objects.get(queue_id=queue_id)
    assert original.route_name == "Loopback route" and POLICY_4 in fired(original)
    copy = original.children.get(relation=Relation.LOOPBACK)
    assert [r.address for r in copy.recipients.all()] == [PLAIN_RCPT]
    assert copy.recipients.get().state == RecipientState.REDIRECTED
    notification = copy.children.get(relation=Relation.NOTIFICATION)
    assert TAG_PURL in notification.tags and POLICY_4 not in fired(notification)
    assert notification.route_name == ""  # its domain's route: the Default one
    assert SecureMessage.objects.get().recipient_address == PLAIN_RCPT


@pytest.mark.parametrize("home_tls", [True, False], ids=["dsn-over-tls", "dsn-home-without-tls"])
def test_a_dsn_is_never_redirected_and_never_loops(
    mailgate_stack, setup_b, tls_partner, sink_factory, home_tls
):
    """A bounce goes by the loopback route like all mail (policy 4). Where our own domain's
    MX offers TLS it arrives over TLS; where it does not, the DSN comes back to Mailgate
    once, is neither redirected (policy 1 spares DSNs) nor routed back again (policy 4
    spares a DSN from MAILER-DAEMON via 127.0.0.1), and waits for TLS: never in clear."""
    home = sink_factory("127.0.0.4", tls=home_tls, record_wire=True)
    tls_partner.on_rcpt(TLS_RCPT, "550 5.1.1 No such user")
    msg = make_message("Bounce me", sender=SENDER, to=TLS_RCPT, body=SECRET + "\n")
    queue_id = mailgate_stack.submit(msg, SENDER, [TLS_RCPT])

    dsn = mailgate_stack.wait_for(
        lambda: Message.objects.filter(parent__queue_id=queue_id, relation=Relation.DSN).first(),
        timeout=30,
        what="the DSN",
    )
    if home_tls:
        (received,) = home.wait_for(1, timeout=30)
        assert received.tls and received.mail_from == "<>" and received.rcpt_tos == (SENDER,)
        mailgate_stack.wait_for(lambda: all_done(2), what="two messages done")
        expected = 2
    else:
        copy = mailgate_stack.wait_for(
            lambda: dsn.children.filter(relation=Relation.LOOPBACK).first(), what="DSN copy"
        )
        mailgate_stack.wait_for(  # tried again and again, by the Default route only
            lambda: copy.recipients.filter(state=RecipientState.DEFERRED, attempts__gte=2).exists(),
            what="the DSN's copy deferred twice",
        )
        assert copy.is_dsn and copy.client_ip == "127.0.0.1" and copy.route_name == ""
        assert copy.verdict.get("final") is None and fired(copy) == []
        expected = 3
    sweeps(mailgate_stack, 3)
    dsn.refresh_from_db()
    assert dsn.route_name == "Loopback route" and POLICY_4 in fired(dsn)
    assert Message.objects.count() == expected  # nothing loops
    assert not SecureMessage.objects.exists()  # DSNs are never redirected
    if not home_tls:
        assert home.mail_commands == [] and home.messages == []  # never in clear
