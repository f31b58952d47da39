"""Secure Mailbox log lines about a message carry its queue id (mailgate/logging.py), and
never a pURL token, a one-time code, a password or the message body."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client

from mailgate.logging import KeyValueFormatter
from relay.models import Message
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.models import Verification
from securemailbox.services import securemessage_extend, securemessage_resend, securemessage_revoke
from tests.securemailbox.helpers import make_raw

pytestmark = pytest.mark.django_db
SECRET_BODY = "The merger closes on Friday."
PASSWORD = "orange-Kettle-42-drums"


def lines(caplog) -> list[str]:
    formatter = KeyValueFormatter()
    return [formatter.format(r) for r in caplog.records if r.name.startswith("securemailbox")]


def test_item_lines_carry_the_queue_id_and_no_secret(caplog, client, redirect, profile):
    caplog.set_level(logging.INFO)
    profile.verification = Verification.PASSWORD
    profile.save()
    done = redirect(make_raw(text=SECRET_BODY + "\n"))
    queue_id = done.message.queue_id
    client.post(f"/m/{done.token}/", {"password1": PASSWORD, "password2": PASSWORD})
    Client().post(f"/m/{done.token}/", {"password": "wrong-guess-123"})
    client.post(f"/m/{done.token}/reply/", {"text": "Thanks, " + SECRET_BODY})
    securemessage_extend(item=done.item, days=3)
    securemessage_resend(item=done.item)
    securemessage_revoke(item=done.item)

    written = lines(caplog)
    wanted = ["redirected to the Secure Mailbox", "password set", "wrong password",
              "secure reply", "extended by 3", "new pURL", "revoked"]  # fmt: skip
    for words in wanted:
        assert any(words in line for line in written), words
    tokens = [done.token, *re.findall(r"/m/([A-Za-z0-9_-]{43})/", _notifications())]
    for line in written:
        assert f"queue_id={queue_id}" in line, line
        assert not any(token in line for token in tokens), line
        assert SECRET_BODY not in line and PASSWORD not in line and "wrong-guess" not in line


def test_code_lines_never_hold_the_code(caplog, client, redirect, profile):
    caplog.set_level(logging.INFO)
    profile.verification = Verification.CODE
    profile.save()
    done = redirect()
    client.post(f"/m/{done.token}/", {"action": "send"})
    mail = Message.objects.get(relation=Relation.CODE)
    code = re.search(rb"\b(\d{8})\b", spool_read(mail.spool_name)).group(1).decode()
    client.post(f"/m/{done.token}/", {"action": "verify", "code": code})
    written = lines(caplog)
    assert any("code sent" in line for line in written)
    assert any("right one-time code" in line for line in written)
    for line in written:
        assert f"queue_id={done.message.queue_id}" in line and code not in line, line


def test_a_render_failure_is_logged_with_the_queue_id(caplog, client, redirect, monkeypatch):
    done = redirect()

    def broken(raw, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("securemailbox.views.rendering.message_render", broken)
    assert client.get(f"/m/{done.token}/").status_code == 200
    (line,) = [line for line in lines(caplog) if "cannot render" in line]
    assert f"queue_id={done.message.queue_id}" in line and done.token not in line


def _notifications() -> str:
    return "".join(
        spool_read(m.spool_name).decode(errors="replace")
        for m in Message.objects.filter(relation=Relation.NOTIFICATION)
    )
