"""Outbound SMTP smuggling (corpus section 2, OUT-1/OUT-2): the wire stays one message.

Every SM-1..SM-9 end-of-data variant from corpus section 1 is put in a stored message and
delivered to a partner that records the raw bytes after TLS. Between ``DATA`` and the final
``CRLF . CRLF`` there must be only CRLF-terminated lines, with no early end of data.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from relay.datastream import Normaliser, wire_chunks
from relay.delivery import DeliveryJob, deliver
from relay.mx import DNSStatus
from relay.routing import Candidate, Candidates
from relay.tls import TLSPolicy
from tests.support.smtp_sinks import data_section

pytest_plugins = ["tests.support.smtp_sinks"]

EODS = {
    "SM-1": b"\n.\n",
    "SM-2": b"\n.\r\n",
    "SM-3": b"\r.\r",
    "SM-4": b"\r.\r\n",
    "SM-5": b"\r\n.\n",
    "SM-6": b"\r\n.\r",
    "SM-7": b"\r\n\x00.\r\n",
    "SM-8": b"\r\n.\x00\r\n",
    "SM-9": b"\r\r\n.\r\r\n",
}
SMUGGLED = b"MAIL FROM:<x@evil.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\nSMUGGLED\r\n"
LINES = re.compile(rb"(?:[^\r\n]*\r\n)*")
HELO = "mailgate.test"


def _deliver(sink: Any, raw: bytes, policy: TLSPolicy) -> Any:
    job = DeliveryJob("QS", "a@sender.test", ("b@partner.test",), lambda: io.BytesIO(raw))
    hosts = (Candidate("p", sink.address, sink.port, "route"),)
    return deliver(job, Candidates("p.test", hosts, DNSStatus.OK), policy, local_hostname=HELO)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "clear"])
@pytest.mark.parametrize("eod", list(EODS.values()), ids=list(EODS))
def test_smuggling_body_is_one_message_on_the_wire(
    eod: bytes, tls: bool, tls_partner: Any, plain_partner: Any
) -> None:
    sink = tls_partner if tls else plain_partner
    raw = b"Subject: t\r\n\r\nbody" + eod + SMUGGLED

    result = _deliver(sink, raw, TLSPolicy(require_tls=tls, connect_timeout=2))

    assert result.delivered
    (message,) = sink.wait_for(1)
    data, rest = data_section(bytes(sink.wire[0]))
    assert LINES.fullmatch(data), data
    assert b"\x00" not in data
    assert rest.upper() == b"QUIT\r\n"  # the first CRLF.CRLF was the real end of data
    assert sink.mail_commands == ["a@sender.test"]  # the smuggled MAIL never ran
    assert b"MAIL FROM:<x@evil.example>" in message.content
    assert message.content.startswith(b"Subject: t\r\n\r\nbody\r\n")
    assert message.content.endswith(b"SMUGGLED\r\n")


def test_dot_lines_are_stuffed_and_come_back_intact(plain_partner: Any) -> None:
    raw = b"Subject: d\r\n\r\n.leading dot\r\n.\r\n..two\r\nend"
    _deliver(plain_partner, raw, TLSPolicy(connect_timeout=2))

    data, _ = data_section(bytes(plain_partner.wire[0]))
    assert data == b"Subject: d\r\n\r\n..leading dot\r\n..\r\n...two\r\nend\r\n.\r\n"
    content = plain_partner.wait_for(1)[0].content
    assert content == b"Subject: d\r\n\r\n.leading dot\r\n.\r\n..two\r\nend\r\n"


def test_message_starting_with_a_dot_and_prepend() -> None:
    out = b"".join(wire_chunks(b"X-A: 1\n", io.BytesIO(b".first\r\n")))
    assert out == b"X-A: 1\r\n..first\r\n"
    assert b"".join(wire_chunks(b"", io.BytesIO(b".x"))) == b"..x\r\n"
    assert b"".join(wire_chunks(b"", io.BytesIO(b""))) == b""


@pytest.mark.parametrize("eod", list(EODS.values()), ids=list(EODS))
def test_normaliser_is_independent_of_chunk_boundaries(eod: bytes) -> None:
    raw = b".Subject: t\r\r\n\n\rbody" + eod + SMUGGLED + b".\r" + eod
    expected = _normalise_whole(raw)
    for size in range(1, 12):
        normaliser = Normaliser()
        pieces = [normaliser.feed(raw[i : i + size]) for i in range(0, len(raw), size)]
        assert b"".join(pieces) + normaliser.finish() == expected, size
    assert LINES.fullmatch(expected) and b"\r\n.\r\n" not in expected


def _normalise_whole(raw: bytes) -> bytes:
    """A slow reference: strip NUL, every line break → CRLF, stuff leading dots."""
    text = raw.replace(b"\x00", b"")
    lines = re.split(rb"\r\n|\r|\n", text)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
