"""Policy services: evaluating a queued message, writes, moves, and the tester service."""

import pytest

from policies import loader
from policies.engine import PolicySyntaxError, reference_policies
from policies.models import ContentPolicy, PolicyAction
from policies.services import (
    PolicyTestError,
    policies_evaluate,
    policy_create,
    policy_delete,
    policy_from_spec,
    policy_move,
    policy_test_run,
    policy_update,
)
from relay.models import DeliveryRoute, Message, Recipient
from relay.spool import spool_write
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db

RAW = b"From: alice@yourdomain.com\r\nTo: bob@partner.example\r\nSubject: Hi\r\n\r\nHello\r\n"
TAG = [{"kind": "add_tag", "params": {"tag": "t"}}]


@pytest.fixture(autouse=True)
def fresh_cache():
    loader.clear_cache()


@pytest.fixture
def setup_b():
    DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    DeliveryRoute.objects.get_or_create(name="Default")
    DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1"])
    return [policy_from_spec(spec) for spec in reference_policies("B")]


def _message(client_ip, raw=None, tags=()):
    name = spool_write("ABC123DEF", raw or RAW)
    message = Message.objects.create(
        queue_id="ABC123DEF",
        client_ip=client_ip,
        envelope_sender="alice@yourdomain.com",
        spool_name=name,
        tags=list(tags),
    )
    Recipient.objects.create(
        message=message, address="bob@partner.example", domain="partner.example"
    )
    return message


def test_evaluate_reads_the_spool_and_redirects_a_loop_back(setup_b, settings, tmp_path):
    settings.MAILGATE_SPOOL_DIR = tmp_path
    verdict = policies_evaluate(_message("127.0.0.1"))
    assert verdict.final == "redirect"
    assert verdict.profile == "My delivery profile"


def test_evaluate_routes_ordinary_mail_by_the_loopback_route_in_setup_b(
    setup_b, settings, tmp_path
):
    settings.MAILGATE_SPOOL_DIR = tmp_path
    verdict = policies_evaluate(_message("10.0.0.9"))
    assert verdict.final is None
    assert verdict.route == "Loopback route"


def test_evaluate_takes_raw_bytes_and_the_message_tags(setup_b, settings, tmp_path):
    settings.MAILGATE_SPOOL_DIR = tmp_path
    message = _message(None, tags=["Secure Collaboration: PURL"])
    verdict = policies_evaluate(message, raw=RAW.replace(b"alice@", b"secureMailer@"))
    assert verdict.route is None
    assert verdict.trace[3].if_matched is False


def test_evaluate_keeps_the_parse_notes_and_the_relay_stores_them(setup_b, settings, tmp_path):
    from relay.services.processing import message_process

    settings.MAILGATE_SPOOL_DIR = tmp_path
    raw = b"X-SecureMailNotification: caf\xe9\r\n" + RAW  # not UTF-8: counts as absent
    message = _message("127.0.0.1", raw=raw)
    note = "header x-securemailnotification: 8-bit bytes that are not UTF-8; ignored"
    verdict = policies_evaluate(message)
    assert verdict.final == "redirect" and verdict.parse_notes == (note,)
    message_process(message.pk)
    message.refresh_from_db()
    assert message.verdict["parse_notes"] == [note]


def test_create_validates_before_storing():
    with pytest.raises(PolicySyntaxError) as caught:
        policy_create(
            name="Bad",
            if_conditions=[{"kind": "sender_ip", "params": {"values": ["1.2.3.4/8"]}}],
            actions=TAG,
        )
    assert caught.value.field == "if[0].params.values[0]"
    assert not ContentPolicy.objects.exists()


def test_create_refuses_an_unknown_route_or_profile():
    with pytest.raises(PolicySyntaxError, match="there is no delivery route 'Nowhere'"):
        policy_create(name="R", actions=[{"kind": "route", "params": {"route": "Nowhere"}}])
    with pytest.raises(PolicySyntaxError, match="there is no delivery profile 'P'"):
        policy_create(
            name="P", actions=[{"kind": "redirect_secure_mailbox", "params": {"profile": "P"}}]
        )
    assert not ContentPolicy.objects.exists()


def test_create_refuses_a_name_in_use():
    policy_create(name="Tagger", actions=TAG)
    with pytest.raises(PolicySyntaxError, match="already used"):
        policy_create(name="TAGGER", actions=TAG)


def test_update_replaces_the_rows(setup_b):
    policy = setup_b[3]
    policy_update(
        policy=policy,
        name="Only tags",
        if_conditions=[{"kind": "is_dsn"}],
        actions=TAG,
        enabled=False,
    )
    policy.refresh_from_db()
    assert (policy.name, policy.enabled) == ("Only tags", False)
    assert [c.kind for c in policy.conditions.all()] == ["is_dsn"]
    assert list(PolicyAction.objects.filter(policy=policy).values_list("kind", flat=True)) == [
        "add_tag"
    ]
    DeliveryRoute.objects.get(name="Loopback route").delete()  # no longer in use


def test_new_policies_go_last_and_moves_keep_positions_dense(setup_b):
    assert [p.position for p in ContentPolicy.objects.all()] == [1, 2, 3, 4]
    assert policy_move(policy=setup_b[0], direction="up") is False
    assert policy_move(policy=setup_b[3], direction="down") is False
    assert policy_move(policy=setup_b[3], direction="up") is True
    assert list(ContentPolicy.objects.values_list("pk", flat=True)) == [
        setup_b[0].pk,
        setup_b[1].pk,
        setup_b[3].pk,
        setup_b[2].pk,
    ]
    policy_delete(policy=setup_b[1])
    assert [p.position for p in ContentPolicy.objects.all()] == [1, 2, 3]


def test_the_tester_runs_drafts():
    verdict = policy_test_run(
        RAW,
        client_ip="127.0.0.1",
        envelope_sender="<>",
        recipients=["bob@partner.example", " "],
        policies=[{"id": 7, "name": "Bounces", "if": [{"kind": "is_dsn"}], "then": TAG}],
    )
    assert verdict.tags == ("t",)
    assert verdict.trace[0].policy_id == 7


def test_the_tester_runs_chosen_rows_even_disabled(setup_b):
    ContentPolicy.objects.filter(pk=setup_b[0].pk).update(enabled=False)
    assert (
        policy_test_run(
            RAW, client_ip="127.0.0.1", envelope_sender="a@b.example", recipients=["x@y.example"]
        ).final
        is None
    )
    verdict = policy_test_run(
        RAW,
        client_ip="::ffff:127.0.0.1",
        envelope_sender="a@b.example",
        recipients=["x@y.example"],
        policies=[setup_b[0]],
    )
    assert verdict.final == "redirect"


@pytest.mark.parametrize(
    ("raw", "ip", "policies", "error"),
    [
        (RAW, "127.0.0.256", None, "is not an IPv4 or IPv6 address"),
        (b"", "127.0.0.1", None, "there is no message"),
        (b"\r\n", "127.0.0.1", None, "there is no message"),
        (RAW, "127.0.0.1", [12345], "no delivery policy with id 12345"),
        (RAW, "127.0.0.1", [1, {"name": "x"}], "not both"),
    ],
)
def test_the_tester_refuses_bad_input(raw, ip, policies, error):
    with pytest.raises(PolicyTestError, match=error):
        policy_test_run(
            raw, client_ip=ip, envelope_sender="", recipients=["a@b.c"], policies=policies
        )


def test_the_tester_evaluates_a_message_without_headers(setup_b):
    verdict = policy_test_run(
        b"\r\n\r\nbody only",
        client_ip="127.0.0.1",
        envelope_sender="alice@yourdomain.com",
        recipients=["a@b.c"],
    )
    assert verdict.final == "redirect"
    assert verdict.parse_notes == ("no header could be read: every header counts as absent",)
