"""The compiled ruleset of the enabled policies, cached in-process under ``PolicyVersion``.

Every change to a policy, its rows, or a route or profile it names bumps the version row
(``policies.signals``); ``get_ruleset()`` costs one single-row query when nothing changed,
and recompiles once when something did.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from mailgate.versions import VersionedCache
from policies.engine import PolicySpec, PolicySyntaxError, Ruleset, compile_ruleset

from .models import ContentPolicy, PolicyVersion


class PolicyLoadError(RuntimeError):
    """A stored policy does not compile (the forms prevent it; fail closed if it happens)."""


def policy_queryset() -> QuerySet[ContentPolicy]:
    """Policies in evaluation order, with the rows ``to_spec()`` reads."""
    return ContentPolicy.objects.order_by("position", "id").prefetch_related(
        "conditions", "actions__route", "actions__profile"
    )


def policy_specs(policies: Iterable[ContentPolicy]) -> list[PolicySpec]:
    """Validated engine specs; a malformed stored policy raises PolicyLoadError naming it."""
    specs = []
    for policy in policies:
        try:
            specs.append(PolicySpec.from_dict(policy.to_spec()))
        except PolicySyntaxError as error:
            raise PolicyLoadError(f"delivery policy '{policy.name}': {error}") from error
    return specs


def build_ruleset() -> Ruleset:
    """Compile the enabled policies, in order, from the database (no cache)."""
    return compile_ruleset(policy_specs(policy_queryset().filter(enabled=True)))


_rulesets = VersionedCache(PolicyVersion.current, build_ruleset)


def get_ruleset() -> Ruleset:
    """The enabled policies' ruleset, recompiled only when the version row changed."""
    return _rulesets.get()


def clear_cache() -> None:
    _rulesets.clear()
