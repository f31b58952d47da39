"""The loop check: every way the configuration could make mail loop or be lost. Pure.

``check_loops(config)`` reads a ``LoopConfig`` (plain data) and returns a ``LoopReport``:

* it simulates the flow with the real, compiled policies (``policies.engine.evaluate``):
  an ordinary message from a LAN client (127.0.0.10) to each external domain and to one
  domain that has no entry; a Secure Mailbox notification to each of them (client IP None,
  tagged 'Secure Collaboration: PURL'); a DSN from Mailgate to a local sender; and each of
  these handed back to Mailgate from 127.0.0.1 wherever a route ends at Mailgate itself;
* it checks each delivery route that ends at Mailgate, even one no simulated message used;
* it checks sender conditions that see the notification sender on one side only.
"""

from __future__ import annotations

from policies.engine import RedirectSecureMailbox, Route, compile_ruleset, evaluate
from policies.engine.patterns import compile_address_patterns

from . import fixes
from .config import DEFAULT_NAME, LoopConfig, loopback_client_ip
from .findings import LoopReport
from .messages import dsn_message, notification_message, ordinary_message
from .simulate import Simulator

UNLISTED_DOMAIN = "unlisted-partner.example"


def recipients(config: LoopConfig) -> list[str]:
    """One recipient per external domain entry, and one at a domain without an entry."""
    domains = [d.domain for d in config.domains if d.domain != config.local_domain]
    return [f"bob@{d}" for d in dict.fromkeys([*domains, UNLISTED_DOMAIN])]


def notification_senders(config: LoopConfig) -> list[tuple[str, str]]:
    """(profile, sender) of the profiles enabled redirects use; every profile if none does."""
    used = [
        a.profile
        for p in config.policies
        if p.enabled
        for a in p.actions
        if isinstance(a, RedirectSecureMailbox)
    ]
    names = [n for n in dict.fromkeys(used) if n in config.profiles] or list(config.profiles)
    return [(n, config.profiles[n].notification_sender) for n in names]


def check_loops(config: LoopConfig) -> LoopReport:
    report = LoopReport()
    for name, error in config.invalid_policies:
        report.add(fixes.policy_invalid(name, error))
    ruleset = compile_ruleset(config.policies)
    sim = Simulator(config, ruleset, report)
    for rcpt in recipients(config):
        sim.run(ordinary_message(config.local_domain, rcpt), f"Message from the LAN to {rcpt}")
    for profile, sender in notification_senders(config):
        for rcpt in recipients(config):
            sim.run(
                notification_message(sender, rcpt),
                f"Notification ('{profile}') from {sender} to {rcpt}",
            )
    dsn_rcpt = f"alice@{config.local_domain}"
    sim.run(dsn_message(config.hostname, dsn_rcpt), f"Bounce from Mailgate to {dsn_rcpt}")
    _unexercised_routes(config, sim, report)
    _sender_checks(config, report)
    return report


def _referenced_routes(config: LoopConfig) -> list[str]:
    from_policies = [
        a.route for p in config.policies if p.enabled for a in p.actions if isinstance(a, Route)
    ]
    names = [DEFAULT_NAME, *(d.route for d in config.domains), *from_policies]
    return list(dict.fromkeys(names))


def _unexercised_routes(config: LoopConfig, sim: Simulator, report: LoopReport) -> None:
    """A route that ends at Mailgate but that no simulated message came back through (it is
    chosen by a recipient or subject condition, say): is its loop-back caught?"""
    for name in _referenced_routes(config):
        host = config.self_host(config.route(name))
        if host is None or name in sim.routes_back:
            continue
        domains = [d.domain for d in config.domains if d.route == name] or [UNLISTED_DOMAIN]
        message = ordinary_message(config.local_domain, f"bob@{domains[0]}")
        back = message.looped_back(loopback_client_ip(host))
        verdict = evaluate(sim.ruleset, back.context())
        if verdict.final is None:
            next_route = verdict.route or config.domain_route(back.domain)
            report.add(fixes.loop_route_uncaught(config, name, back, next_route))


def _sender_checks(config: LoopConfig, report: LoopReport) -> None:
    senders = [s for _, s in notification_senders(config)]
    for policy in config.policies:
        if not policy.enabled:
            continue
        for cond in (*policy.if_conditions, *policy.except_conditions):
            if cond.kind != "sender_address" or cond.params["check"] == "both":
                continue
            match = compile_address_patterns(cond.params["values"]).match
            for sender in senders:
                if match(sender) is not None:
                    report.add(
                        fixes.sender_check_one_side(
                            policy.name, cond.params["check"], cond.params["values"], sender
                        )
                    )
                    break
