"""The policy tester: run stored or draft policies over a raw message, with the trace."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policies.engine import (
    PolicySpec,
    Ruleset,
    Verdict,
    compile_ruleset,
    context_from_bytes,
    evaluate,
)
from policies.loader import get_ruleset, policy_queryset, policy_specs
from policies.models import ContentPolicy


class PolicyTestError(ValueError):
    """Input the policy tester cannot run (bad client IP, no message, bad policy choice)."""


def policy_test_run(
    raw: bytes,
    *,
    client_ip: str | None,
    envelope_sender: str,
    recipients: Sequence[str],
    tags: Iterable[str] = (),
    policies: Sequence[int | ContentPolicy | PolicySpec | Mapping[str, Any]] | None = None,
) -> Verdict:
    """Run policies over a raw message and return the verdict with its trace.

    ``policies``: None for the enabled policies in order; stored policies (ids or rows: run
    in their configured order, even when disabled); or draft specs (dicts or PolicySpec).
    A message whose headers cannot be read is still evaluated, as the worker would: what
    cannot be read counts as absent and the verdict's ``parse_notes`` say so. Raises
    PolicyTestError for a bad client IP or no message at all, and PolicySyntaxError for a
    malformed draft.
    """
    client_ip = _checked_ip(client_ip)
    if not raw.strip():
        raise PolicyTestError("there is no message: the input is empty")
    ctx = context_from_bytes(
        raw,
        client_ip=client_ip,
        envelope_sender=_bare_sender(envelope_sender),
        recipients=[r.strip() for r in recipients if r.strip()],
        tags=[t.strip() for t in tags if t.strip()],
    )
    return evaluate(_test_ruleset(policies), ctx)


def _checked_ip(client_ip: str | None) -> str | None:
    if client_ip is None or not client_ip.strip():
        return None
    text = client_ip.strip()
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise PolicyTestError(f"{text!r} is not an IPv4 or IPv6 address") from None
    return text


def _bare_sender(sender: str) -> str:
    text = sender.strip()
    return "" if text in ("", "<>") else text


def _test_ruleset(
    policies: Sequence[int | ContentPolicy | PolicySpec | Mapping[str, Any]] | None,
) -> Ruleset:
    if policies is None:
        return get_ruleset()
    stored = [p for p in policies if isinstance(p, int | ContentPolicy)]
    if not stored:
        return compile_ruleset(policies)  # type: ignore[arg-type]
    if len(stored) != len(policies):
        raise PolicyTestError("choose stored policies or draft policies, not both")
    ids = [p.pk if isinstance(p, ContentPolicy) else p for p in stored]
    rows = list(policy_queryset().filter(pk__in=ids))
    missing = sorted(set(ids) - {r.pk for r in rows})
    if missing:
        raise PolicyTestError(f"no delivery policy with id {', '.join(map(str, missing))}")
    for row in rows:
        row.enabled = True  # a policy chosen for the test runs, enabled or not
    return compile_ruleset(policy_specs(rows))
