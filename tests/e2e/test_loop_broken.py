"""The article's warning end to end: a wrong setup loops. The loop check says so before it
happens, and at run time the hop limit stops the loop (DESIGN.md "The reference setup").

The stack runs with a hop limit of 5: a message that arrives with a sixth Mailgate Received
header is held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policies.loopcheck import (
    ERROR,
    NOTIFICATION_ROUTE_LOOPS,
    SENDER_CHECK_ONE_SIDE,
    WARNING,
)
from policies.loopcheck.collect import loop_check_run
from policies.models import ContentPolicy
from policies.services import policy_set_enabled, policy_update
from relay.models import Message, MessageState, RecipientState
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.models import SecureMessage
from tests.e2e.conftest import NOTIFIER, PLAIN_RCPT, SENDER, all_done, saw, sweeps
from tests.support.stack import make_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAILGATE_STACK_ENV = {"MAILGATE_MAX_HOPS": "5"}
POLICY_2 = "Deliver looped-back notifications by the default route"
SECRET = "Board minutes: do not forward."


@pytest.fixture
def setup_a(reference_setup):
    return reference_setup("A")


def policy_2_edit(change: Callable[[dict[str, Any]], None]) -> None:
    row = ContentPolicy.objects.get(name=POLICY_2)
    spec = row.to_spec()
    change(spec)
    policy_update(
        policy=row, name=spec["name"], if_conditions=spec["if"],
        except_conditions=spec["except_if"], actions=spec["then"], enabled=spec["enabled"],
        continue_processing=spec["continue_processing"],
    )  # fmt: skip


def check_only_the_from_header(spec: dict[str, Any]) -> None:
    (sender,) = [c for c in spec["if"] if c["kind"] == "sender_address"]
    sender["params"]["check"] = "header"


def route_by_the_loopback_route(spec: dict[str, Any]) -> None:
    (route,) = [a for a in spec["then"] if a["kind"] == "route"]
    route["params"]["route"] = "Loopback route"


def test_a_one_sided_sender_check_is_flagged_yet_the_notification_goes_out(
    mailgate_stack, setup_a, plain_partner
):
    """Policy 2 checks only the From header. The loop check warns; Mailgate's notifications
    carry the sender on both sides, so at run time policy 2 still recognises the looped-back
    notification (greylisted once by the partner) and nothing loops."""
    policy_2_edit(check_only_the_from_header)
    (finding,) = loop_check_run().findings
    assert (finding.code, finding.severity, finding.policies) == (
        SENDER_CHECK_ONE_SIDE, WARNING, (POLICY_2,),
    )  # fmt: skip
    plain_partner.on_rcpt(PLAIN_RCPT, "451 4.7.1 Greylisted, try again later", times=1)
    mailgate_stack.submit(
        make_message("Minutes", sender=SENDER, to=PLAIN_RCPT, body=SECRET), SENDER, [PLAIN_RCPT]
    )

    (note,) = plain_partner.wait_for(1, timeout=60)
    assert note.mail_from == NOTIFIER and not note.tls
    # original, its copy, the notification, the notification's copy (sent by policy 2)
    mailgate_stack.wait_for(lambda: all_done(4), timeout=30, what="four messages done")
    sweeps(mailgate_stack)
    assert Message.objects.count() == 4 and len(plain_partner.messages) == 1
    note_copy = Message.objects.get(relation=Relation.LOOPBACK, parent__relation="notification")
    assert note_copy.route_name == "Default"
    assert POLICY_2 in [t["name"] for t in note_copy.policy_trace if t["fired"]]
    assert saw([plain_partner], SECRET.encode()) == []


@pytest.mark.parametrize(
    "break_policy_2", ["disabled", "routes-by-the-loopback-route"], ids=lambda name: name
)
def test_a_notification_route_that_loops_is_flagged_and_held_at_the_hop_limit(
    mailgate_stack, setup_a, plain_partner, break_policy_2
):
    """Policy 2 does not take looped-back notifications off the loopback route (disabled, or
    routing by the Loopback route). The loop check says it loops; the partner's MX keeps
    answering 451 to the notification, so each copy is handed back to Mailgate again, until
    the hop limit holds it. Bounded: no new message after that."""
    if break_policy_2 == "disabled":
        policy_set_enabled(policy=ContentPolicy.objects.get(name=POLICY_2), enabled=False)
    else:
        policy_2_edit(route_by_the_loopback_route)
    findings = loop_check_run().findings
    assert (NOTIFICATION_ROUTE_LOOPS, ERROR) in [(f.code, f.severity) for f in findings]
    plain_partner.on_rcpt(PLAIN_RCPT, "451 4.3.0 Mailbox busy, try again later")
    queue_id = mailgate_stack.submit(
        make_message("Minutes", sender=SENDER, to=PLAIN_RCPT, body=SECRET), SENDER, [PLAIN_RCPT]
    )

    held = mailgate_stack.wait_for(
        lambda: Message.objects.filter(state=MessageState.HELD).first(),
        timeout=60,
        what="a copy held at the hop limit",
    )
    assert held.hold_reason == "hop limit: arrived with 6 Mailgate Received headers (more than 5)"
    assert held.recipients.get().state == RecipientState.HELD
    assert spool_read(held.spool_name).count(b"by mailgate.test (Mailgate)") == 7
    chain = [held]
    while chain[-1].relation == Relation.LOOPBACK:
        chain.append(chain[-1].parent)
    notification = chain[-1]
    assert notification.relation == Relation.NOTIFICATION and len(chain) == 7
    assert {m.client_ip for m in chain[:-1]} == {"127.0.0.1"}
    assert notification.parent.parent.queue_id == queue_id  # copy of the original → item

    sweeps(mailgate_stack, 3)
    # original, its redirected copy, the notification and its six copies: and no more
    assert Message.objects.count() == 9
    assert Message.objects.exclude(pk=held.pk).exclude(state=MessageState.DONE).count() == 0
    assert SecureMessage.objects.count() == 1  # the notification was never redirected
    assert plain_partner.messages == [] and saw([plain_partner], SECRET.encode()) == []
