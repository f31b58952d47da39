"""context_from_bytes: golden messages, the public corpus, and arbitrary bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_reference import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.engine import context_from_bytes

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "emails"
CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []


def parse(raw: bytes, **kw):
    args = {"client_ip": "127.0.0.10", "envelope_sender": "a@b.example", "recipients": ["c@d"]}
    return context_from_bytes(raw, **{**args, **kw})


def test_golden_encoded_message():
    ctx = parse((DATA / "engine_encoded.eml").read_bytes(), tags=["T"])
    assert ctx.header_from == ("joerg@partner.com", "second@example.org")
    assert ctx.subject == "Re: Vörschlag für das Projekt"  # adjacent encoded-words join
    assert ctx.headers["from"][0].startswith("Jörg Müller <joerg@partner.com>")
    assert ctx.headers["x-folded"] == ("first part\tsecond part",)
    assert ctx.headers["x-custom-flag"] == ("=?unknown-charset?q?abc?= stays",)
    assert any("x-custom-flag" in note for note in ctx.parse_notes)
    assert ctx.attachments == (
        ("Angebot über.pdf", "application/pdf"),
        ("", "image/png"),
        ("run.exe", "text/x-script"),
    )
    assert ctx.tags == frozenset({"T"}) and ctx.recipients == ("c@d",)
    assert ctx.size == len((DATA / "engine_encoded.eml").read_bytes())
    assert not ctx.is_dsn


def test_attachments_are_skipped_on_request():
    ctx = parse((DATA / "engine_encoded.eml").read_bytes(), scan_attachments=False, size=7)
    assert ctx.attachments == () and ctx.size == 7


def test_dsn_by_report_type_or_null_sender():
    raw = (DATA / "engine_dsn.eml").read_bytes()
    assert parse(raw).is_dsn
    assert parse(raw, envelope_sender="<>").is_dsn
    assert parse((DATA / "engine_outbound_lan.eml").read_bytes(), envelope_sender="").is_dsn
    other = raw.replace(b"report-type=delivery-status", b"report-type=disposition-notification")
    assert not parse(other).is_dsn


def test_eight_bit_headers():
    raw = b"Subject: Gr\xc3\xbc\xc3\x9fe\r\nX-Latin: caf\xe9\r\n\r\nbody"
    ctx = parse(raw)
    assert ctx.subject == "Grüße"  # RFC 6532 UTF-8 header
    assert "x-latin" not in ctx.headers  # not UTF-8: absent, with a note
    assert any("x-latin" in note for note in ctx.parse_notes)


def test_header_section_limit():
    raw = b"Subject: one\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\nX-Late: 1\r\n\r\nbody"
    ctx = parse(raw, max_header_bytes=1000)
    assert ctx.subject == "one" and "x-late" not in ctx.headers
    assert any("longer than 1000 bytes" in note for note in ctx.parse_notes)
    assert parse(raw).headers["x-late"] == ("1",)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\nbody only",
        b"no colon here\r\nSubject: x\r\n\r\n",
        b"From sender@example.com Tue Dec  2 09:00:00 2025\nSubject: mbox\n\nbody",
        b"Subject: \r\n\r\n",
        b"From: <>\r\nFrom: ,,,\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"Content-Type: multipart/report; report-type*=''\xff\r\n\r\n",
    ],
)
def test_odd_messages_do_not_raise(raw):
    ctx = parse(raw)
    assert ctx.size == len(raw)


@pytest.mark.skipif(not CORPUS_FILES, reason="public corpus not present")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_never_raises(path):
    raw = path.read_bytes()
    ctx = parse(raw, envelope_sender="")
    assert ctx.is_dsn and ctx.size == len(raw)
    assert all(isinstance(v, str) for values in ctx.headers.values() for v in values)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw):
    parse(raw)


HEADER_BITS = st.sampled_from(
    [
        b"Subject: ",
        b"From: ",
        b"=?utf-8?b?",
        b"=?x?q?",
        b"?=",
        b"\r\n",
        b"\n",
        b"\r\n\t",
        b":",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"--b\r\n",
        b"filename*=utf-8''%FF",
        b'Content-Disposition: attachment; filename="',
        b"\xff\xfe",
        b"\xc3\xa9",
        b"<>",
        b"@",
        b" ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HEADER_BITS | st.binary(max_size=8), max_size=60))
def test_header_like_noise_never_raises(pieces):
    ctx = parse(b"".join(pieces))
    assert isinstance(ctx.parse_notes, tuple)


ODD = 'ab @<>",;:()\\.-é'
MAILBOXES = st.one_of(
    st.text(alphabet=ODD, max_size=30),
    st.builds(
        "{} <{}@{}>{}".format,
        st.text(alphabet=ODD, max_size=12) | st.from_regex(r'"?[a-zé ,]{0,8}"?', fullmatch=True),
        st.from_regex(r"[a-z.é+-]{1,6}", fullmatch=True) | st.text(alphabet=ODD, max_size=6),
        st.from_regex(r"[a-z.-]{1,6}", fullmatch=True) | st.text(alphabet=ODD, max_size=6),
        st.sampled_from(["", " ", ",", " x"]),
    ),
)


@settings(max_examples=500, deadline=None)
@given(MAILBOXES)
def test_from_fast_path_agrees_with_getaddresses(text):
    from email.utils import getaddresses

    from policies.engine.parsing import _SIMPLE_MAILBOX, _addresses

    if _SIMPLE_MAILBOX.match(text):
        assert _addresses(text) == [addr for _, addr in getaddresses([text]) if addr]
