"""The loop check's Django side: reading the configuration, and ``manage.py loop_check``."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from policies.loopcheck import LOOP_ROUTE_UNCAUGHT, NOTIFICATION_ROUTE_LOOPS, POLICY_INVALID
from policies.loopcheck.collect import loop_check_run, loop_config
from policies.models import ContentPolicy, PolicyCondition
from policies.services import policy_set_enabled
from policies.setup import SetupOptions, secure_setup
from relay.models import DeliveryRoute, SendingConnectionPolicy

pytestmark = pytest.mark.django_db

REDIRECT = "Redirect looped-back mail to the Secure Mailbox"


@pytest.fixture
def setup_a():
    secure_setup(
        options=SetupOptions(mode="A", local_domain="yourdomain.com", partners=("example.org",))
    )


def test_collect__reads_the_whole_configuration(setup_a, settings):
    settings.MAILGATE_HOSTNAME = "gate.yourdomain.com"
    config = loop_config()
    assert [p.name for p in config.policies][:1] == [REDIRECT]
    assert config.routes["Loopback route"].hosts == ("127.0.0.1:2525",)
    assert config.sending_policies["Require TLS"].no_tls_for_notifications
    assert [(d.domain, d.route, d.sending_policy) for d in config.domains] == [
        ("example.org", "Loopback route", "Require TLS")
    ]
    assert config.profiles["My delivery profile"].notification_sender == (
        "secureMailer@yourdomain.com"
    )
    assert config.local_domain == "yourdomain.com"  # from the notification sender
    assert (config.hostname, config.smtp_port, config.delivery_port) == (
        "gate.yourdomain.com",
        2525,
        25,
    )


def test_collect__local_domain_setting_wins(setup_a, settings):
    settings.MAILGATE_LOCAL_DOMAINS = ["corp.example"]
    assert loop_config().local_domain == "corp.example"


def test_collect__setup_a_is_clean(setup_a):
    assert loop_check_run().ok


def test_collect__disabled_redirect_policy_is_found(setup_a):
    policy_set_enabled(policy=ContentPolicy.objects.get(name=REDIRECT), enabled=False)
    report = loop_check_run()
    assert [f.code for f in report.findings] == [LOOP_ROUTE_UNCAUGHT]
    assert report.findings[0].routes == ("Loopback route",)


def test_collect__notifications_requiring_tls_are_found(setup_a):
    SendingConnectionPolicy.objects.filter(name="Require TLS").update(
        no_tls_for_notifications=False
    )
    assert [f.code for f in loop_check_run().findings] == [NOTIFICATION_ROUTE_LOOPS]


def test_collect__a_route_host_that_is_mailgate_by_name(setup_a, settings):
    settings.MAILGATE_HOSTNAME = "gate.yourdomain.com"
    route = DeliveryRoute.objects.get(name="Default")
    route.hosts = ["gate.yourdomain.com:2525"]
    route.save()
    codes = {f.code for f in loop_check_run().findings}
    assert NOTIFICATION_ROUTE_LOOPS in codes


def test_collect__a_stored_policy_that_does_not_compile(setup_a):
    condition = PolicyCondition.objects.filter(kind="sender_ip").first()
    PolicyCondition.objects.filter(pk=condition.pk).update(params={"values": ["not-an-ip"]})
    codes = [f.code for f in loop_check_run().findings]
    assert codes[0] == POLICY_INVALID


def test_loop_check_command__clean_exits_0(setup_a, capsys):
    call_command("loop_check")
    assert "No way for mail to loop was found." in capsys.readouterr().out


def test_loop_check_command__findings_exit_1_text_and_json(setup_a, capsys):
    policy_set_enabled(policy=ContentPolicy.objects.get(name=REDIRECT), enabled=False)
    with pytest.raises(SystemExit) as excinfo:
        call_command("loop_check", "--paths")
    assert excinfo.value.code == 1
    out = capsys.readouterr().out
    assert f"ERROR {LOOP_ROUTE_UNCAUGHT}:" in out and "fix: Put this policy at the top" in out
    assert "Message from the LAN to bob@example.org: loops" in out
    with pytest.raises(SystemExit):
        call_command("loop_check", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["findings"][0]["code"] == LOOP_ROUTE_UNCAUGHT
    assert data["findings"][0]["routes"] == ["Loopback route"]


def test_collect__draft_policies_are_checked_before_they_are_stored(setup_a):
    stored = loop_config().policies
    draft = [p for p in stored if p.name != REDIRECT]
    assert [f.code for f in loop_check_run(policies=draft).findings] == [LOOP_ROUTE_UNCAUGHT]
    assert loop_check_run().ok
