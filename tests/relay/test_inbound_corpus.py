# ruff: noqa: F811 - pytest fixtures imported from tests.support.smtpd_server
"""Every message of the public corpus (shared/corpus/emails) through the real smtpd.

Each file is sent twice in one session: as it is (LF-only files are a bare-LF test) and
with its line ends made CRLF. Each submission is either stored byte for byte behind our
Received header, or refused with a clear 5xx; the session survives either way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relay.models import Message
from relay.spool import spool_read
from tests.conftest import CORPUS
from tests.support.smtpd_server import (  # noqa: F401 - fixtures
    RawClient,
    smtpd_factory,
    smtpd_server,
    smtpd_spool,
    smtpd_tls_dir,
    submit_raw,
)

pytestmark = pytest.mark.django_db(transaction=True)

EMAILS = CORPUS / "emails"
FILES = sorted(p for p in EMAILS.rglob("*") if p.suffix in {".eml", ".txt"} and p.is_file())
REFUSALS = {550: "5.6.0", 500: "5.5.2", 552: "5.3.4"}
_LINE_START_DOT = re.compile(rb"(\A|\r\n)\.")
_ANY_EOL = re.compile(rb"\r\n|\r|\n")


def as_sent(data: bytes) -> bytes:
    """The message as a client submits it: ending in CRLF (dots are stuffed when sent)."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def test_corpus_is_there():
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(EMAILS)) for p in FILES])
def test_corpus_message(smtpd_server, path: Path):
    original = path.read_bytes()
    variants = [as_sent(original), as_sent(_ANY_EOL.sub(b"\r\n", original))]
    with RawClient(smtpd_server.address) as client:
        for number, expected in enumerate(variants):
            if number:
                assert client.cmd("RSET")[0] == 250
                client.send(b"EHLO client.example\r\n")
            else:
                assert client.reply()[0] == 220
                client.send(b"EHLO client.example\r\n")
            assert client.reply()[0] == 250
            assert client.cmd("MAIL FROM:<a@sender.example>")[0] == 250
            assert client.cmd("RCPT TO:<b@rcpt.example>")[0] == 250
            assert client.cmd("DATA")[0] == 354
            client.send(_LINE_START_DOT.sub(rb"\1..", expected) + b".\r\n")
            code, text = client.reply()
            if code == 250:
                queue_id = text.split()[-1]
                message = Message.objects.get(queue_id=queue_id)
                stored = spool_read(message.spool_name)
                assert stored.startswith(b"Received: from client.example ([127.0.0.10])\r\n")
                assert stored.endswith(expected)
                received = stored[: len(stored) - len(expected)]
                assert received.count(b"\r\n") == 3 and received.endswith(b"\r\n")
                assert len(message.subject) <= 998 and "\n" not in message.subject
            else:
                assert text.startswith(REFUSALS[code]), (code, text)
        assert client.cmd("NOOP") == (250, "2.0.0 OK")
    # The CRLF form is refused only for an over-long line, NUL or size, never for line ends.
    if b"\x00" not in original and not re.search(rb"[^\r\n]{999}", original):
        assert Message.objects.count() >= 1
