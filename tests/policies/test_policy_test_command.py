"""``manage.py policy_test`` on the reference setup's policies, built through the models."""

import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from policies import loader
from policies.models import ContentPolicy, PolicyAction, PolicyCondition
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db

HEADER = "X-SecureMailNotification"
NOTIFIER = "secureMailer*@yourdomain.com"
PURL = "Secure Collaboration: PURL"


def _policy(name, position, *, if_=(), except_=(), then=(), continue_processing=False):
    policy = ContentPolicy.objects.create(
        name=name, position=position, continue_processing=continue_processing
    )
    for section, rows in (("if", if_), ("except", except_)):
        for index, (kind, params, join) in enumerate(rows):
            PolicyCondition.objects.create(
                policy=policy, section=section, position=index, kind=kind, params=params, join=join
            )
    for index, (kind, params, refs) in enumerate(then):
        PolicyAction.objects.create(policy=policy, position=index, kind=kind, params=params, **refs)
    return policy


FROM_IP = ("sender_ip", {"values": ["127.0.0.1"]}, "and")
HAS_HEADER = ("header", {"values": [{"name": HEADER, "value": None}]}, "and")
FROM_NOTIFIER = ("sender_address", {"values": [NOTIFIER], "check": "both"}, "and")


@pytest.fixture
def setup_a():
    """DESIGN.md "The reference setup", Setup A, policies 1 to 3."""
    loader.clear_cache()
    profile = DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    default, _ = DeliveryRoute.objects.get_or_create(name="Default")
    return [
        _policy(
            "Policy 1",
            1,
            if_=[FROM_IP],
            except_=[HAS_HEADER, ("is_dsn", {}, "or")],
            then=[("redirect_secure_mailbox", {}, {"profile": profile})],
        ),
        _policy(
            "Policy 2",
            2,
            if_=[FROM_NOTIFIER, FROM_IP, HAS_HEADER],
            then=[("route", {}, {"route": default})],
            continue_processing=True,
        ),
        _policy(
            "Policy 3",
            3,
            if_=[FROM_NOTIFIER],
            except_=[HAS_HEADER],
            then=[("add_header", {"name": HEADER, "value": "YES"}, {})],
            continue_processing=True,
        ),
    ]


@pytest.fixture
def setup_b(setup_a):
    """Setup B: the Default sending policy requires TLS, plus policy 4."""
    loopback = DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1"])
    _policy(
        "Policy 4",
        4,
        if_=[("tags_none", {"values": [PURL]}, "and")],
        except_=[
            ("sender_address", {"values": ["MAILER-DAEMON"], "check": "both"}, "and"),
            FROM_IP,
            ("is_dsn", {}, "and"),
            ("header", {"values": [{"name": HEADER, "value": None}]}, "or"),
        ],
        then=[("route", {}, {"route": loopback})],
        continue_processing=True,
    )
    return setup_a


# argparse keeps the last --client-ip given, so a test may override this one.
ENVELOPE = ["--client-ip", "127.0.0.1", "--sender", "alice@yourdomain.com", "--rcpt", "b@x.example"]


def message(sender="alice@yourdomain.com", extra=""):
    return (
        f"From: {sender}\r\nTo: bob@partner.example\r\nSubject: Quarterly figures\r\n{extra}"
        "\r\nHello Bob\r\n"
    ).encode()


def run(tmp_path, raw, *args):
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    out = io.StringIO()
    call_command("policy_test", str(path), *args, stdout=out)
    return out.getvalue()


def run_json(tmp_path, raw, *args):
    return json.loads(run(tmp_path, raw, *args, "--json"))


# --- Text output -----------------------------------------------------------------------------


def test_a_looped_back_message_is_redirected(tmp_path, setup_a):
    text = run(
        tmp_path,
        message(),
        "--client-ip",
        "127.0.0.1",
        "--sender",
        "alice@yourdomain.com",
        "--rcpt",
        "bob@partner.example",
    )
    assert text.splitlines() == [
        "Policies:",
        f"  1. Policy 1 (id {setup_a[0].pk})",
        "       IF: matched (is sent from any of the IP addresses 127.0.0.1)",
        "       EXCEPT IF: no exception held",
        "       fired, processing stopped",
        f"  2. Policy 2 (id {setup_a[1].pk})",
        "       not reached (an earlier policy stopped processing)",
        f"  3. Policy 3 (id {setup_a[2].pk})",
        "       not reached (an earlier policy stopped processing)",
        "",
        "Verdict: redirect to Secure Mailbox using 'My delivery profile'",
        "  Actions: Redirect to Secure Mailbox using 'My delivery profile'",
        "  Headers added: none",
        "  Tags added: none",
    ]


def test_a_looped_back_bounce_is_not_redirected(tmp_path, setup_a):
    text = run(
        tmp_path,
        message("MAILER-DAEMON@mailgate.example"),
        "--client-ip",
        "127.0.0.1",
        "--sender",
        "<>",
        "--rcpt",
        "alice@yourdomain.com",
    )
    assert "EXCEPT IF: vetoed by (message is a delivery status notification)" in text
    assert "Verdict: deliver by each recipient domain's own route" in text


def test_a_new_notification_gets_the_header(tmp_path, setup_a):
    text = run(
        tmp_path,
        message("secureMailer@yourdomain.com"),
        "--client-ip",
        "",
        "--sender",
        "secureMailer@yourdomain.com",
        "--rcpt",
        "bob@partner.example",
        "--tag",
        PURL,
    )
    assert "  3. Policy 3" in text
    assert "fired, processing continues" in text
    assert f"Headers added: {HEADER}: YES" in text


# --- JSON output -------------------------------------------------------------------------------


def test_a_looped_back_notification_goes_by_the_default_route(tmp_path, setup_a):
    verdict = run_json(
        tmp_path,
        message("secureMailer@yourdomain.com", f"{HEADER}: YES\r\n"),
        "--client-ip",
        "127.0.0.1",
        "--sender",
        "secureMailer@yourdomain.com",
        "--rcpt",
        "bob@partner.example",
        "--tag",
        PURL,
    )
    assert verdict["actions"] == [{"kind": "route", "params": {"route": "Default"}}]
    assert verdict["route"] == "Default"
    assert verdict["final"] is None
    assert verdict["headers_added"] == []
    assert verdict["tags"] == []
    one, two, three = verdict["trace"]
    assert (
        one["if_matched"]
        and one["except_vetoed_by"] == f"message contains any of the headers: '{HEADER}'"
    )
    assert not one["fired"]
    assert two["fired"] and not two["stopped_here"]
    assert three["if_matched"] and three["except_vetoed_by"] and not three["fired"]
    assert {t["policy_id"] for t in verdict["trace"]} == {p.pk for p in setup_a}


def test_setup_b_sends_ordinary_mail_by_the_loopback_route(tmp_path, setup_b):
    verdict = run_json(
        tmp_path,
        message(),
        "--client-ip",
        "10.1.2.3",
        "--sender",
        "alice@yourdomain.com",
        "--rcpt",
        "bob@partner.example",
        "--rcpt",
        "carol@partner.example",
    )
    assert verdict["route"] == "Loopback route"
    assert [t["fired"] for t in verdict["trace"]] == [False, False, False, True]


def test_setup_b_leaves_notifications_to_policies_2_and_3(tmp_path, setup_b):
    verdict = run_json(
        tmp_path,
        message("secureMailer@yourdomain.com"),
        "--client-ip",
        "",
        "--sender",
        "secureMailer@yourdomain.com",
        "--rcpt",
        "bob@partner.example",
        "--tag",
        PURL,
    )
    assert verdict["headers_added"] == [[HEADER, "YES"]]
    assert verdict["route"] is None
    assert verdict["trace"][3]["if_matched"] is False


def test_chosen_policies_run_even_when_disabled(tmp_path, setup_a):
    ContentPolicy.objects.filter(pk=setup_a[2].pk).update(enabled=False)
    args = ["--client-ip", "", "--sender", "secureMailer@yourdomain.com", "--rcpt", "b@x.example"]
    assert run_json(tmp_path, message("secureMailer@yourdomain.com"), *args)["headers_added"] == []
    verdict = run_json(
        tmp_path, message("secureMailer@yourdomain.com"), *args, "--policy", str(setup_a[2].pk)
    )
    assert verdict["headers_added"] == [[HEADER, "YES"]]
    assert len(verdict["trace"]) == 1


def test_a_draft_runs_without_touching_the_database(tmp_path, setup_a):
    draft = tmp_path / "draft.json"
    draft.write_text(
        json.dumps(
            [
                {
                    "name": "Hold big mail",
                    "if": [{"kind": "size_over", "params": {"bytes": 10}}],
                    "then": [{"kind": "hold", "params": {"reason": "too big"}}],
                }
            ]
        )
    )
    verdict = run_json(tmp_path, message(), *ENVELOPE, "--draft", str(draft))
    assert verdict["final"] == "hold"
    assert verdict["reason"] == "too big"
    assert verdict["trace"][0]["name"] == "Hold big mail"


def test_stdin_is_read_with_a_dash(setup_a, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(message())))
    out = io.StringIO()
    args = ["--client-ip", "127.0.0.1", "--sender", "a@yourdomain.com", "--rcpt", "b@x.example"]
    call_command("policy_test", "-", *args, stdout=out)
    assert "Verdict: redirect" in out.getvalue()


# --- Bad input ---------------------------------------------------------------------------------

# Latin-1, not UTF-8 (RFC 6532 §3.2): the header cannot be read, so it counts as absent.
UNREADABLE_MARK = HEADER.encode() + b": caf\xe9\r\n" + message("secureMailer@yourdomain.com")


def test_an_unreadable_header_is_evaluated_as_absent_and_the_text_says_so(tmp_path, setup_a):
    text = run(tmp_path, b"Received by hand\r\n" + message(), *ENVELOPE)
    lines = text.splitlines()
    assert lines[0] == "Message: what could not be read counts as absent"
    assert lines[1].startswith("  - header section: the line 'Received by hand' is not a header")
    assert "  - no header could be read: every header counts as absent" in lines
    assert lines.index("Policies:") > 2
    assert "Verdict: redirect to Secure Mailbox using 'My delivery profile'" in text


def test_an_unreadable_header_is_in_the_json_parse_notes(tmp_path, setup_a):
    args = ["--client-ip", "127.0.0.1", "--sender", "secureMailer@yourdomain.com"]
    verdict = run_json(tmp_path, UNREADABLE_MARK, *args, "--rcpt", "b@x.example", "--tag", PURL)
    assert verdict["parse_notes"] == [
        "header x-securemailnotification: 8-bit bytes that are not UTF-8; ignored"
    ]
    # Without the mark, policy 1's EXCEPT IF does not veto: the notification is redirected.
    assert verdict["final"] == "redirect"


def test_a_clean_message_has_no_parse_notes(tmp_path, setup_a):
    assert run_json(tmp_path, message(), *ENVELOPE)["parse_notes"] == []
    assert not run(tmp_path, message(), *ENVELOPE).startswith("Message:")


@pytest.mark.parametrize("raw", [b"\x00\xff garbage without headers", b"no headers here"])
def test_a_message_without_headers_is_evaluated_not_refused(tmp_path, setup_a, raw):
    verdict = run_json(tmp_path, raw, *ENVELOPE)
    assert "no header could be read: every header counts as absent" in verdict["parse_notes"]
    assert verdict["final"] == "redirect"  # nothing vetoes policy 1 for a looped-back message


@pytest.mark.parametrize(
    ("raw", "args", "error"),
    [
        (message(), ["--client-ip", "127.0.0.300"], "'127.0.0.300' is not an IPv4 or IPv6 address"),
        (b"", [], "there is no message: the input is empty"),
        (b" \r\n", [], "there is no message: the input is empty"),
        (message(), ["--policy", "99999"], "no delivery policy with id 99999"),
    ],
)
def test_bad_input_is_a_command_error_with_exit_code_2(tmp_path, setup_a, raw, args, error):
    with pytest.raises(CommandError, match=error) as caught:
        run(tmp_path, raw, *ENVELOPE, *args)
    assert caught.value.returncode == 2


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "is not JSON"),
        ('"a string"', "expected a list of policies"),
        ('[{"name": "x", "then": []}]', "needs at least one action"),
        (
            json.dumps(
                [
                    {
                        "name": "x",
                        "if": [{"kind": "sender_ip", "params": {"values": ["1.2.3"]}}],
                        "then": [{"kind": "add_tag", "params": {"tag": "t"}}],
                    }
                ]
            ),
            "is not an IP address",
        ),
    ],
)
def test_a_bad_draft_is_a_command_error(tmp_path, setup_a, content, error):
    draft = tmp_path / "draft.json"
    draft.write_text(content)
    with pytest.raises(CommandError, match=error) as caught:
        run(tmp_path, message(), *ENVELOPE, "--draft", str(draft))
    assert caught.value.returncode == 2


def test_the_envelope_is_required(tmp_path):
    with pytest.raises(CommandError, match="--client-ip, --sender"):
        run(tmp_path, message(), "--rcpt", "b@x.example")


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read") as caught:
        call_command("policy_test", str(tmp_path / "nope.eml"), *ENVELOPE)
    assert caught.value.returncode == 2


@pytest.mark.parametrize(
    ("stdin", "args"),
    [(message(), ["--client-ip", "not-an-ip"]), (b"", ["--client-ip", "127.0.0.1"])],
)
def test_the_real_command_exits_2_without_a_traceback(stdin, args):
    result = subprocess.run(
        [sys.executable, "manage.py", "policy_test", "-", *ENVELOPE, *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"CommandError: ")
