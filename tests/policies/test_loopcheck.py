"""The loop check itself (pure: no database): the shipped setups are clean, each broken
variant gives the right finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policies.engine import PolicySpec, reference_policies
from policies.loopcheck import (
    DSN_REDIRECTED,
    DSN_ROUTE_LOOPS,
    ERROR,
    LOOP_ROUTE_UNCAUGHT,
    NOTIFICATION_REDIRECTED,
    NOTIFICATION_ROUTE_LOOPS,
    POLICY_INVALID,
    SENDER_CHECK_ONE_SIDE,
    WARNING,
    DomainInfo,
    LoopConfig,
    ProfileInfo,
    RouteInfo,
    SendingInfo,
    check_loops,
    host_is_self,
)

ROOT = Path(__file__).resolve().parents[2]
SENDER = "secureMailer@yourdomain.com"
PROFILE = "My delivery profile"
LOOPBACK = "Loopback route"


def reference_dicts(mode: str) -> list[dict[str, Any]]:
    return [p.to_dict() for p in reference_policies(mode)]


def setup(
    mode: str = "A",
    *,
    policies: list[dict[str, Any]] | None = None,
    loop_hosts: tuple[str, ...] = ("127.0.0.1:2525",),
    no_tls_for_notifications: bool = True,
    extra_routes: tuple[RouteInfo, ...] = (),
    **kwargs: Any,
) -> LoopConfig:
    """Setup A or B exactly as DESIGN.md describes it, with the pieces a test changes."""
    specs = policies if policies is not None else reference_dicts(mode)
    routes = [RouteInfo("Default"), RouteInfo(LOOPBACK, True, loop_hosts), *extra_routes]
    sending = [
        SendingInfo(
            "Default",
            require_tls=mode == "B",
            no_tls_for_notifications=mode == "B" and no_tls_for_notifications,
        ),
        SendingInfo(
            "Require TLS", require_tls=True, no_tls_for_notifications=no_tls_for_notifications
        ),
    ]
    domains = kwargs.pop("domains", None)
    if domains is None:
        domains = (
            (
                DomainInfo("example.org", LOOPBACK, "Require TLS"),
                DomainInfo("partner.example", LOOPBACK, "Require TLS"),
            )
            if mode == "A"
            else ()
        )
    return LoopConfig(
        policies=tuple(PolicySpec.from_dict(p) for p in specs),
        routes={r.name: r for r in routes},
        sending_policies={s.name: s for s in sending},
        domains=domains,
        profiles={PROFILE: ProfileInfo(PROFILE, SENDER)},
        **kwargs,
    )


def codes(config: LoopConfig) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in check_loops(config).findings]


def only(config: LoopConfig, code: str):
    findings = check_loops(config).findings
    assert [f.code for f in findings] == [code], [f.to_text() for f in findings]
    return findings[0]


@pytest.mark.parametrize("mode", ["A", "B"])
def test_loopcheck__reference_setups_have_no_finding(mode):
    report = check_loops(setup(mode))
    assert report.ok, [f.to_text() for f in report.findings]
    assert report.paths  # the flow was simulated
    assert any("redirect" in p.outcome for p in report.paths)


def test_loopcheck__setup_a_paths_follow_the_flow():
    report = check_loops(setup("A"))
    by_scenario = {p.scenario: p for p in report.paths}
    lan = by_scenario["Message from the LAN to bob@example.org"]
    assert lan.outcome == "redirected to the Secure Mailbox"
    assert "back to Mailgate from 127.0.0.1" in lan.steps[1]
    note = by_scenario[f"Notification ('{PROFILE}') from {SENDER} to bob@example.org"]
    assert note.outcome == "leaves Mailgate by route 'Default'"
    assert "'Deliver looped-back notifications by the default route'" in note.steps[-1]


@pytest.mark.parametrize("mode", ["A", "B"])
def test_loopcheck__no_redirect_policy__loop_route_uncaught(mode):
    finding = only(setup(mode, policies=reference_dicts(mode)[1:]), LOOP_ROUTE_UNCAUGHT)
    assert finding.severity == ERROR and finding.routes == (LOOPBACK,)
    assert "Redirect to Secure Mailbox" in finding.fix
    assert "secure_setup" in finding.fix


def test_loopcheck__redirect_policy_disabled__loop_route_uncaught():
    dicts = reference_dicts("A")
    dicts[0]["enabled"] = False
    finding = only(setup("A", policies=dicts), LOOP_ROUTE_UNCAUGHT)
    assert finding.domains == ("example.org", "partner.example")  # one finding, both domains


def test_loopcheck__loopback_host_ipv6__comes_back_from_another_address():
    # Policies 1 and 2 match 127.0.0.1: neither catches what comes back from ::1.
    findings = check_loops(setup("A", loop_hosts=("[::1]:2525",))).findings
    assert [f.code for f in findings] == [LOOP_ROUTE_UNCAUGHT, NOTIFICATION_ROUTE_LOOPS]
    assert "comes back from ::1" in findings[0].fix


def test_loopcheck__route_used_only_by_a_recipient_policy__checked_statically():
    special = RouteInfo("Special loop", False, ("localhost:2525",))
    policy = {
        "id": 9,
        "name": "Route the board through the special loop",
        "if": [{"kind": "recipient_address", "params": {"values": ["board@special.example"]}}],
        "then": [{"kind": "route", "params": {"route": "Special loop"}}],
    }
    config = setup("A", policies=[policy], extra_routes=(special,), domains=())
    finding = only(config, LOOP_ROUTE_UNCAUGHT)
    assert finding.routes == ("Special loop",)


def test_loopcheck__redirect_without_header_exception__notification_redirected():
    dicts = reference_dicts("A")
    dicts[0]["except_if"] = [{"kind": "is_dsn"}]
    finding = only(setup("A", policies=dicts), NOTIFICATION_REDIRECTED)
    assert finding.severity == ERROR
    assert finding.policies == ("Redirect looped-back mail to the Secure Mailbox",)
    assert "add 'or message contains header X-SecureMailNotification'" in finding.fix


def test_loopcheck__no_marking_policy__notification_redirected():
    dicts = reference_dicts("A")[:2]
    finding = only(setup("A", policies=dicts), NOTIFICATION_REDIRECTED)
    assert "No enabled policy marks notifications" in finding.fix
    assert "Add header 'X-SecureMailNotification: YES'" in finding.fix


def test_loopcheck__article_pattern_taken_literally__names_the_pattern():
    specs = reference_policies("A", sender_pattern="secureMailer.*@yourdomain.com")
    finding = only(setup("A", policies=[s.to_dict() for s in specs]), NOTIFICATION_REDIRECTED)
    assert "'secureMailer.*@yourdomain.com'" in finding.fix
    assert "use 'secureMailer*@yourdomain.com'" in finding.fix
    assert "Mark Secure Mailbox notifications" in finding.policies


def test_loopcheck__setup_b_redirect_without_dsn_exception__dsn_redirected():
    dicts = reference_dicts("B")
    dicts[0]["except_if"] = dicts[0]["except_if"][:1]
    finding = only(setup("B", policies=dicts), DSN_REDIRECTED)
    assert finding.severity == ERROR and "delivery status notification" in finding.fix


def test_loopcheck__setup_a_redirect_without_dsn_exception__warns():
    # In Setup A a bounce to the local domain never comes back; it would if a route changed.
    dicts = reference_dicts("A")
    dicts[0]["except_if"] = dicts[0]["except_if"][:1]
    assert codes(setup("A", policies=dicts)) == [(DSN_REDIRECTED, WARNING)]


@pytest.mark.parametrize("check", ["envelope", "header"])
@pytest.mark.parametrize(
    ("index", "name"),
    [
        (1, "Deliver looped-back notifications by the default route"),
        (2, "Mark Secure Mailbox notifications"),
    ],
)
def test_loopcheck__sender_checked_on_one_side(check, index, name):
    """The article insists on "envelope sender AND From header" for policies 2 and 3."""
    dicts = reference_dicts("A")
    dicts[index]["if"][0]["params"]["check"] = check
    finding = only(setup("A", policies=dicts), SENDER_CHECK_ONE_SIDE)
    assert finding.severity == WARNING
    assert finding.policies == (name,)
    assert "envelope sender and From header" in finding.fix


def test_loopcheck__sender_condition_not_matching_the_notifier_is_fine():
    dicts = reference_dicts("A")
    dicts.append(
        {
            "id": 9,
            "name": "Tag the boss",
            "if": [{"kind": "sender_address", "params": {"values": ["boss@*"], "check": "header"}}],
            "then": [{"kind": "add_tag", "params": {"tag": "boss"}}],
        }
    )
    assert codes(setup("A", policies=dicts)) == []


def test_loopcheck__notifications_need_tls__notification_route_loops():
    finding = only(setup("A", no_tls_for_notifications=False), NOTIFICATION_ROUTE_LOOPS)
    assert "Do not use TLS for Secure Collaboration notifications" in finding.fix
    assert "'Require TLS'" in finding.fix


def test_loopcheck__looped_notifications_routed_into_the_loop__notification_route_loops():
    dicts = reference_dicts("A")
    dicts[1]["then"] = [{"kind": "route", "params": {"route": LOOPBACK}}]
    finding = only(setup("A", policies=dicts), NOTIFICATION_ROUTE_LOOPS)
    assert finding.policies == ("Deliver looped-back notifications by the default route",)
    assert finding.routes == (LOOPBACK,)


def test_loopcheck__no_policy_2__notification_goes_round_by_the_domain_route():
    dicts = [d for i, d in enumerate(reference_dicts("A")) if i != 1]
    finding = only(setup("A", policies=dicts), NOTIFICATION_ROUTE_LOOPS)
    assert "the route of" in finding.message and finding.policies == ()


def test_loopcheck__setup_b_without_dsn_exemption__dsn_route_loops():
    dicts = reference_dicts("B")
    dicts[3]["except_if"] = dicts[3]["except_if"][3:]
    dicts[3]["except_if"][0]["join"] = "and"
    finding = only(setup("B", policies=dicts), DSN_ROUTE_LOOPS)
    assert finding.policies == ("Send all outbound mail by the loopback route",)


def test_loopcheck__everything_loops__the_simulation_stops():
    report = check_loops(setup("A", policies=[]))
    looped = [p for p in report.paths if p.outcome == "loops"]
    assert looped and all(len(p.steps) < 12 for p in report.paths)
    assert {f.code for f in report.findings} == {LOOP_ROUTE_UNCAUGHT, NOTIFICATION_ROUTE_LOOPS}


def test_loopcheck__invalid_stored_policy_is_reported():
    config = setup("A", invalid_policies=(("Broken", "then: needs at least one action"),))
    finding = only(config, POLICY_INVALID)
    assert finding.policies == ("Broken",)


def test_loopcheck__report_is_json_serialisable():
    dicts = reference_dicts("A")[1:]
    data = json.loads(json.dumps(check_loops(setup("A", policies=dicts)).to_dict()))
    assert data["ok"] is False
    assert data["findings"][0]["code"] == LOOP_ROUTE_UNCAUGHT
    assert {"scenario", "steps", "outcome"} <= set(data["paths"][0])


@pytest.mark.parametrize(
    ("host", "smtp_port", "expected"),
    [
        ("127.0.0.1:2525", 2525, True),
        ("127.0.0.1", 2525, False),  # a bare host means the delivery port, 25
        ("127.0.0.1", 25, True),
        ("localhost:2525", 2525, True),
        ("[::1]:2525", 2525, True),
        ("MAILGATE.localdomain:2525", 2525, True),
        ("127.0.0.2:2525", 2525, False),  # a partner test sink, not us
        ("mx.example.org:2525", 2525, False),
        ("not a host", 2525, False),
    ],
)
def test_loopcheck__host_is_self(host, smtp_port, expected):
    assert host_is_self(host, LoopConfig(smtp_port=smtp_port)) is expected


def test_loopcheck__a_fresh_install_has_no_finding():
    config = LoopConfig(
        routes={"Default": RouteInfo("Default")},
        sending_policies={"Default": SendingInfo("Default")},
        profiles={PROFILE: ProfileInfo(PROFILE, SENDER)},
    )
    assert check_loops(config).ok


def test_loopcheck__is_pure_python():
    code = (
        "import sys, policies.loopcheck; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'dns')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
