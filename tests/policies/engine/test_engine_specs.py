"""PolicySpec dict format, validation errors and the exported validators."""

from __future__ import annotations

import ipaddress
import json

import pytest
from engine_reference import POLICY_1, POLICY_4, setup_specs

from policies.engine import (
    ConditionSpec,
    PolicySpec,
    PolicySyntaxError,
    action_from_dict,
    compile_ruleset,
    validate_address_patterns,
    validate_header_name,
    validate_ip_list,
    validate_patterns,
    validate_tags,
)


def test_spec_round_trips_through_json():
    for spec in setup_specs("B"):
        assert PolicySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_to_dict_fills_in_defaults():
    data = PolicySpec.from_dict(POLICY_1).to_dict()
    assert data["enabled"] is True and data["continue_processing"] is False
    assert data["except_if"][1] == {"kind": "is_dsn", "params": {}, "negate": False, "join": "or"}
    assert data["except_if"][0]["params"] == {
        "values": [{"name": "X-SecureMailNotification", "value": None}]
    }


def test_compile_ruleset_accepts_dicts():
    ruleset = compile_ruleset([POLICY_1, POLICY_4])
    assert [p.spec.id for p in ruleset.policies] == [1, 4]
    assert "sender_ip" in ruleset.kinds and "attachment" not in ruleset.kinds


def bad(policy_patch: dict) -> dict:
    return {**POLICY_1, **policy_patch}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"id": "1"}, "id"),
        ({"id": True}, "id"),
        ({"name": ""}, "name"),
        ({"enabled": "yes"}, "enabled"),
        ({"then": []}, "then"),
        ({"colour": "red"}, "colour"),
        ({"if": "sender_ip"}, "if"),
        (
            {"if": [{"kind": "sender_ip", "params": {"values": ["300.1.1.1"]}}]},
            "if[0].params.values[0]",
        ),
        (
            {"if": [{"kind": "sender_ip", "params": {"values": ["10.0.0.1/8"]}}]},
            "if[0].params.values[0]",
        ),
        ({"if": [{"kind": "sender_ip", "params": {"values": []}}]}, "if[0].params.values"),
        ({"if": [{"kind": "sender_ip", "params": {"values": "127.0.0.1"}}]}, "if[0].params.values"),
        ({"if": [{"kind": "sender_ip", "params": {"vals": ["1.2.3.4"]}}]}, "if[0].params.vals"),
        ({"if": [{"kind": "smell", "params": {}}]}, "if[0].kind"),
        ({"if": [{"kind": "is_dsn", "join": "xor"}]}, "if[0].join"),
        ({"if": [{"kind": "is_dsn", "negate": 1}]}, "if[0].negate"),
        ({"if": [{"kind": "is_dsn", "extra": 1}]}, "if[0].extra"),
        ({"if": ["is_dsn"]}, "if[0]"),
        (
            {"except_if": [{"kind": "header", "params": {"values": [{"name": "X Bad"}]}}]},
            "except_if[0].params.values[0].name",
        ),
        (
            {"except_if": [{"kind": "header", "params": {"values": [{"name": "X:"}]}}]},
            "except_if[0].params.values[0].name",
        ),
        (
            {"except_if": [{"kind": "header", "params": {"values": [{"name": "X", "v": 1}]}}]},
            "except_if[0].params.values[0]",
        ),
        (
            {"if": [{"kind": "sender_address", "params": {"values": ["a@"]}}]},
            "if[0].params.values[0]",
        ),
        (
            {"if": [{"kind": "sender_address", "params": {"values": ["a b@c"]}}]},
            "if[0].params.values[0]",
        ),
        (
            {"if": [{"kind": "sender_address", "params": {"values": ["x"], "check": "x"}}]},
            "if[0].params.check",
        ),
        ({"if": [{"kind": "subject", "params": {"values": ["a\nb"]}}]}, "if[0].params.values[0]"),
        ({"if": [{"kind": "size_over", "params": {"bytes": -1}}]}, "if[0].params.bytes"),
        ({"if": [{"kind": "size_over", "params": {"bytes": "10"}}]}, "if[0].params.bytes"),
        ({"if": [{"kind": "tags_any", "params": {"values": [" "]}}]}, "if[0].params.values[0]"),
        ({"then": [{"kind": "explode", "params": {}}]}, "then[0].kind"),
        ({"then": [{"kind": "route", "params": {}}]}, "then[0].params.route"),
        ({"then": [{"kind": "route", "params": {"route": "R", "x": 1}}]}, "then[0].params.x"),
        ({"then": [{"kind": "route", "params": {"route": 5}}]}, "then[0].params.route"),
        (
            {"then": [{"kind": "add_header", "params": {"name": "X-A", "value": "a\r\nBcc: x"}}]},
            "then[0].params.value",
        ),
        (
            {"then": [{"kind": "add_header", "params": {"name": "X A", "value": "1"}}]},
            "then[0].params.name",
        ),
        (
            {
                "then": [
                    {"kind": "hold", "params": {"reason": "r"}},
                    {"kind": "reject", "params": {"reason": "r"}},
                ]
            },
            "then",
        ),
    ],
)
def test_from_dict__malformed_input_names_the_field(patch, field):
    with pytest.raises(PolicySyntaxError) as caught:
        PolicySpec.from_dict(bad(patch))
    assert caught.value.field == field, caught.value


def test_compile_ruleset__repeated_id_and_position_prefix():
    with pytest.raises(PolicySyntaxError) as caught:
        compile_ruleset([POLICY_1, POLICY_1])
    assert caught.value.field == "[1].id"
    with pytest.raises(PolicySyntaxError) as caught:
        compile_ruleset([POLICY_1, bad({"if": [{"kind": "nope"}]})])
    assert caught.value.field == "[1].if[0].kind"
    with pytest.raises(PolicySyntaxError):
        compile_ruleset(["not a policy"])  # type: ignore[list-item]


def test_condition_spec_validates_on_construction():
    with pytest.raises(PolicySyntaxError):
        ConditionSpec("sender_ip", {"values": ["nonsense"]})
    spec = ConditionSpec("sender_ip", {"values": [" 127.0.0.1 ", "10.0.0.0/8", "::1/128"]})
    assert spec.params["values"] == ("127.0.0.1", "10.0.0.0/8", "::1")


def test_action_from_dict__round_trip_and_errors():
    action = action_from_dict({"kind": "add_tag", "params": {"tag": "T"}})
    assert action_from_dict(action.to_dict()) == action
    with pytest.raises(PolicySyntaxError):
        action_from_dict(["add_tag"])
    with pytest.raises(PolicySyntaxError):
        action_from_dict({"kind": "add_tag", "params": "T"})


def test_validators_for_forms():
    assert validate_ip_list(["192.0.2.1", "2001:db8::/32"]) == (
        ipaddress.ip_network("192.0.2.1/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    with pytest.raises(PolicySyntaxError, match=r"did you mean 10\.0\.0\.0/8"):
        validate_ip_list(["10.1.2.3/8"])
    assert validate_patterns([" *.exe "]) == ("*.exe",)
    assert validate_address_patterns(["@partner.com", "MAILER-DAEMON"]) == (
        "@partner.com",
        "MAILER-DAEMON",
    )
    assert validate_header_name("X-SecureMailNotification") == "X-SecureMailNotification"
    for name in ("", "X Y", "X:Y", "Ü", "X\n", None, "X" * 77):
        with pytest.raises(PolicySyntaxError):
            validate_header_name(name)
    assert validate_tags(["Secure Collaboration: PURL"]) == ("Secure Collaboration: PURL",)
    with pytest.raises(PolicySyntaxError) as caught:
        validate_patterns(["ok", 3], field="subject")
    assert caught.value.field == "subject[1]"
