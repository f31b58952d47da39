"""mailgate.rows: instances read with written-out SQL equal what the ORM reads."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from mailgate.rows import db_value, model_columns, row_insert, rows_insert, rows_select, rows_update
from relay.models import Message, Recipient

pytestmark = pytest.mark.django_db


def _message(**fields) -> Message:
    values = {
        "queue_id": "01TESTROWS000001", "client_ip": "192.0.2.7", "envelope_sender": "a@x.test",
        "spool_name": "20261204/01TESTROWS000001.eml", "size": 1234, "subject": "Grüße",
        "hop_count": 2, "tags": ["Secure Collaboration: PURL"], "verdict": {"final": "deliver"},
        "policy_trace": [{"policy": "p1", "matched": True}], "headers_added": [["X-A", "1"]],
        "lease_until": timezone.now() + dt.timedelta(minutes=5),
    }  # fmt: skip
    return Message.objects.create(**{**values, **fields})


def test_a_message_read_by_rows_select_equals_the_orms():
    message = _message()
    [found] = rows_select(Message, "t.id = %s", [message.pk])
    expected = Message.objects.get(pk=message.pk)
    for field in Message._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert timezone.is_aware(found.created_at) and found.tags == ["Secure Collaboration: PURL"]
    assert found.verdict == {"final": "deliver"} and found._state.adding is False
    assert rows_select(Message, "t.id = %s", [message.pk + 1000]) == []


def test_order_and_a_saved_instance_work_as_the_orms():
    message = _message()
    for address in ("c@z.test", "a@x.test", "b@y.test"):
        Recipient.objects.create(message=message, address=address, domain=address[2:])
    found = rows_select(Recipient, "t.message_id = %s", [message.pk], order_by="t.address")
    assert [r.address for r in found] == ["a@x.test", "b@y.test", "c@z.test"]
    found[0].attempts = 3
    found[0].save(update_fields=["attempts"])  # an instance from from_db saves as usual
    assert Recipient.objects.get(pk=found[0].pk).attempts == 3


def test_skipped_columns_are_deferred_and_loaded_when_read():
    message = _message()
    db = connections["default"]
    columns = model_columns(Message, db, "t", ("policy_trace",))
    table = db.ops.quote_name(Message._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {columns.sql} FROM {table} t WHERE t.id = %s", [message.pk])
        row = cursor.fetchone()
    found = columns.build(db, list(row))
    assert found.get_deferred_fields() == {"policy_trace"}
    assert found.policy_trace == [{"policy": "p1", "matched": True}]  # one more query


def test_rows_update_prepares_values_as_the_orm_and_matches_on_database_values():
    message = _message()
    recipient = Recipient.objects.create(
        message=message, address="r@x.test", domain="x.test", state="delivering",
        lease_until=timezone.now() + dt.timedelta(minutes=1),
    )  # fmt: skip
    lease = db_value(Recipient, "lease_until", recipient.lease_until)
    where = "id = %s AND state = %s AND lease_until = %s"
    assert (
        rows_update(Recipient, {"state": "delivered"}, where, [recipient.pk, "queued", lease]) == 0
    )
    changed = rows_update(
        Recipient,
        {"state": "delivered", "attempts": 1, "final_at": timezone.now(), "lease_until": None},
        where,
        [recipient.pk, "delivering", lease],
    )
    stored = Recipient.objects.get(pk=recipient.pk)
    assert changed == 1 and stored.state == "delivered" and stored.lease_until is None
    assert timezone.is_aware(stored.final_at) and stored.attempts == 1
    trace = [{"policy": "p2", "why": 'quote " and ü'}]
    assert rows_update(Message, {"policy_trace": trace, "tags": []}, "id = %s", [message.pk]) == 1
    assert Message.objects.get(pk=message.pk).policy_trace == trace


def test_row_insert_and_rows_insert_store_what_save_and_bulk_create_would():
    message = Message(queue_id="01TESTROWS000002", envelope_sender="", spool_name="x.eml")
    row_insert(message)
    assert message.pk is not None and message._state.adding is False
    stored = Message.objects.get(pk=message.pk)
    assert stored.state == "received" and stored.tags == [] and stored.created_at is not None
    assert stored.created_at == message.created_at  # auto_now_add set on the object too
    recipients = [Recipient(message=message, address=f"{n}@x.test", domain="x.test") for n in "ab"]
    rows_insert(Recipient, recipients)
    rows_insert(Recipient, [])  # nothing to do
    assert list(stored.recipients.order_by("id").values_list("address", "state")) == [
        ("a@x.test", "queued"), ("b@x.test", "queued")
    ]  # fmt: skip
