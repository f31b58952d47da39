"""Compiling specs into a frozen ``Ruleset``: the form ``evaluate`` runs, built once per change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .actions import Action
from .conditions import Check, handler_for
from .errors import PolicySyntaxError
from .message import EvalState
from .specs import ConditionSpec, PolicySpec
from .trace import TraceEntry


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """``test`` already includes the negation: it answers "does this condition hold?"."""

    test: Check
    description: str


@dataclass(frozen=True, slots=True)
class ConditionGroup:
    """Conditions joined by ``and``; a policy's IF (or EXCEPT IF) is an OR of these groups."""

    conditions: tuple[CompiledCondition, ...]
    description: str
    #: does every condition of the group hold? (one call; short-circuits like ``and``)
    test: Check


#: Returns the first group that holds, or None.
Matcher = Callable[[EvalState], ConditionGroup | None]
ALWAYS = ConditionGroup((), "always", lambda state: True)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    spec: PolicySpec
    enabled: bool
    if_groups: tuple[ConditionGroup, ...]
    except_groups: tuple[ConditionGroup, ...]
    #: the IF's first matching group (``ALWAYS`` for an empty IF), or None
    match_if: Matcher
    #: the EXCEPT IF's first matching group (never one for an empty EXCEPT IF), or None
    match_except: Matcher
    actions: tuple[Action, ...]
    #: True when processing ends after this policy fires (no "continue", or a final action).
    stops: bool
    # Shared, immutable trace entries for the common outcomes (no allocation per message).
    trace_disabled: TraceEntry
    trace_no_match: TraceEntry
    trace_not_reached: TraceEntry


@dataclass(frozen=True, slots=True)
class Ruleset:
    policies: tuple[CompiledPolicy, ...]
    #: the condition kinds used by enabled policies (e.g. skip attachment scanning without one)
    kinds: frozenset[str] = frozenset()

    @property
    def specs(self) -> tuple[PolicySpec, ...]:
        return tuple(p.spec for p in self.policies)


def compile_ruleset(specs: Iterable[PolicySpec | Mapping[str, Any]]) -> Ruleset:
    """Compile policies, in evaluation order; dicts go through ``PolicySpec.from_dict``.

    Raises PolicySyntaxError (field prefixed with the policy's position, e.g. ``[2].if[0]...``)
    for malformed input or a repeated policy id.
    """
    compiled: list[CompiledPolicy] = []
    seen: set[int] = set()
    for index, spec in enumerate(specs):
        try:
            if not isinstance(spec, PolicySpec):
                spec = PolicySpec.from_dict(spec)
            if spec.id in seen:
                raise PolicySyntaxError("id", f"policy id {spec.id} is used twice")
            seen.add(spec.id)
            compiled.append(compile_policy(spec))
        except PolicySyntaxError as error:
            raise error.within(f"[{index}]") from None
    kinds = frozenset(
        c.kind
        for p in compiled
        if p.spec.enabled
        for c in (*p.spec.if_conditions, *p.spec.except_conditions)
    )
    return Ruleset(tuple(compiled), kinds)


def compile_policy(spec: PolicySpec) -> CompiledPolicy:
    def entry(**kwargs: Any) -> TraceEntry:
        return TraceEntry(policy_id=spec.id, name=spec.name, **kwargs)

    if_groups = compile_groups(spec.if_conditions)
    except_groups = compile_groups(spec.except_conditions)
    return CompiledPolicy(
        spec=spec,
        enabled=spec.enabled,
        if_groups=if_groups,
        except_groups=except_groups,
        match_if=first_of(if_groups or (ALWAYS,)),
        match_except=first_of(except_groups),
        actions=spec.actions,
        stops=not spec.continue_processing or any(a.final for a in spec.actions),
        trace_disabled=entry(skipped_disabled=True),
        trace_no_match=entry(),
        trace_not_reached=entry(reached=False),
    )


def compile_groups(conditions: Iterable[ConditionSpec]) -> tuple[ConditionGroup, ...]:
    """Split at each ``or``: ``a and b or c`` is ``(a and b) or (c)`` — ``and`` binds tighter."""
    groups: list[list[CompiledCondition]] = []
    for index, condition in enumerate(conditions):
        if index == 0 or condition.join == "or":
            groups.append([])
        groups[-1].append(compile_condition(condition))
    return tuple(
        ConditionGroup(tuple(g), " and ".join(c.description for c in g), all_of(g)) for g in groups
    )


def all_of(conditions: list[CompiledCondition]) -> Check:
    """One callable for an AND-group; the common short groups avoid a Python loop."""
    tests = tuple(c.test for c in conditions)
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda state: first(state) and second(state)
    return lambda state: all(test(state) for test in tests)


def first_of(groups: tuple[ConditionGroup, ...]) -> Matcher:
    """The OR of the groups, answering which group held first."""
    if not groups:
        return lambda state: None
    if len(groups) == 1:
        (only,) = groups
        test = only.test
        return lambda state: only if test(state) else None

    def first(state: EvalState) -> ConditionGroup | None:
        for group in groups:
            if group.test(state):
                return group
        return None

    return first


def compile_condition(condition: ConditionSpec) -> CompiledCondition:
    handler = handler_for(condition.kind)
    check = handler.compile(condition.params)
    if condition.negate:
        return CompiledCondition(_negated(check), condition.describe())
    return CompiledCondition(check, condition.describe())


def _negated(check: Check) -> Check:
    return lambda state: not check(state)
