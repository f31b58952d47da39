"""Configuration as code: export → import round trip, idempotence, dry run, errors, prune."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from mailgate.config_io import config_apply, config_export
from policies.models import ContentPolicy, PolicyAction, PolicyCondition, PolicyVersion
from policies.setup import SetupOptions, secure_setup
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup_a(settings):
    secure_setup(
        options=SetupOptions(
            mode="A", local_domain="yourdomain.com", partners=("partner.example", "bücher.example")
        )
    )
    ContentPolicy.objects.create(name="Zz last", position=99).actions.create(
        kind="hold", params={"reason": "review"}
    )


def wipe() -> None:
    PolicyAction.objects.all().delete()
    PolicyCondition.objects.all().delete()
    ContentPolicy.objects.all().delete()
    ExternalDomain.objects.all().delete()
    DeliveryProfile.objects.all().delete()
    DeliveryRoute.objects.exclude(name="Default").delete()
    SendingConnectionPolicy.objects.exclude(name="Default").delete()


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("config_export", *args, stdout=out)
    return out.getvalue()


def test_export_lists_every_section_in_order(setup_a):
    data = yaml.safe_load(export())
    assert data["version"] == 1
    assert {p["name"] for p in data["sending_policies"]} >= {"Default", "Require TLS"}
    assert "Loopback route" in {r["name"] for r in data["routes"]}
    domains = {d["domain"]: d for d in data["external_domains"]}
    assert domains["partner.example"]["route"] == "Loopback route"
    assert domains["partner.example"]["sending_policy"] == "Require TLS"
    assert "xn--bcher-kva.example" in domains  # stored and exported as the A-label
    assert data["delivery_profiles"][0]["name"] == "My delivery profile"
    policies = data["delivery_policies"]
    assert len(policies) == 4 and policies[-1]["name"] == "Zz last"
    assert policies[0]["then"] == [
        {"kind": "redirect_secure_mailbox", "params": {"profile": "My delivery profile"}}
    ]


def test_round_trip_into_an_empty_configuration(setup_a, tmp_path):
    first = export()
    path = tmp_path / "config.yaml"
    path.write_text(first)
    wipe()
    assert ContentPolicy.objects.count() == 0
    out = io.StringIO()
    call_command("config_import", str(path), stdout=out)
    assert "created" in out.getvalue()
    assert export() == first
    # The stored policies work: the engine's ruleset loads them in the same order.
    names = list(ContentPolicy.objects.order_by("position").values_list("name", flat=True))
    assert names == [p["name"] for p in yaml.safe_load(first)["delivery_policies"]]


def test_import_of_the_current_configuration_changes_nothing(setup_a, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(export())
    version = PolicyVersion.current()
    stamps = list(SendingConnectionPolicy.objects.values_list("updated_at", flat=True))
    out = io.StringIO()
    call_command("config_import", str(path), stdout=out)
    assert out.getvalue().strip() == "Applied: 0 change(s)."
    assert PolicyVersion.current() == version
    assert list(SendingConnectionPolicy.objects.values_list("updated_at", flat=True)) == stamps


def test_dry_run_shows_differences_and_writes_nothing(setup_a, tmp_path):
    data = yaml.safe_load(export())
    loopback = next(r for r in data["routes"] if r["name"] == "Loopback route")
    old_hosts = loopback["hosts"]
    loopback["hosts"] = [*old_hosts, "10.0.0.5:2525"]
    data["delivery_policies"].insert(
        0, {"name": "Hold big", "if": [{"kind": "size_over", "params": {"bytes": 10_000_000}}],
            "then": [{"kind": "hold", "params": {"reason": "big"}}]},
    )  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = export()
    out = io.StringIO()
    call_command("config_import", str(path), "--dry-run", stdout=out)
    report = out.getvalue()
    assert "changed   delivery route 'Loopback route'" in report
    assert f"hosts: {old_hosts!r} → {[*old_hosts, '10.0.0.5:2525']!r}" in report
    assert "created   delivery policy 'Hold big'" in report
    assert "nothing written" in report
    assert export() == before
    call_command("config_import", str(path), stdout=io.StringIO())
    assert DeliveryRoute.objects.get(name="Loopback route").hosts == [*old_hosts, "10.0.0.5:2525"]
    assert ContentPolicy.objects.order_by("position").first().name == "Hold big"
    out = io.StringIO()
    call_command("config_import", str(path), stdout=out)  # and again: nothing to do
    assert out.getvalue().strip() == "Applied: 0 change(s)."


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["routes"].append({"name": "Bad", "hosts": ["exa mple"]}), "routes["),
        (lambda d: d["external_domains"][0].update(route="Nope"), "there is no route 'Nope'"),
        (lambda d: d["sending_policies"][0].update(colour="red"), "unknown field(s) colour"),
        (
            lambda d: d["delivery_policies"][0]["then"][0]["params"].update(profile="Ghost"),
            "no delivery profile 'Ghost'",
        ),
        (lambda d: d["delivery_policies"][1].update(then=[]), "needs at least one action"),
        (lambda d: d.update(extras=[]), "extras: not a known section"),
    ],
)
def test_invalid_files_are_refused_whole(setup_a, tmp_path, mutate, message):
    data = yaml.safe_load(export())
    data["routes"].append({"name": "Harmless new route", "use_dns_first": True, "hosts": []})
    mutate(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = export()
    with pytest.raises(CommandError) as exc:
        call_command("config_import", str(path), stdout=io.StringIO())
    assert message in str(exc.value)
    assert export() == before, "nothing applied"
    assert not DeliveryRoute.objects.filter(name="Harmless new route").exists()


def test_broken_yaml_is_refused():
    with pytest.raises(Exception, match="YAML"):
        config_apply("routes: [unclosed")


def test_prune_deletes_what_the_file_does_not_list(setup_a):
    data = yaml.safe_load(config_export())
    data["external_domains"] = [
        d for d in data["external_domains"] if d["domain"] != "partner.example"
    ]
    data["delivery_policies"] = data["delivery_policies"][:3]
    text = yaml.safe_dump(data, sort_keys=False)
    kept = config_apply(text)  # without --prune: nothing is deleted
    assert not [c for c in kept if c.action == "deleted"]
    assert ExternalDomain.objects.filter(domain="partner.example").exists()
    changes = config_apply(text, prune=True)
    deleted = {c.object for c in changes if c.action == "deleted"}
    assert deleted == {"external domain/host 'partner.example'", "delivery policy 'Zz last'"}
    again = config_apply(config_export(), prune=True)
    assert {c.action for c in again} == {"unchanged"}
