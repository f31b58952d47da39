"""The findings' words: what happens, and the fix, naming the objects involved.

The fixes quote the reference setup's policies as ``describe_policy`` words them, built by
``reference_policies``: the advice and the setup wizard never differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.engine import AddHeader, PolicySpec, Verdict, describe_policy, reference_policies
from policies.engine.patterns import compile_address_patterns
from policies.engine.reference import NOTIFICATION_HEADER

from .config import LoopConfig
from .findings import (
    DSN_REDIRECTED,
    DSN_ROUTE_LOOPS,
    ERROR,
    LOOP_ROUTE_UNCAUGHT,
    NOTIFICATION_REDIRECTED,
    NOTIFICATION_ROUTE_LOOPS,
    POLICY_INVALID,
    SENDER_CHECK_ONE_SIDE,
    WARNING,
    Finding,
)
from .messages import SimMessage

if TYPE_CHECKING:
    from .simulate import Journey

SETUP_HINT = "(manage.py secure_setup, or Delivery policies → Secure setup, builds it)"
CHECKS = {"envelope": "the envelope sender", "header": "the From header"}


def reference(config: LoopConfig, number: int) -> str:
    """Reference policy ``number`` (1-4) in the vendor's words, for this configuration."""
    profile = next(iter(config.profiles), "My delivery profile")
    specs = reference_policies("B", local_domain=config.local_domain, profile=profile)
    return f'"{describe_policy(specs[number - 1])}"'


def _names(*names: str | None) -> tuple[str, ...]:
    return tuple(n for n in names if n)


def loop_route_uncaught(
    config: LoopConfig, route: str, message: SimMessage, next_route: str
) -> Finding:
    ip = message.client_ip
    fix = (
        f"Put this policy at the top of the delivery policies {SETUP_HINT}: {reference(config, 1)}"
    )
    if ip != "127.0.0.1":
        fix = (
            f"Route '{route}' hands mail to {ip}, so it comes back from {ip}: write the host as "
            f"127.0.0.1, which the redirect policy matches. {fix}"
        )
    onward = "again" if next_route == route else f"on by route '{next_route}'"
    return Finding(
        ERROR,
        LOOP_ROUTE_UNCAUGHT,
        f"Mail to {message.domain} that cannot be delivered with TLS is handed back to Mailgate "
        f"by route '{route}' and arrives from {ip}, where no enabled policy redirects it to the "
        f"Secure Mailbox: it is sent {onward}, round and round until the hop limit holds it.",
        fix,
        routes=(route,),
        domains=(message.domain,),
    )


def _markers(config: LoopConfig) -> list[PolicySpec]:
    """Enabled policies that add the notification header."""
    return [
        p
        for p in config.policies
        if p.enabled
        and any(
            isinstance(a, AddHeader) and a.name.lower() == NOTIFICATION_HEADER.lower()
            for a in p.actions
        )
    ]


def _unmatched_patterns(policy: PolicySpec, sender: str) -> list[str]:
    out = []
    for cond in policy.if_conditions:
        if cond.kind == "sender_address" and not cond.negate:
            values = cond.params["values"]
            if compile_address_patterns(values).match(sender) is None:
                out.extend(values)
    return out


def notification_redirected(
    config: LoopConfig, j: Journey, verdict: Verdict, policy: str, severity: str
) -> Finding:
    sender = j.message.envelope_sender
    marked = NOTIFICATION_HEADER.lower() in j.message.context().headers or any(
        name.lower() == NOTIFICATION_HEADER.lower() for name, _ in verdict.headers_added
    )
    where = "as it is sent" if not j.reentries else "when it comes back from 127.0.0.1"
    if severity == WARNING:
        where = "if it ever came back from 127.0.0.1"
    involved = [policy]
    if marked:
        fix = (
            f"Policy '{policy}' redirects notifications although they carry "
            f"{NOTIFICATION_HEADER}: add 'or message contains header {NOTIFICATION_HEADER}' to its "
            "EXCEPT IF."
        )
    elif not (markers := _markers(config)):
        fix = (
            f"No enabled policy marks notifications from {sender} with {NOTIFICATION_HEADER}. Add "
            f"this policy {SETUP_HINT}: {reference(config, 3)}"
        )
    else:
        fix = _marker_fix(markers, sender, policy)
        involved.extend(m.name for m in markers)
    return Finding(
        severity,
        NOTIFICATION_REDIRECTED,
        f"A Secure Mailbox notification from {sender} to {j.message.domain} would be redirected "
        f"to the Secure Mailbox again by '{policy}' {where}: each redirect makes a new "
        "notification, an endless loop.",
        fix,
        policies=_names(*dict.fromkeys(involved)),
        domains=(j.message.domain,),
    )


def _marker_fix(markers: list[PolicySpec], sender: str, policy: str) -> str:
    for marker in markers:
        patterns = _unmatched_patterns(marker, sender)
        if patterns:
            shown = ", ".join(f"'{p}'" for p in patterns)
            return (
                f"The sender pattern {shown} of policy '{marker.name}' does not match {sender}, "
                "so notifications are never marked (in a pattern '.' is a literal dot and '*' "
                f"any text): use '{sender.partition('@')[0]}*@{sender.partition('@')[2]}'."
            )
    names = ", ".join(f"'{m.name}'" for m in markers)
    return (
        f"Policy {names} should mark notifications with {NOTIFICATION_HEADER} but does not reach "
        f"them: move it above '{policy}' and make sure no policy before it stops processing."
    )


def dsn_redirected(j: Journey, policy: str, severity: str) -> Finding:
    where = "when it comes back from 127.0.0.1" if j.reentries else "as it is sent"
    if severity == WARNING:
        where = "if it ever came back from 127.0.0.1"
    return Finding(
        severity,
        DSN_REDIRECTED,
        f"A delivery status notification (bounce) from Mailgate to {j.message.recipient} would be "
        f"redirected to the Secure Mailbox by '{policy}' {where}: the sender never learns "
        "that the message failed, and a notification about a bounce is made instead.",
        f"Add 'or message is a delivery status notification' to the EXCEPT IF of '{policy}'.",
        policies=(policy,),
        domains=(j.message.domain,),
    )


def notification_needs_tls(config: LoopConfig, j: Journey, route: str, host: str) -> Finding:
    sending = config.domain_sending(j.message.domain)
    return Finding(
        ERROR,
        NOTIFICATION_ROUTE_LOOPS,
        f"Notifications to {j.message.domain} must use TLS under sending policy "
        f"'{sending.name}', so for a partner without TLS route '{route}' hands them to {host}, "
        "back to Mailgate: the notification goes round instead of reaching the recipient.",
        f"Tick 'Do not use TLS for Secure Collaboration notifications' in sending connection "
        f"policy '{sending.name}' (a notification holds only a link).",
        routes=(route,),
        domains=(j.message.domain,),
    )


def notification_routed_back(j: Journey, route: str, host: str, policy: str | None) -> Finding:
    by = f"policy '{policy}' routes" if policy else f"the route of {j.message.domain} sends"
    return Finding(
        ERROR,
        NOTIFICATION_ROUTE_LOOPS,
        f"A notification that comes back from 127.0.0.1 is sent round again: {by} it by "
        f"'{route}', which hands it to {host}, Mailgate itself.",
        "Route looped-back notifications by a route that does not end at Mailgate, as the "
        "reference policy 2 does (IF sent from the notification sender and from IP 127.0.0.1 "
        f"and contains header {NOTIFICATION_HEADER} THEN route using 'Default').",
        policies=_names(policy),
        routes=(route,),
        domains=(j.message.domain,),
    )


def dsn_routed_back(j: Journey, route: str, host: str, policy: str | None) -> Finding:
    by = f"policy '{policy}' routes" if policy else f"the route of {j.message.domain} sends"
    return Finding(
        ERROR,
        DSN_ROUTE_LOOPS,
        f"A delivery status notification that comes back from 127.0.0.1 is sent round again: "
        f"{by} it by '{route}', which hands it to {host}, Mailgate itself.",
        f"Exempt looped-back DSNs from that route: add 'is sent from MAILER-DAEMON and from IP "
        f"127.0.0.1 and is a delivery status notification' to the EXCEPT IF of "
        f"'{policy or 'the policy choosing the route'}' (as the reference policy 4 does).",
        policies=_names(policy),
        routes=(route,),
        domains=(j.message.domain,),
    )


def sender_check_one_side(
    policy: str, check: str, patterns: tuple[str, ...], sender: str
) -> Finding:
    shown = ", ".join(f"'{p}'" for p in patterns)
    return Finding(
        WARNING,
        SENDER_CHECK_ONE_SIDE,
        f"Policy '{policy}' matches the notification sender {sender} with {shown} but checks "
        f"only {CHECKS.get(check, check)}; the reference setup checks the envelope sender and "
        "the From header, so a notification is recognised whichever side carries the address.",
        f"Edit '{policy}': set its sender address condition to check 'envelope sender and From "
        "header'.",
        policies=(policy,),
    )


def policy_invalid(name: str, error: str) -> Finding:
    return Finding(
        ERROR,
        POLICY_INVALID,
        f"Delivery policy '{name}' cannot be read ({error}); the worker refuses to run "
        "policies until it is fixed, so the loop check cannot judge them either.",
        f"Open '{name}' and save it with valid values, or delete it.",
        policies=(name,),
    )
