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


FOLDERS = sorted({p.parent for p in FILES})


def submit_file(client: RawClient, path: Path) -> list[str]:
    """Both variants of one file in the open session; the problems found (none: fine)."""
    original = path.read_bytes()
    problems: list[str] = []
    codes: list[int] = []
    for expected in (as_sent(original), as_sent(_ANY_EOL.sub(b"\r\n", original))):
        assert client.cmd("RSET")[0] == 250
        assert client.cmd("MAIL FROM:<a@sender.example>")[0] == 250
        assert client.cmd("RCPT TO:<b@rcpt.example>")[0] == 250
        assert client.cmd("DATA")[0] == 354
        client.send(_LINE_START_DOT.sub(rb"\1..", expected) + b".\r\n")
        code, text = client.reply()
        codes.append(code)
        if code != 250:
            if not text.startswith(REFUSALS.get(code, "?")):
                problems.append(f"{path.name}: unclear refusal {code} {text}")
            continue
        message = Message.objects.get(queue_id=text.split()[-1])
        stored = spool_read(message.spool_name)
        received = stored[: len(stored) - len(expected)]
        if not stored.endswith(expected) or received.count(b"\r\n") != 3:
            problems.append(f"{path.name}: stored bytes differ from Received + original")
        if len(message.subject) > 998 or "\n" in message.subject:
            problems.append(f"{path.name}: subject not flat: {message.subject[:80]!r}")
    clean = b"\x00" not in original and not re.search(rb"[^\r\n]{999}", original)
    if clean and codes[1] != 250:
        # The CRLF form is refused only for NUL or an over-long line, never for line ends.
        problems.append(f"{path.name}: CRLF form refused with {codes[1]}")
    return problems


@pytest.mark.parametrize("folder", FOLDERS, ids=[str(f.relative_to(EMAILS)) for f in FOLDERS])
def test_corpus_folder(smtpd_server, folder: Path):
    """One session per folder (one database flush each keeps this fast)."""
    problems: list[str] = []
    with RawClient(smtpd_server.address) as client:
        assert client.reply()[0] == 220
        assert client.cmd("EHLO client.example")[0] == 250
        for path in (p for p in FILES if p.parent == folder):
            problems += submit_file(client, path)
            assert client.cmd("NOOP") == (250, "2.0.0 OK"), path.name  # the session survives
    assert problems == []
