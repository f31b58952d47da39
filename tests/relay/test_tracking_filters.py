"""Tracking filters that the dashboard links to: a recipient's state and a recipient domain."""

import pytest
from django.urls import reverse

from relay.models import Message, Recipient, RecipientState

pytestmark = pytest.mark.django_db

LIST = reverse("relay:message-list")


def make(queue_id: str, *recipients: tuple[str, str]) -> Message:
    message = Message.objects.create(
        queue_id=queue_id, spool_name=f"x/{queue_id}.eml", envelope_sender="a@sender.test"
    )
    for address, state in recipients:
        Recipient.objects.create(
            message=message, address=address, domain=address.split("@")[1], state=state
        )
    return message


def listed(admin_client, **params) -> set[str]:
    response = admin_client.get(LIST, params)
    assert response.status_code == 200
    body = response.content.decode()
    return {qid for qid in ("QDEFERRED", "QDELIVERED", "QMIXED") if qid in body}


def test_recipient_state_and_domain_filters(admin_client):
    make("QDEFERRED", ("x@slow.example", RecipientState.DEFERRED))
    make("QDELIVERED", ("y@fast.example", RecipientState.DELIVERED))
    make(
        "QMIXED",
        ("z@slow.example", RecipientState.DELIVERED),
        ("w@other.example", RecipientState.BOUNCED),
    )
    assert listed(admin_client) == {"QDEFERRED", "QDELIVERED", "QMIXED"}
    assert listed(admin_client, state="deferred") == {"QDEFERRED"}
    assert listed(admin_client, state="delivered") == {"QDELIVERED", "QMIXED"}
    assert listed(admin_client, state="bounced") == {"QMIXED"}
    assert listed(admin_client, domain="slow.example") == {"QDEFERRED", "QMIXED"}
    assert listed(admin_client, domain="SLOW.example.", state="deferred") == {"QDEFERRED"}
    assert listed(admin_client, state="received") == {"QDEFERRED", "QDELIVERED", "QMIXED"}


def test_dashboard_links_are_valid_filters(admin_client):
    dashboard = admin_client.get(reverse("dashboard")).content.decode()
    import re

    states = set(re.findall(r'message-list[^"]*\?state=(\w+)', dashboard)) | set(
        re.findall(r"/relay/messages/\?state=(\w+)", dashboard)
    )
    assert states, "the dashboard links into tracking by state"
    for state in states:
        response = admin_client.get(LIST, {"state": state})
        assert "alert-warning" not in response.content.decode(), state
