"""Every row of the editor is validated by the engine: errors land on the right field and line."""

import pytest

from policies.forms import ActionForm, ConditionForm, PolicyEditor
from policies.models import ContentPolicy
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db


def condition(**data):
    form = ConditionForm(data={"join": "and", "check": "both", **data})
    form.is_valid()
    return form


def action(**data):
    form = ActionForm(data=data)
    form.is_valid()
    return form


# --- Conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values", "params"),
    [
        (
            "sender_ip",
            "127.0.0.1\n\n10.0.0.0/8\n2001:db8::/32",
            {"values": ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]},
        ),
        ("recipient_address", "*@partner.example", {"values": ["*@partner.example"]}),
        ("tags_any", "Secure Collaboration: PURL", {"values": ["Secure Collaboration: PURL"]}),
        ("tags_none", "a\nb", {"values": ["a", "b"]}),
        ("subject", "*invoice*", {"values": ["*invoice*"]}),
        ("attachment", "*.exe", {"values": ["*.exe"]}),
        ("is_dsn", "ignored", {}),
    ],
)
def test_valid_conditions_become_engine_rows(kind, values, params):
    form = condition(kind=kind, values=values)
    assert form.errors == {}
    assert form.cleaned_data["spec"] == {
        "kind": kind,
        "params": params,
        "negate": False,
        "join": "and",
    }


def test_sender_address_keeps_its_check_and_negate_and_join():
    form = condition(
        kind="sender_address",
        values="secureMailer*@yourdomain.com",
        check="envelope",
        negate="on",
        join="or",
    )
    assert form.cleaned_data["spec"] == {
        "kind": "sender_address",
        "params": {"values": ["secureMailer*@yourdomain.com"], "check": "envelope"},
        "negate": True,
        "join": "or",
    }


def test_header_lines_are_names_with_optional_value_patterns():
    form = condition(kind="header", values="X-SecureMailNotification\nX-Priority: 1*")
    assert form.cleaned_data["spec"]["params"] == {
        "values": [
            {"name": "X-SecureMailNotification", "value": None},
            {"name": "X-Priority", "value": "1*"},
        ]
    }


def test_size_over_takes_bytes():
    form = condition(kind="size_over", size="1048576")
    assert form.cleaned_data["spec"]["params"] == {"bytes": 1048576}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"kind": "sender_ip", "values": "127.0.0.1\n\n10.0.0.300"},
            "values",
            "Line 3: '10.0.0.300' is not an IP address",
        ),
        (
            {"kind": "sender_ip", "values": "10.0.0.1/8"},
            "values",
            "host bits set; did you mean 10.0.0.0/8?",
        ),
        ({"kind": "sender_ip", "values": "  \n"}, "values", "Needs at least one value"),
        (
            {"kind": "sender_address", "values": "a b@example.com"},
            "values",
            "Line 1: 'a b@example.com' contains a space",
        ),
        (
            {"kind": "sender_address", "values": "ok@example.com\nuser@"},
            "values",
            "Line 2: 'user@' has nothing after '@'",
        ),
        ({"kind": "recipient_address", "values": ""}, "values", "Needs at least one value"),
        (
            {"kind": "header", "values": "X-Ok\nBad Header"},
            "values",
            "Line 2: 'Bad Header' is not a header name",
        ),
        ({"kind": "header", "values": "Ünicode"}, "values", "is not a header name"),
        ({"kind": "header", "values": ": value only"}, "values", "Line 1: '' is not a header name"),
        (
            {"kind": "subject", "values": "x" * 1000},
            "values",
            "Line 1: is longer than 998 characters",
        ),
        ({"kind": "tags_any", "values": ""}, "values", "Needs at least one value"),
        ({"kind": "attachment", "values": ""}, "values", "Needs at least one value"),
        ({"kind": "size_over", "size": ""}, "size", "Enter a whole number of bytes"),
        ({"kind": "size_over", "size": "-5"}, "size", "greater than or equal to 0"),
        (
            {"kind": "sender_address", "values": "a@b.c", "check": "sideways"},
            "check",
            "Select a valid choice",
        ),
        ({"kind": "nonsense"}, "kind", "Select a valid choice"),
        ({"kind": ""}, "kind", "This field is required"),
        ({"kind": "is_dsn", "join": "xor"}, "join", "Select a valid choice"),
    ],
)
def test_condition_errors_land_on_the_right_field(data, field, message):
    form = condition(**data)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    assert any(message in error for error in form.errors[field]), form.errors[field]


# --- Actions ---------------------------------------------------------------------------------


@pytest.fixture
def profile():
    return DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )


@pytest.fixture
def route():
    return DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1"])


def test_valid_actions_become_engine_rows(profile, route):
    assert action(kind="redirect_secure_mailbox", profile=profile.pk).cleaned_data["spec"] == {
        "kind": "redirect_secure_mailbox",
        "params": {"profile": "My delivery profile"},
    }
    assert action(kind="route", route=route.pk).cleaned_data["spec"]["params"] == {
        "route": "Loopback route"
    }
    assert action(
        kind="add_header", header_name="X-SecureMailNotification", header_value="YES"
    ).cleaned_data["spec"]["params"] == {"name": "X-SecureMailNotification", "value": "YES"}
    assert action(kind="add_tag", tag="checked").cleaned_data["spec"]["params"] == {
        "tag": "checked"
    }
    assert action(kind="hold", reason="review").cleaned_data["spec"]["params"] == {
        "reason": "review"
    }
    assert action(kind="reject", reason="no").cleaned_data["spec"]["params"] == {"reason": "no"}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "redirect_secure_mailbox"}, "profile", "Required for this action"),
        ({"kind": "redirect_secure_mailbox", "profile": "999"}, "profile", "Select a valid choice"),
        ({"kind": "route"}, "route", "Required for this action"),
        ({"kind": "add_header", "header_value": "YES"}, "header_name", "Required"),
        ({"kind": "add_header", "header_name": "X-A"}, "header_value", "Required"),
        (
            {"kind": "add_header", "header_name": "X A", "header_value": "1"},
            "header_name",
            "is not a header name",
        ),
        (
            {"kind": "add_header", "header_name": "X-A:", "header_value": "1"},
            "header_name",
            "is not a header name",
        ),
        (
            {"kind": "add_header", "header_name": "X-A", "header_value": "a\x07b"},
            "header_value",
            "control characters",
        ),
        ({"kind": "add_tag"}, "tag", "Required"),
        ({"kind": "hold"}, "reason", "Required"),
        ({"kind": "reject", "reason": "x" * 1000}, "reason", "longer than 998"),
        ({"kind": "explode"}, "kind", "Select a valid choice"),
    ],
)
def test_action_errors_land_on_the_right_field(data, field, message):
    form = action(**data)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    assert any(message in error for error in form.errors[field]), form.errors[field]


# --- The whole editor --------------------------------------------------------------------------


def editor_data(name="P", *, if_rows=(), except_rows=(), then_rows=(), initial=(0, 0, 0), **extra):
    data = {"name": name, "enabled": "on", **extra}
    for (prefix, rows), count in zip(
        (("if", if_rows), ("except", except_rows), ("then", then_rows)), initial, strict=True
    ):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = str(count)
        for index, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{index}-{key}"] = value
    return data


TAG = {"kind": "add_tag", "tag": "t"}


def test_an_editor_with_rows_validates_into_a_spec():
    editor = PolicyEditor(
        editor_data(
            if_rows=[{"kind": "sender_ip", "values": "127.0.0.1", "join": "and"}],
            except_rows=[
                {"kind": "header", "values": "X-SecureMailNotification", "join": "and"},
                {"kind": "is_dsn", "join": "or"},
            ],
            then_rows=[TAG],
            continue_processing="on",
        )
    )
    assert editor.is_valid(), (editor.errors, editor.if_rows.errors)
    assert editor.sentence() == (
        "TARGET message IF is sent from any of the IP addresses 127.0.0.1 EXCEPT IF message "
        "contains any of the headers: 'X-SecureMailNotification' or message is a delivery "
        "status notification THEN Add tag 't' and continue processing"
    )


def test_a_policy_needs_an_action():
    editor = PolicyEditor(editor_data(if_rows=[{"kind": "is_dsn", "join": "and"}]))
    assert not editor.is_valid()
    assert editor.errors == ["THEN: needs at least one action"]


def test_only_one_final_action():
    editor = PolicyEditor(
        editor_data(then_rows=[{"kind": "hold", "reason": "a"}, {"kind": "reject", "reason": "b"}])
    )
    assert not editor.is_valid()
    assert "can end processing" in editor.errors[0]


def test_removed_rows_and_untouched_new_rows_are_left_out():
    editor = PolicyEditor(
        editor_data(
            if_rows=[
                {"kind": "sender_ip", "values": "not-an-ip", "join": "and", "DELETE": "on"},
                {"kind": "", "values": "", "join": "and", "check": "both"},
                {"kind": "is_dsn", "join": "or"},
            ],
            then_rows=[TAG],
        )
    )
    assert editor.is_valid(), editor.if_rows.errors
    assert editor.rows()["if_conditions"] == [
        {"kind": "is_dsn", "params": {}, "negate": False, "join": "or"}
    ]


def test_an_error_on_one_row_is_reported_on_that_row():
    editor = PolicyEditor(
        editor_data(
            if_rows=[
                {"kind": "is_dsn", "join": "and"},
                {"kind": "sender_ip", "values": "1.2.3", "join": "or"},
            ],
            then_rows=[TAG],
        )
    )
    assert not editor.is_valid()
    assert editor.if_rows.errors[0] == {}
    assert "Line 1: '1.2.3' is not an IP address" in editor.if_rows.errors[1]["values"][0]


def test_names_are_unique_ignoring_case():
    ContentPolicy.objects.create(name="Mark notifications")
    editor = PolicyEditor(editor_data("mark NOTIFICATIONS", then_rows=[TAG]))
    assert not editor.is_valid()
    assert "already used" in editor.form.errors["name"][0]


@pytest.mark.parametrize("name", ["", "   ", "a\nb"])
def test_a_name_is_required_and_single_line(name):
    editor = PolicyEditor(editor_data(name, then_rows=[TAG]))
    assert not editor.is_valid()
    assert editor.form.errors.get("name") or editor.errors


def test_too_many_rows_are_refused():
    rows = [{"kind": "is_dsn", "join": "and"}] * 51
    editor = PolicyEditor(editor_data(if_rows=rows, then_rows=[TAG]))
    assert not editor.is_valid()
    assert editor.if_rows.non_form_errors()
