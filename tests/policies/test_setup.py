"""secure_setup: Setup A and B in one step, idempotent, with the loop check of the result."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from policies.engine import PolicySpec, reference_policies
from policies.models import ContentPolicy, PolicyVersion
from policies.services import policy_create, policy_update
from policies.setup import (
    CHANGED,
    CREATED,
    UNCHANGED,
    SetupError,
    SetupOptions,
    loopback_host,
    secure_setup,
)
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db

ROW_MODELS = (
    SendingConnectionPolicy,
    DeliveryRoute,
    ExternalDomain,
    DeliveryProfile,
    ContentPolicy,
)


def options(mode: str = "A", partners=("example.org",), **kwargs) -> SetupOptions:
    return SetupOptions(mode=mode, local_domain="yourdomain.com", partners=partners, **kwargs)


def stamps() -> dict[tuple[str, int], object]:
    return {
        (model.__name__, pk): updated
        for model in ROW_MODELS
        for pk, updated in model.objects.values_list("pk", "updated_at")
    }


def stored_specs() -> list[dict]:
    out = []
    for row in ContentPolicy.objects.order_by("position", "id"):
        data = PolicySpec.from_dict(row.to_spec()).to_dict()
        out.append({**data, "id": 0})
    return out


def reference_dicts(mode: str) -> list[dict]:
    return [{**s.to_dict(), "id": 0} for s in reference_policies(mode)]


def test_setup_a__creates_the_reference_setup():
    result = secure_setup(options=options(partners=("example.org", "Partner.Example")))
    assert result.findings == []
    require = SendingConnectionPolicy.objects.get(name="Require TLS")
    assert (require.enable_tls, require.require_tls, require.no_tls_for_notifications) == (
        True,
        True,
        True,
    )
    loop = DeliveryRoute.objects.get(name="Loopback route")
    assert loop.use_dns_first and loop.hosts == ["127.0.0.1:2525"]
    domains = ExternalDomain.objects.order_by("domain")
    assert [(d.domain, d.route, d.sending_policy) for d in domains] == [
        ("example.org", loop, require),
        ("partner.example", loop, require),
    ]
    profile = DeliveryProfile.objects.get(name="My delivery profile")
    assert profile.notification_sender == "secureMailer@yourdomain.com"
    assert profile.verification == "none"
    assert stored_specs() == reference_dicts("A")
    assert not SendingConnectionPolicy.objects.get(name="Default").require_tls
    assert {c.action for c in result.changes} == {CREATED, UNCHANGED}  # Default route exists


def test_setup__second_run_changes_nothing():
    secure_setup(options=options())
    before, version = stamps(), PolicyVersion.current()
    again = secure_setup(options=options())
    assert {c.action for c in again.changes} == {UNCHANGED}, again.changes
    assert not again.changed and again.findings == []
    assert stamps() == before
    assert PolicyVersion.current() == version


def test_setup__run_again_after_adding_a_partner():
    secure_setup(options=options())
    result = secure_setup(options=options(partners=("example.org", "new.example")))
    changed = [(c.object, c.action) for c in result.changes if c.action != UNCHANGED]
    assert changed == [("external domain 'new.example'", CREATED)]


def test_setup_b__default_policy_requires_tls_and_four_policies():
    result = secure_setup(options=options("B", partners=()))
    assert result.findings == []
    default = SendingConnectionPolicy.objects.get(name="Default")
    assert default.require_tls and default.no_tls_for_notifications
    assert ("sending connection policy 'Default'", CHANGED) in [
        (c.object, c.action) for c in result.changes
    ]
    assert stored_specs() == reference_dicts("B")
    assert not ExternalDomain.objects.exists()
    again = secure_setup(options=options("B", partners=()))
    assert not again.changed


def test_setup__dry_run_writes_nothing_but_reports_and_checks():
    result = secure_setup(options=options(), dry_run=True)
    assert result.dry_run and result.changed and result.findings == []
    assert not ContentPolicy.objects.exists()
    assert not DeliveryRoute.objects.filter(name="Loopback route").exists()
    text = [c.to_text(dry_run=True) for c in result.changes]
    assert "delivery route 'Loopback route': would be created" in text


def test_setup__reference_policies_go_first_and_others_follow():
    own = policy_create(
        name="Tag the board",
        if_conditions=[{"kind": "recipient_address", "params": {"values": ["board@*"]}}],
        actions=[{"kind": "add_tag", "params": {"tag": "board"}}],
    )
    result = secure_setup(options=options())
    order = list(ContentPolicy.objects.order_by("position").values_list("name", flat=True))
    assert order[:3] == [s.name for s in reference_policies("A")]
    assert order[3] == own.name
    assert ("other delivery policies", CHANGED) in [(c.object, c.action) for c in result.changes]
    assert not secure_setup(options=options()).changed


def test_setup__an_edited_reference_policy_is_put_back():
    secure_setup(options=options())
    first = ContentPolicy.objects.order_by("position").first()
    policy_update(
        policy=first,
        name=first.name,
        if_conditions=[{"kind": "sender_ip", "params": {"values": ["127.0.0.1"]}}],
        actions=[{"kind": "redirect_secure_mailbox", "params": {"profile": "My delivery profile"}}],
    )
    result = secure_setup(options=options())
    changed = [c for c in result.changes if c.action != UNCHANGED]
    assert [c.object for c in changed] == [f"delivery policy 1 '{first.name}'"]
    assert stored_specs() == reference_dicts("A")


def test_setup__profile_sender_and_verification():
    result = secure_setup(
        options=options(notification_sender="notify@yourdomain.com", verification="code")
    )
    assert result.findings == []
    profile = DeliveryProfile.objects.get()
    assert (profile.notification_sender, profile.verification) == ("notify@yourdomain.com", "code")
    marker = ContentPolicy.objects.get(name="Mark Secure Mailbox notifications")
    assert marker.to_spec()["if"][0]["params"]["values"] == ["notify*@yourdomain.com"]
    # Without the options the profile keeps its sender and verification.
    assert not secure_setup(options=options()).changed


def test_setup__port_omitted_when_the_smtpd_listens_on_the_delivery_port(settings):
    settings.MAILGATE_SMTP_PORT = settings.MAILGATE_DELIVERY_PORT = 25
    assert loopback_host() == "127.0.0.1"
    secure_setup(options=options())
    assert DeliveryRoute.objects.get(name="Loopback route").hosts == ["127.0.0.1"]


def test_setup_a_after_b__notes_the_setup_b_policy():
    secure_setup(options=options("B", partners=()))
    result = secure_setup(options=options("A"))
    notes = [c for c in result.changes if "belongs to Setup B" in c.detail]
    assert len(notes) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "C"}, "mode"),
        ({"mode": "B", "partners": ("example.org",)}, "no partners"),
        ({"partners": ("bad domain",)}, "not a valid domain"),
        ({"partners": ("yourdomain.com",)}, "your own domain"),
        ({"notification_sender": "nobody"}, "not an email address"),
        ({"verification": "retina"}, "Verification"),
    ],
)
def test_setup__bad_options(kwargs, message):
    mode = kwargs.pop("mode", "A")
    with pytest.raises(SetupError, match=message):
        secure_setup(options=options(mode, **kwargs))
    assert not ContentPolicy.objects.exists()


def test_secure_setup_command__lines_and_idempotence(capsys):
    call_command(
        "secure_setup",
        "--mode",
        "a",
        "--local-domain",
        "yourdomain.com",
        "--partner",
        "example.org",
    )
    out = capsys.readouterr().out
    assert "external domain 'example.org': created" in out
    assert "Loop check: no way for mail to loop was found." in out
    call_command(
        "secure_setup",
        "--mode",
        "A",
        "--local-domain",
        "yourdomain.com",
        "--partner",
        "example.org",
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(line.endswith(": unchanged") for line in lines[:-2]), out
    assert lines[-2:] == ["Nothing to change.", "Loop check: no way for mail to loop was found."]


def test_secure_setup_command__dry_run(capsys):
    call_command("secure_setup", "--mode", "B", "--local-domain", "yourdomain.com", "--dry-run")
    out = capsys.readouterr().out
    assert "would be created" in out and "Dry run: nothing was changed." in out
    assert not ContentPolicy.objects.exists()


def test_secure_setup_command__bad_option_is_a_usage_error():
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "secure_setup", "--mode", "B", "--local-domain", "x.com", "--partner", "example.org"
        )
    assert excinfo.value.returncode == 2


def test_setup_b__second_run_changes_no_row_at_all():
    secure_setup(options=options("B", partners=()))
    before, version = stamps(), PolicyVersion.current()
    again = secure_setup(options=options("B", partners=()))
    assert {c.action for c in again.changes} == {UNCHANGED}, again.changes
    assert stamps() == before and PolicyVersion.current() == version


def test_secure_setup_command__named_profile_is_used_by_policy_1(capsys):
    call_command(
        "secure_setup", "--mode", "A", "--local-domain", "yourdomain.com",
        "--partner", "example.org", "--profile", "Partner portal", "--verification", "password",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "delivery profile 'Partner portal': created" in out
    profile = DeliveryProfile.objects.get()
    assert (profile.name, profile.verification) == ("Partner portal", "password")
    redirect = ContentPolicy.objects.order_by("position").first()
    (action,) = redirect.to_spec()["then"]
    assert action["kind"] == "redirect_secure_mailbox"
    assert action["params"]["profile"] == "Partner portal"
