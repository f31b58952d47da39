"""render.py: every corpus message renders as far as it can, with notes; never raises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from securemailbox.render import attachment_read, header_decode, message_render

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "emails"
MESSAGES = sorted(
    p for p in CORPUS.rglob("*")
    if p.is_file() and p.suffix in (".eml", ".txt") and "html" not in p.parts
)  # fmt: skip


def test_the_corpus_is_there():
    assert len(MESSAGES) > 100


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_message_renders(path: Path):
    raw = path.read_bytes()
    started = time.perf_counter()
    shown = message_render(raw)
    elapsed = time.perf_counter() - started
    assert set(shown.headers) == {"From", "To", "Cc", "Date", "Subject"}
    assert all(isinstance(v, str) and "\n" not in v for v in shown.headers.values())
    assert shown.text or shown.html is not None or shown.attachments or shown.notes or not raw
    for attachment in shown.attachments:
        assert "/" not in attachment.filename and attachment.filename
        assert attachment_read(raw, attachment.index) is not None
    assert elapsed < 5, "a pathological message must not take long (printed, not timed)"


def test_unknown_charset__shown_with_a_note():
    raw = (CORPUS / "mikel-mail/plain_emails/raw_email10.eml").read_bytes()
    shown = message_render(raw)
    assert any("Unknown character set" in note for note in shown.notes)
    assert shown.text


def test_group_syntax_to_header_does_not_crash():
    raw = (CORPUS / "mimekit/messages/delivery-status.txt").read_bytes()
    assert message_render(raw).headers["From"]


def test_huge_header_is_cut_short():
    raw = (CORPUS / "mimekit/messages/stack-overflow.txt").read_bytes()
    shown = message_render(raw)
    assert shown.headers["To"].endswith("…") and len(shown.headers["To"]) < 5000


def test_header_decode__encoded_words_8bit_and_controls():
    assert header_decode("=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?iso-8859-1?q?=E9t=E9?=") == "Grüßeété"
    assert header_decode("caf\udcc3\udca9") == "café"
    assert (
        header_decode("=?utf-8?q?a=0D=0AX-Evil:_1?=") == "a X-Evil: 1"
    )  # one line: CR/LF never survive
    assert header_decode("=?x-unknown?q?abc?=") == "abc"


def test_multipart_alternative__text_and_sanitised_html():
    raw = (
        b"From: a@b\r\nSubject: s\r\nContent-Type: multipart/alternative; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b"--X\r\nContent-Type: text/html\r\n\r\n"
        b"<p onclick=x>rich</p><script>y</script>\r\n--X--\r\n"
    )
    shown = message_render(raw)
    assert shown.text.strip() == "plain"
    assert shown.html.strip() == "<p>rich</p>"


def test_attachment_read__only_attachments_by_index():
    raw = (
        b"From: a@b\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--X\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--X--\r\n'
    )
    assert attachment_read(raw, 0) is None
    assert attachment_read(raw, 1) == ("r.pdf", b"%PDF")
    assert attachment_read(raw, 2) is None
