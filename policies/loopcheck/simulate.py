"""Follow one synthetic message through Mailgate, hop by hop, with the real policies.

At each visit the compiled policies are evaluated (the engine's ``evaluate``), then the
message goes where the verdict sends it: the route a policy chose, else its domain's route.
Worst case for loops: every remote host may fail (no TLS, down), so a route that lists
Mailgate's own smtpd hands the message back, arriving from 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.engine import Route, Ruleset, Verdict, evaluate

from . import fixes
from .config import LoopConfig, loopback_client_ip
from .findings import ERROR, WARNING, LoopReport, PathReport
from .messages import DSN, NOTIFICATION, ORDINARY, SimMessage

MAX_REENTRIES = 2  # a path that re-enters Mailgate more than twice is a loop


@dataclass
class Journey:
    message: SimMessage
    scenario: str
    steps: list[str] = field(default_factory=list)
    reentries: int = 0
    came_back_via: str | None = None  # the route that handed the message back

    @property
    def where(self) -> str:
        if not self.reentries:
            return "first pass"
        return f"back from {self.message.client_ip} (hop {self.reentries})"


def fired_names(verdict: Verdict) -> list[str]:
    return [t.name for t in verdict.trace if t.fired]


def stopping_policy(verdict: Verdict) -> str:
    return next((t.name for t in verdict.trace if t.fired and t.stopped_here), "?")


def routing_policy(ruleset: Ruleset, verdict: Verdict) -> str | None:
    """The last fired policy with a route action (the one whose route won)."""
    by_name = {p.spec.name: p.spec for p in ruleset.policies}
    names = [
        n for n in fired_names(verdict) if any(isinstance(a, Route) for a in by_name[n].actions)
    ]
    return names[-1] if names else None


class Simulator:
    def __init__(self, config: LoopConfig, ruleset: Ruleset, report: LoopReport) -> None:
        self.config = config
        self.ruleset = ruleset
        self.report = report
        self.routes_back: set[str] = set()  # routes an ordinary message came back through

    def run(self, message: SimMessage, scenario: str) -> Journey:
        journey = Journey(message, scenario)
        outcome = self._follow(journey)
        self.report.paths.append(PathReport(scenario, tuple(journey.steps), outcome))
        return journey

    def _follow(self, j: Journey) -> str:
        while True:
            verdict = evaluate(self.ruleset, j.message.context())
            if verdict.final is not None:
                return self._final(j, verdict)
            out = j.message.after(verdict)
            route_name = verdict.route or self.config.domain_route(out.domain)
            sending = self.config.domain_sending(out.domain)
            tls = sending.requires_tls(notification_tagged=out.tagged)
            chosen = "chosen by a policy" if verdict.route else f"the route of {out.domain}"
            fired = ", ".join(f"'{n}'" for n in fired_names(verdict)) or "none"
            j.steps.append(
                f"{j.where}: policies fired: {fired}; route '{route_name}' ({chosen}); "
                f"sending policy '{sending.name}': TLS {'required' if tls else 'optional'}"
            )
            if j.reentries and j.message.kind == ORDINARY:
                self._uncaught(j, route_name)
            host = self.config.self_host(self.config.route(route_name))
            if host is None:
                self._probe_loopback(j, out)
                return f"leaves Mailgate by route '{route_name}'"
            self._check_reentry(j, verdict, route_name, host, tls)
            if j.reentries >= MAX_REENTRIES:
                j.steps.append(f"handed to {host} again: a loop (stopped after {j.reentries} hops)")
                self._loop(j, route_name)
                return "loops"
            ip = loopback_client_ip(host)
            j.steps.append(f"route '{route_name}' hands it to {host}: back to Mailgate from {ip}")
            j.message = out.looped_back(ip)
            j.reentries += 1
            j.came_back_via = route_name

    def _final(self, j: Journey, verdict: Verdict) -> str:
        policy = stopping_policy(verdict)
        if verdict.final != "redirect":
            j.steps.append(f"{j.where}: '{policy}' says {verdict.final}")
            return str(verdict.final)
        j.steps.append(f"{j.where}: '{policy}' redirects it to the Secure Mailbox")
        if j.message.kind == NOTIFICATION:
            self.report.add(fixes.notification_redirected(self.config, j, verdict, policy, ERROR))
        elif j.message.kind == DSN:
            self.report.add(fixes.dsn_redirected(j, policy, ERROR))
        elif j.came_back_via:
            self.routes_back.add(j.came_back_via)
        return "redirected to the Secure Mailbox"

    def _uncaught(self, j: Journey, route_name: str) -> None:
        via = j.came_back_via or route_name
        self.routes_back.add(via)
        self.report.add(fixes.loop_route_uncaught(self.config, via, j.message, route_name))

    def _check_reentry(
        self, j: Journey, verdict: Verdict, route_name: str, host: str, tls: bool
    ) -> None:
        kind = j.message.kind
        if kind == NOTIFICATION and not j.reentries and tls:
            self.report.add(fixes.notification_needs_tls(self.config, j, route_name, host))
        elif kind == NOTIFICATION and j.reentries:
            policy = routing_policy(self.ruleset, verdict) if verdict.route else None
            self.report.add(fixes.notification_routed_back(j, route_name, host, policy))
        elif kind == DSN and j.reentries:
            policy = routing_policy(self.ruleset, verdict) if verdict.route else None
            self.report.add(fixes.dsn_routed_back(j, route_name, host, policy))

    def _loop(self, j: Journey, route_name: str) -> None:
        if j.message.kind == ORDINARY:
            self._uncaught(j, route_name)

    def _probe_loopback(self, j: Journey, out: SimMessage) -> None:
        """A notification or DSN that never came back: would the policies redirect it if it
        did (a partner's route changed later, a host name that is us)? A warning."""
        if j.reentries or out.kind == ORDINARY:
            return
        back = out.looped_back("127.0.0.1")
        verdict = evaluate(self.ruleset, back.context())
        if verdict.final != "redirect":
            return
        policy = stopping_policy(verdict)
        probe = Journey(back, j.scenario, reentries=1)
        if out.kind == NOTIFICATION:
            finding = fixes.notification_redirected(self.config, probe, verdict, policy, WARNING)
        else:
            finding = fixes.dsn_redirected(probe, policy, WARNING)
        self.report.add(finding)
