"""Each condition kind, negation, and the evaluation mechanics of the contract."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from policies.engine import (
    AddHeader,
    AddTag,
    ConditionSpec,
    Hold,
    MessageContext,
    PolicySpec,
    RedirectSecureMailbox,
    Reject,
    Route,
    compile_ruleset,
    evaluate,
)

CTX = MessageContext(
    client_ip="192.0.2.10",
    envelope_sender="<Alice.Smith@YourDomain.com>",
    header_from=("alice.smith@yourdomain.com",),
    recipients=("bob@partner.com", "carol@sub.partner.com", "postmaster"),
    headers=MappingProxyType(
        {"x-spam-flag": ("NO",), "x-priority": ("1 (Highest)",), "subject": ("Invoice 42",)}
    ),
    tags=frozenset({"Outbound", "Signed"}),
    size=20_000,
    subject="Invoice 42 for März",
    attachments=(("invoice.PDF", "application/pdf"), ("", "image/png")),
)


def holds(kind: str, params: dict | None = None, ctx: MessageContext = CTX, **kw) -> bool:
    """Does a single-condition policy fire on ctx?"""
    spec = PolicySpec(1, "t", (ConditionSpec(kind, params or {}, **kw),), (), (AddTag("hit"),))
    return evaluate(compile_ruleset([spec]), ctx).tags == ("hit",)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["192.0.2.10"], True),
        (["192.0.2.0/24"], True),
        (["192.0.3.0/24", "198.51.100.7"], False),
        (["::/0"], False),
        (["0.0.0.0/0"], True),
    ],
)
def test_sender_ip(values, expected):
    assert holds("sender_ip", {"values": values}) is expected
    assert holds("sender_ip", {"values": values}, negate=True) is not expected


def test_sender_ip__ipv6_mapped_and_missing():
    mapped = MessageContext(client_ip="::ffff:127.0.0.1")
    assert holds("sender_ip", {"values": ["127.0.0.1"]}, mapped)
    v6 = MessageContext(client_ip="2001:db8::5")
    assert holds("sender_ip", {"values": ["2001:db8::/64"]}, v6)
    assert not holds("sender_ip", {"values": ["127.0.0.1"]}, v6)
    for nothing in (None, "", "unknown"):
        ctx = MessageContext(client_ip=nothing)
        assert not holds("sender_ip", {"values": ["0.0.0.0/0", "::/0"]}, ctx)
        assert holds("sender_ip", {"values": ["0.0.0.0/0"]}, ctx, negate=True)


@pytest.mark.parametrize(
    ("pattern", "check", "expected"),
    [
        ("alice.smith@yourdomain.com", "envelope", True),
        ("ALICE*@yourdomain.com", "envelope", True),
        ("alice.smit?@yourdomain.com", "header", True),
        ("alice.smit?@yourdomain.com", "both", True),
        ("alice@yourdomain.com", "both", False),
        ("@yourdomain.com", "envelope", True),
        ("yourdomain.com", "envelope", True),  # bare with a dot: the domain
        ("*.com", "envelope", True),
        ("alice.smith", "envelope", False),  # bare with a dot is a domain, not a local part
        ("alice.smith@*", "envelope", True),
        ("alice*", "envelope", True),  # bare without a dot: the local part
        ("*@partner.com", "both", False),
        ("alice.smith@yourdomain.co", "both", False),  # anchored
        ("[a]lice.smith@yourdomain.com", "both", False),  # brackets are literal
    ],
)
def test_sender_address(pattern, check, expected):
    assert holds("sender_address", {"values": [pattern], "check": check}) is expected


def test_sender_address__check_selects_envelope_or_header():
    ctx = MessageContext(envelope_sender="bounce@lists.example", header_from=("ann@example.org",))
    assert holds("sender_address", {"values": ["ann@*"], "check": "header"}, ctx)
    assert not holds("sender_address", {"values": ["ann@*"], "check": "envelope"}, ctx)
    assert holds("sender_address", {"values": ["*@lists.example"], "check": "envelope"}, ctx)
    assert not holds("sender_address", {"values": ["*@lists.example"], "check": "header"}, ctx)


def test_sender_address__mailer_daemon_and_the_null_sender():
    null = MessageContext(envelope_sender="<>", header_from=())
    assert not holds("sender_address", {"values": ["MAILER-DAEMON"]}, null)
    assert not holds("sender_address", {"values": ["*"]}, null)
    assert holds("sender_address", {"values": ["*"]}, null, negate=True)
    bounce = MessageContext(envelope_sender="", header_from=("MAILER-DAEMON@mx.yourdomain.com",))
    assert holds("sender_address", {"values": ["MAILER-DAEMON"]}, bounce)
    assert not holds("sender_address", {"values": ["MAILER-DAEMON"], "check": "envelope"}, bounce)
    bare = MessageContext(envelope_sender="mailer-daemon")
    assert holds("sender_address", {"values": ["MAILER-DAEMON"], "check": "envelope"}, bare)


def test_reference_pattern_with_literal_dot():
    values = {"values": ["secureMailer.*@yourdomain.com"]}
    plain = MessageContext(envelope_sender="secureMailer@yourdomain.com")
    dotted = MessageContext(envelope_sender="securemailer.eu@yourdomain.com")
    assert not holds("sender_address", values, plain)
    assert holds("sender_address", values, dotted)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("bob@partner.com", True),
        ("@partner.com", True),
        ("partner.com", True),
        ("*.partner.com", True),
        ("@*partner.com", True),
        ("postmaster", True),  # a local-only recipient matches a local-part pattern
        ("carol", True),
        ("dave@partner.com", False),
        ("other.com", False),
    ],
)
def test_recipient_address(pattern, expected):
    assert holds("recipient_address", {"values": [pattern]}) is expected


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([{"name": "X-Spam-Flag"}], True),
        (["x-spam-flag"], True),
        ([{"name": "X-Spam-Flag", "value": "no"}], True),
        ([{"name": "X-Spam-Flag", "value": "YES"}], False),
        ([{"name": "X-Priority", "value": "1*"}], True),
        ([{"name": "X-Missing"}, {"name": "X-Priority", "value": "?"}], False),
        ([{"name": "X-Missing"}, {"name": "X-Priority"}], True),
        ([{"name": "X-Priority", "value": "5"}, {"name": "x-priority"}], True),
    ],
)
def test_header(entries, expected):
    assert holds("header", {"values": entries}) is expected
    assert holds("header", {"values": entries}, negate=True) is not expected


def test_is_dsn():
    assert not holds("is_dsn")
    assert holds("is_dsn", ctx=MessageContext(is_dsn=True))
    assert holds("is_dsn", negate=True)


def test_tags_any_and_none_are_case_insensitive():
    assert holds("tags_any", {"values": ["signed"]})
    assert not holds("tags_any", {"values": ["Encrypted"]})
    assert holds("tags_none", {"values": ["Encrypted", "Other"]})
    assert not holds("tags_none", {"values": ["Encrypted", "OUTBOUND"]})
    assert holds("tags_none", {"values": ["OUTBOUND"]}, negate=True)


def test_subject_size_attachment():
    assert holds("subject", {"values": ["invoice*"]})
    assert holds("subject", {"values": ["*märz"]})
    assert not holds("subject", {"values": ["Invoice"]})
    assert not holds("subject", {"values": ["*"]}, MessageContext(subject=None))
    assert holds("size_over", {"bytes": 19_999}) and not holds("size_over", {"bytes": 20_000})
    assert holds("attachment", {"values": ["*.pdf"]})
    assert holds("attachment", {"values": ["image/*"]})
    assert not holds("attachment", {"values": ["*.exe", "application/zip"]})
    assert holds("attachment", {"values": ["*"]}, negate=True, ctx=MessageContext())


TAG_T = (AddTag("t"),)


def policy(pid: int, *, if_=(), except_=(), actions=TAG_T, **kw) -> PolicySpec:
    return PolicySpec(pid, f"p{pid}", tuple(if_), tuple(except_), tuple(actions), **kw)


ALWAYS_FALSE = ConditionSpec("tags_any", {"values": ["never-there"]})
ALWAYS_TRUE = ConditionSpec("tags_any", {"values": ["outbound"]})


def test_empty_if_is_always_and_empty_except_never_vetoes():
    verdict = evaluate(compile_ruleset([policy(1, actions=(Route("R"),))]), CTX)
    assert verdict.route == "R" and verdict.trace[0].if_reason == "always"
    assert verdict.trace[0].except_vetoed_by is None and verdict.trace[0].stopped_here


def test_disabled_policy_is_skipped():
    ruleset = compile_ruleset([policy(1, enabled=False), policy(2, actions=(Route("R"),))])
    verdict = evaluate(ruleset, CTX)
    assert verdict.trace[0].skipped_disabled and not verdict.trace[0].fired
    assert verdict.route == "R" and verdict.tags == ()
    assert ruleset.kinds == frozenset()


def test_continue_processing_and_last_route_wins():
    ruleset = compile_ruleset(
        [
            policy(1, actions=(Route("A"), AddHeader("X-A", "1")), continue_processing=True),
            policy(2, if_=[ALWAYS_FALSE], actions=(Route("B"),)),
            policy(3, actions=(Route("C"), AddTag("done")), continue_processing=True),
            policy(4, actions=(AddTag("Done"), AddTag("more"))),
            policy(5, actions=(Route("E"),)),
        ]
    )
    verdict = evaluate(ruleset, CTX)
    assert verdict.route == "C"
    assert verdict.tags == ("done", "more")
    assert [t.fired for t in verdict.trace] == [True, False, True, True, False]
    assert [t.reached for t in verdict.trace] == [True] * 4 + [False]
    assert verdict.headers_added == (("X-A", "1"),)
    assert verdict.to_dict()["headers_added"] == [["X-A", "1"]]


@pytest.mark.parametrize(
    ("action", "final", "attribute", "value"),
    [
        (RedirectSecureMailbox("P"), "redirect", "profile", "P"),
        (Hold("looks odd"), "hold", "reason", "looks odd"),
        (Reject("not allowed"), "reject", "reason", "not allowed"),
    ],
)
def test_final_actions_stop_even_with_continue(action, final, attribute, value):
    ruleset = compile_ruleset(
        [
            policy(
                1, actions=(AddTag("before"), action, AddTag("after")), continue_processing=True
            ),
            policy(2, actions=(Route("never"),)),
        ]
    )
    verdict = evaluate(ruleset, CTX)
    assert verdict.final == final and getattr(verdict, attribute) == value
    assert verdict.tags == ("before", "after") and verdict.route is None
    assert verdict.trace[0].stopped_here and not verdict.trace[1].reached
    assert verdict.to_dict()["actions"][1] == action.to_dict()


def test_later_policies_see_added_tags_and_headers():
    ruleset = compile_ruleset(
        [
            policy(
                1,
                actions=(AddTag("Stage One"), AddHeader("X-Stage", "one")),
                continue_processing=True,
            ),
            policy(
                2,
                if_=[ConditionSpec("tags_any", {"values": ["stage one"]})],
                actions=(Route("tagged"),),
                continue_processing=True,
            ),
            policy(
                3,
                if_=[ConditionSpec("header", {"values": [{"name": "x-stage", "value": "ONE"}]})],
                actions=(Hold("seen"),),
            ),
        ]
    )
    verdict = evaluate(ruleset, CTX)
    assert verdict.route == "tagged" and verdict.final == "hold"


def test_if_reason_names_the_matching_and_group():
    spec = policy(
        1,
        if_=[
            ALWAYS_FALSE,
            ConditionSpec("size_over", {"bytes": 10}, join="or"),
            ConditionSpec("is_dsn", negate=True),
        ],
        except_=[ALWAYS_FALSE, ConditionSpec("subject", {"values": ["x"]}, join="or")],
    )
    entry = evaluate(compile_ruleset([spec]), CTX).trace[0]
    assert entry.if_reason == (
        "message size is over 10 bytes and message is not a delivery status notification"
    )
    assert entry.fired and entry.except_vetoed_by is None
    vetoed = policy(
        2,
        if_=[ALWAYS_TRUE],
        except_=[ALWAYS_FALSE, ConditionSpec("is_dsn", negate=True, join="or")],
    )
    entry = evaluate(compile_ruleset([vetoed]), CTX).trace[0]
    assert entry.if_matched and not entry.fired
    assert entry.except_vetoed_by == "message is not a delivery status notification"


def test_verdict_to_dict_is_json():
    import json

    verdict = evaluate(compile_ruleset([policy(1, actions=(Route("R"), AddTag("x")))]), CTX)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["route"] == "R" and data["tags"] == ["x"] and data["final"] is None
    assert data["actions"] == [
        {"kind": "route", "params": {"route": "R"}},
        {"kind": "add_tag", "params": {"tag": "x"}},
    ]
    assert data["trace"][0]["policy_id"] == 1 and data["trace"][0]["fired"] is True
