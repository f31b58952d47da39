"""The reference setup (DESIGN.md), Setup A and B, on golden messages."""

from __future__ import annotations

import pytest
from engine_reference import PURL_TAG, golden, setup_specs

from policies.engine import (
    AddHeader,
    PolicySpec,
    compile_ruleset,
    describe_policy,
    evaluate,
    reference_policies,
)


def run(mode: str, ctx):
    return evaluate(compile_ruleset(setup_specs(mode)), ctx)


def fired(verdict) -> list[int]:
    return [t.policy_id for t in verdict.trace if t.fired]


def lan_message(client_ip: str | None = "127.0.0.10"):
    return golden("engine_outbound_lan.eml", client_ip=client_ip, sender="alice@yourdomain.com")


def notification(*, marked: bool, client_ip: str | None, tags=(PURL_TAG,)):
    name = "engine_notification_marked.eml" if marked else "engine_notification.eml"
    return golden(name, client_ip=client_ip, sender="secureMailer@yourdomain.com", tags=tags)


def dsn(client_ip: str | None):
    return golden(
        "engine_dsn.eml", client_ip=client_ip, sender="", recipients=["alice@yourdomain.com"]
    )


@pytest.mark.parametrize("mode", ["A", "B"])
def test_engine_reference_policies_equal_the_documented_dicts(mode):
    assert reference_policies(mode) == setup_specs(mode)


def test_ordinary_lan_message__setup_a_changes_nothing():
    verdict = run("A", lan_message())
    assert verdict.actions == () and verdict.final is None and verdict.route is None
    assert [t.if_matched for t in verdict.trace] == [False, False, False]


def test_ordinary_lan_message__setup_b_routes_via_loopback():
    verdict = run("B", lan_message())
    assert fired(verdict) == [4]
    assert verdict.route == "Loopback route" and verdict.final is None
    assert verdict.trace[3].if_reason == "message contains none of the tags: '" + PURL_TAG + "'"


@pytest.mark.parametrize("mode", ["A", "B"])
def test_looped_back_message_is_redirected(mode):
    verdict = run(mode, lan_message(client_ip="127.0.0.1"))
    assert verdict.final == "redirect" and verdict.profile == "My delivery profile"
    assert fired(verdict) == [1]
    assert verdict.trace[0].stopped_here
    assert [t.reached for t in verdict.trace[1:]] == [False] * (len(verdict.trace) - 1)


@pytest.mark.parametrize("mode", ["A", "B"])
def test_notification_before_policy_3__gets_the_header_and_no_route(mode):
    verdict = run(mode, notification(marked=False, client_ip=None))
    assert fired(verdict) == [3]
    assert verdict.headers_added == (("X-SecureMailNotification", "YES"),)
    assert verdict.actions == (AddHeader("X-SecureMailNotification", "YES"),)
    assert verdict.route is None and verdict.final is None


@pytest.mark.parametrize("mode", ["A", "B"])
def test_notification_after_policy_3__is_left_alone(mode):
    verdict = run(mode, notification(marked=True, client_ip=None))
    assert verdict.actions == ()
    assert verdict.trace[2].except_vetoed_by == (
        "message contains any of the headers: 'X-SecureMailNotification'"
    )


def test_untagged_notification__policy_4_sees_the_header_policy_3_added():
    # Tags do not travel over SMTP: a notification that lost its tag relies on the header.
    verdict = run("B", notification(marked=False, client_ip=None, tags=()))
    assert fired(verdict) == [3]
    assert verdict.trace[3].if_matched and verdict.trace[3].except_vetoed_by is not None
    assert verdict.route is None


@pytest.mark.parametrize("mode", ["A", "B"])
def test_looped_notification__policy_2_routes_via_default_and_is_not_redirected(mode):
    verdict = run(mode, notification(marked=True, client_ip="127.0.0.1", tags=()))
    assert verdict.final is None and verdict.route == "Default"
    assert fired(verdict) == [2]
    assert verdict.trace[0].except_vetoed_by.startswith("message contains any of the headers")
    assert "is sent from any of the IP addresses 127.0.0.1" in verdict.trace[1].if_reason


@pytest.mark.parametrize("mode", ["A", "B"])
def test_looped_dsn_from_mailer_daemon_is_not_redirected(mode):
    verdict = run(mode, dsn("127.0.0.1"))
    assert verdict.final is None and verdict.route is None and verdict.actions == ()
    assert verdict.trace[0].except_vetoed_by == "message is a delivery status notification"
    if mode == "B":
        assert verdict.trace[3].except_vetoed_by.startswith("is sent from any of the addresses")


def test_dsn_injected_locally__setup_b_still_requires_tls_via_loopback():
    verdict = run("B", dsn(None))
    assert fired(verdict) == [4] and verdict.route == "Loopback route"


def test_article_pattern_taken_literally_needs_a_dot():
    # "secureMailer.*@..." is a wildcard: literal dot, then anything. Documented in reference.py.
    literal = reference_policies("A", sender_pattern="secureMailer.*@yourdomain.com")
    ruleset = compile_ruleset(literal)
    plain = evaluate(ruleset, notification(marked=False, client_ip=None))
    assert plain.headers_added == ()
    dotted = golden(
        "engine_notification.eml", client_ip=None, sender="secureMailer.eu@yourdomain.com"
    )
    assert evaluate(ruleset, dotted).headers_added == (("X-SecureMailNotification", "YES"),)


def test_describe_policy__vendor_sentences():
    one, two, three, four = reference_policies("B")
    assert describe_policy(one) == (
        "TARGET message IF is sent from any of the IP addresses 127.0.0.1 EXCEPT IF message "
        "contains any of the headers: 'X-SecureMailNotification' or message is a delivery "
        "status notification THEN Redirect to Secure Mailbox using 'My delivery profile'"
    )
    assert describe_policy(two) == (
        "TARGET message IF is sent from any of the addresses 'secureMailer*@yourdomain.com' "
        "(envelope sender or From header) and is sent from any of the IP addresses 127.0.0.1 "
        "and message contains any of the headers: 'X-SecureMailNotification' THEN Route using "
        "delivery route 'Default' and continue processing"
    )
    assert describe_policy(three).endswith(
        "THEN Add header 'X-SecureMailNotification: YES' and continue processing"
    )
    assert describe_policy(four).startswith(
        "TARGET message IF message contains none of the tags: 'Secure Collaboration: PURL' "
        "EXCEPT IF is sent from any of the addresses 'MAILER-DAEMON'"
    )


def test_describe_policy__negation_and_always():
    spec = PolicySpec.from_dict(
        {
            "id": 9,
            "name": "n",
            "if": [],
            "except_if": [
                {"kind": "sender_ip", "params": {"values": ["10.0.0.0/8"]}, "negate": True},
                {"kind": "header", "params": {"values": ["X-A"]}, "negate": True, "join": "or"},
            ],
            "then": [{"kind": "hold", "params": {"reason": "review"}}],
        }
    )
    assert describe_policy(spec) == (
        "TARGET message EXCEPT IF is not sent from any of the IP addresses 10.0.0.0/8 or "
        "message does not contain any of the headers: 'X-A' THEN Hold the message ('review')"
    )


def test_reference_policies__custom_names_and_bad_mode():
    specs = reference_policies(
        "B", local_domain="example.net", profile="P", loopback_route="LB", first_id=10
    )
    assert [s.id for s in specs] == [10, 11, 12, 13]
    assert specs[1].if_conditions[0].params["values"] == ("secureMailer*@example.net",)
    assert specs[0].actions[0].profile == "P" and specs[3].actions[0].route == "LB"
    with pytest.raises(ValueError):
        reference_policies("C")  # type: ignore[arg-type]
