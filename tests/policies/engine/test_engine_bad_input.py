"""Bad input (issue 3): a message with a header the engine cannot read is still evaluated,
the header counts as absent, and the verdict's parse notes say so. No database."""

from __future__ import annotations

import pytest
from engine_reference import setup_specs
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.engine import PolicySpec, compile_ruleset, context_from_bytes, evaluate

MARK = b"X-SecureMailNotification: YES\r\n"
BODY = (
    b"From: Secure Mailbox <secureMailer@yourdomain.com>\r\n"
    b"To: bob@partner.com\r\nSubject: Your secure message\r\n\r\nHello\r\n"
)


def looped_back(raw: bytes):
    """A Secure Mailbox notification handed back to Mailgate (Setup A, DESIGN.md)."""
    ctx = context_from_bytes(
        raw,
        client_ip="127.0.0.1",
        envelope_sender="secureMailer@yourdomain.com",
        recipients=["bob@partner.com"],
        tags=["Secure Collaboration: PURL"],
    )
    return evaluate(compile_ruleset(setup_specs("A")), ctx)


def fired(verdict) -> list[int]:
    return [t.policy_id for t in verdict.trace if t.fired]


def test_a_readable_notification_goes_by_the_default_route_without_notes():
    verdict = looped_back(MARK + BODY)
    assert fired(verdict) == [2] and verdict.route == "Default"
    assert verdict.parse_notes == ()
    assert verdict.to_dict()["parse_notes"] == []


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        # 8-bit bytes that are not UTF-8 (RFC 6532 §3.2): the header is absent.
        (b"X-SecureMailNotification: caf\xe9\r\n" + BODY, "x-securemailnotification: 8-bit"),
        # A line without a colon ends the header section: what follows is body.
        (b"Received by hand\r\n" + MARK + BODY, "'Received by hand' is not a header"),
    ],
)
def test_an_unreadable_header_counts_as_absent_and_the_verdict_says_so(raw, note):
    verdict = looped_back(raw)
    # The mark is not seen, so policy 1's EXCEPT IF does not veto: it is redirected.
    assert verdict.final == "redirect" and fired(verdict) == [1]
    assert any(note in n for n in verdict.parse_notes), verdict.parse_notes
    assert verdict.to_dict()["parse_notes"] == list(verdict.parse_notes)


def test_headers_after_a_line_without_colon_are_absent_those_before_are_read():
    verdict = looped_back(MARK + b"no colon on this line\r\n" + BODY)
    assert fired(verdict) == [2]  # the mark came first, so it was read
    assert any("'no colon on this line' is not a header" in n for n in verdict.parse_notes)


SUBJECT_POLICY = PolicySpec.from_dict(
    {
        "id": 9,
        "name": "Tag secret subjects",
        "if": [{"kind": "subject", "params": {"values": ["*SECRET*"]}}],
        "then": [{"kind": "add_tag", "params": {"tag": "secret"}}],
    }
)


def subject_verdict(subject: bytes):
    ctx = context_from_bytes(
        b"Subject: " + subject + b"\r\nFrom: a@yourdomain.com\r\n\r\nbody\r\n",
        client_ip="127.0.0.10",
        envelope_sender="a@yourdomain.com",
        recipients=["b@partner.com"],
    )
    return evaluate(compile_ruleset([SUBJECT_POLICY]), ctx)


@pytest.mark.parametrize(
    ("subject", "tags", "note"),
    [
        # RFC 2047 §6.2: an encoded-word in an unknown charset is shown as it is.
        (b"=?x-unknown?q?SECRET?=", ("secret",), "could not be decoded; kept as is"),
        (b"=?utf-8?b?Y?=", (), "could not be decoded; kept as is"),
        # Decoded as leniently as a mail reader would, so the policy sees what it shows.
        (b"=?utf-8?b?U0VDUkVU!?=", ("secret",), "is not valid base64"),
        (b"=?utf-8?q?SECRET_caf=E9?=", ("secret",), "bytes that are not utf-8: replaced"),
    ],
)
def test_a_broken_encoded_word_is_evaluated_and_noted(subject, tags, note):
    verdict = subject_verdict(subject)
    assert verdict.tags == tags
    assert len(verdict.parse_notes) == 1
    assert verdict.parse_notes[0].startswith("header subject: an encoded-word ")
    assert note in verdict.parse_notes[0]


@pytest.mark.parametrize("raw", [b"", b"just some words\r\n", b"\r\n\r\nbody only", b"\x00\xff"])
def test_a_message_without_any_readable_header_is_evaluated(raw):
    verdict = looped_back(raw)
    # No header at all: nothing vetoes policy 1.
    assert verdict.final == "redirect" and len(verdict.trace) == 3
    assert "no header could be read: every header counts as absent" in verdict.parse_notes


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_evaluated_and_keep_their_notes(raw):
    ctx = context_from_bytes(raw, client_ip="127.0.0.1", envelope_sender="", recipients=["b@c"])
    verdict = evaluate(compile_ruleset(setup_specs("B")), ctx)
    assert verdict.parse_notes == ctx.parse_notes
    assert len(verdict.trace) == 4
