"""``evaluate``: run a compiled ruleset over one message and return a ``Verdict``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .actions import Action, AddHeader, AddTag, RedirectSecureMailbox, Route
from .message import EvalState, MessageContext
from .ruleset import CompiledPolicy, ConditionGroup, Ruleset
from .trace import TraceEntry


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policies decided. Services carry it out; the trace is stored for tracking.

    ``final`` is None (deliver, via ``route`` or the domain's own route), ``"redirect"``
    (to the Secure Mailbox, ``profile``), ``"hold"`` or ``"reject"`` (with ``reason``).
    ``parse_notes`` are the message's ``parse_notes``: what could not be read and so counted
    as absent for every condition.
    """

    actions: tuple[Action, ...] = ()
    route: str | None = None
    headers_added: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    final: str | None = None
    profile: str | None = None
    reason: str | None = None
    trace: tuple[TraceEntry, ...] = ()
    parse_notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": [a.to_dict() for a in self.actions],
            "route": self.route,
            "headers_added": [[name, value] for name, value in self.headers_added],
            "tags": list(self.tags),
            "final": self.final,
            "profile": self.profile,
            "reason": self.reason,
            "trace": [t.to_dict() for t in self.trace],
            "parse_notes": list(self.parse_notes),
        }


class _Outcome:
    """The verdict being built; mutable only inside one ``evaluate`` call."""

    __slots__ = ("actions", "final", "headers", "profile", "reason", "route", "tags")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.route: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self.final: str | None = None
        self.profile: str | None = None
        self.reason: str | None = None

    def apply(self, action: Action, state: EvalState) -> None:
        self.actions.append(action)
        if isinstance(action, Route):
            self.route = action.route
        elif isinstance(action, AddHeader):
            self.headers.append((action.name, action.value))
            state.added_headers.setdefault(action.name.lower(), []).append(action.value)
        elif isinstance(action, AddTag):
            key = action.tag.strip().lower()
            if not any(t.strip().lower() == key for t in self.tags):
                self.tags.append(action.tag)
            state.tags.add(key)
        elif action.final is not None:
            self.final = action.final
            if isinstance(action, RedirectSecureMailbox):
                self.profile = action.profile
            else:
                self.reason = action.reason


def evaluate(ruleset: Ruleset, ctx: MessageContext) -> Verdict:
    """Run the ordered policies over ``ctx``; the contract is in the package docstring."""
    state = EvalState(ctx)
    outcome = _Outcome()
    trace: list[TraceEntry] = []
    policies = ruleset.policies
    for index, policy in enumerate(policies):
        if not policy.enabled:
            trace.append(policy.trace_disabled)
            continue
        matched = policy.match_if(state)
        if matched is None:
            trace.append(policy.trace_no_match)
            continue
        entry = _fire_unless_vetoed(policy, matched, state, outcome)
        trace.append(entry)
        if entry.stopped_here:
            trace.extend(p.trace_not_reached for p in policies[index + 1 :])
            break
    return Verdict(
        actions=tuple(outcome.actions),
        route=outcome.route,
        headers_added=tuple(outcome.headers),
        tags=tuple(outcome.tags),
        final=outcome.final,
        profile=outcome.profile,
        reason=outcome.reason,
        trace=tuple(trace),
        parse_notes=ctx.parse_notes,
    )


def _fire_unless_vetoed(
    policy: CompiledPolicy, matched: ConditionGroup, state: EvalState, outcome: _Outcome
) -> TraceEntry:
    spec = policy.spec
    veto = policy.match_except(state)
    if veto is not None:
        return TraceEntry(
            spec.id,
            spec.name,
            if_matched=True,
            if_reason=matched.description,
            except_vetoed_by=veto.description,
        )
    for action in policy.actions:
        outcome.apply(action, state)
    return TraceEntry(
        spec.id,
        spec.name,
        if_matched=True,
        if_reason=matched.description,
        fired=True,
        stopped_here=policy.stops,
    )
