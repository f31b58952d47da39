"""Hypothesis properties of evaluate (STYLE.md "Tests"), against a naive reference evaluator.

The generated world: tags t0..t4 (which actions can also add), a few client IPs, DSN or not.
Condition truth there is easy to state independently of the engine.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.engine import (
    AddHeader,
    AddTag,
    ConditionSpec,
    Hold,
    MessageContext,
    PolicySpec,
    RedirectSecureMailbox,
    Reject,
    Route,
    compile_ruleset,
    evaluate,
)

TAGS = [f"t{i}" for i in range(5)]
IPS = ["10.0.0.1", "10.0.0.2", "127.0.0.1", None]
NEVER = ConditionSpec("tags_any", {"values": ["never-added"]})
ALWAYS = ConditionSpec("tags_any", {"values": ["never-added"]}, negate=True)

joins = st.sampled_from(["and", "or"])
conditions = st.one_of(
    st.builds(
        lambda tags, neg, join: ConditionSpec("tags_any", {"values": tags}, neg, join),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        st.booleans(),
        joins,
    ),
    st.builds(
        lambda tags, neg, join: ConditionSpec("tags_none", {"values": tags}, neg, join),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        st.booleans(),
        joins,
    ),
    st.builds(
        lambda ips, neg, join: ConditionSpec("sender_ip", {"values": ips}, neg, join),
        st.lists(st.sampled_from(IPS[:3]), min_size=1, max_size=2),
        st.booleans(),
        joins,
    ),
    st.builds(lambda neg, join: ConditionSpec("is_dsn", {}, neg, join), st.booleans(), joins),
)
plain_actions = st.one_of(
    st.builds(AddTag, st.sampled_from(TAGS)),
    st.builds(Route, st.sampled_from(["R1", "R2", "R3"])),
    st.builds(AddHeader, st.just("X-Seen"), st.sampled_from(["a", "b"])),
)
final_actions = st.one_of(
    st.builds(RedirectSecureMailbox, st.just("P")),
    st.builds(Hold, st.just("h")),
    st.builds(Reject, st.just("r")),
)


@st.composite
def action_lists(draw):
    actions = draw(st.lists(plain_actions, min_size=1, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        actions.insert(draw(st.integers(0, len(actions))), draw(final_actions))
    return tuple(actions)


@st.composite
def policy_lists(draw, max_size=6):
    specs = []
    for pid in range(1, draw(st.integers(0, max_size)) + 1):
        specs.append(
            PolicySpec(
                id=pid,
                name=f"p{pid}",
                if_conditions=tuple(draw(st.lists(conditions, max_size=4))),
                except_conditions=tuple(draw(st.lists(conditions, max_size=3))),
                actions=draw(action_lists()),
                enabled=draw(st.integers(0, 5)) > 0,
                continue_processing=draw(st.booleans()),
            )
        )
    return specs


contexts = st.builds(
    lambda ip, tags, dsn: MessageContext(client_ip=ip, tags=frozenset(tags), is_dsn=dsn, size=1),
    st.sampled_from(IPS),
    st.sets(st.sampled_from(TAGS)),
    st.booleans(),
)


def truth(condition: ConditionSpec, ctx: MessageContext, tags: set[str]) -> bool:
    values = condition.params.get("values", ())
    result = {
        "tags_any": lambda: bool(set(values) & tags),
        "tags_none": lambda: not set(values) & tags,
        "sender_ip": lambda: ctx.client_ip in values,
        "is_dsn": lambda: ctx.is_dsn,
    }[condition.kind]()
    return result != condition.negate


def python_expression(conds, ctx, tags) -> bool:
    """Python's own ``and``/``or`` precedence: the reference for ours."""
    if not conds:
        return True
    words = [str(truth(conds[0], ctx, tags))]
    for cond in conds[1:]:
        words += [cond.join, str(truth(cond, ctx, tags))]
    return eval(" ".join(words))  # only True/False/and/or literals


def naive_evaluate(specs, ctx):
    """A straightforward re-statement of the contract, for comparison."""
    tags = set(ctx.tags)
    applied, fired = [], []
    for spec in specs:
        if not spec.enabled or not python_expression(spec.if_conditions, ctx, tags):
            continue
        if spec.except_conditions and python_expression(spec.except_conditions, ctx, tags):
            continue
        fired.append(spec.id)
        applied.extend(spec.actions)
        tags |= {a.tag for a in spec.actions if isinstance(a, AddTag)}
        if not spec.continue_processing or any(a.final for a in spec.actions):
            break
    return applied, fired


@settings(max_examples=400, deadline=None)
@given(policy_lists(), contexts)
def test_engine_agrees_with_the_naive_reference(specs, ctx):
    verdict = evaluate(compile_ruleset(specs), ctx)
    applied, fired = naive_evaluate(specs, ctx)
    assert list(verdict.actions) == applied
    assert [t.policy_id for t in verdict.trace if t.fired] == fired


@settings(max_examples=300, deadline=None)
@given(st.lists(conditions, min_size=1, max_size=8), contexts)
def test_and_binds_tighter_than_or(conds, ctx):
    spec = PolicySpec(1, "p", tuple(conds), (), (AddTag("hit"),))
    entry = evaluate(compile_ruleset([spec]), ctx).trace[0]
    assert entry.if_matched == python_expression(conds, ctx, set(ctx.tags))


@settings(max_examples=300, deadline=None)
@given(policy_lists(max_size=5), contexts, st.data())
def test_a_matching_except_if_never_lets_a_policy_fire(specs, ctx, data):
    if not specs:
        return
    k = data.draw(st.integers(0, len(specs) - 1))
    target = specs[k]
    extra = ConditionSpec(ALWAYS.kind, ALWAYS.params, True, "or")
    vetoing = PolicySpec(
        target.id,
        target.name,
        target.if_conditions,
        (*target.except_conditions, extra),
        target.actions,
        target.enabled,
        target.continue_processing,
    )
    specs[k] = vetoing
    entry = evaluate(compile_ruleset(specs), ctx).trace[k]
    assert not entry.fired and not entry.stopped_here
    if entry.if_matched:
        assert entry.except_vetoed_by is not None


@settings(max_examples=300, deadline=None)
@given(policy_lists(), contexts)
def test_order_is_respected(specs, ctx):
    verdict = evaluate(compile_ruleset(specs), ctx)
    assert [t.policy_id for t in verdict.trace] == [s.id for s in specs]
    fired = [s for s, t in zip(specs, verdict.trace, strict=True) if t.fired]
    assert list(verdict.actions) == [a for s in fired for a in s.actions]
    routes = [a.route for a in verdict.actions if isinstance(a, Route)]
    assert verdict.route == (routes[-1] if routes else None)
    stops = [i for i, t in enumerate(verdict.trace) if t.stopped_here]
    assert len(stops) <= 1
    if stops:
        assert all(not t.reached for t in verdict.trace[stops[0] + 1 :])


@settings(max_examples=300, deadline=None)
@given(policy_lists(max_size=5), contexts, action_lists(), st.data())
def test_a_policy_that_never_matches_changes_nothing(specs, ctx, actions, data):
    others = data.draw(st.lists(conditions, max_size=3))
    never = PolicySpec(
        99,
        "never",
        (NEVER, *(ConditionSpec(c.kind, c.params, c.negate, "and") for c in others)),
        tuple(data.draw(st.lists(conditions, max_size=2))),
        actions,
        continue_processing=data.draw(st.booleans()),
    )
    before = evaluate(compile_ruleset(specs), ctx)
    k = data.draw(st.integers(0, len(specs)))
    after = evaluate(compile_ruleset([*specs[:k], never, *specs[k:]]), ctx)
    strip = lambda v: {**v.to_dict(), "trace": None}  # noqa: E731
    assert strip(before) == strip(after)
    assert [t for t in after.trace if t.policy_id != 99] == list(before.trace)
    assert not after.trace[k].fired
