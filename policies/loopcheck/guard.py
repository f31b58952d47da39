"""The loop check before a policy change is applied (issue 6), the Django side.

The change is made in a transaction, the loop check reads the configuration as it would be,
and the transaction is rolled back when that adds error findings the configuration did not
have before (the same exact dry run as ``policies.setup``). An admin may apply it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction

from .collect import loop_check_run
from .findings import ERROR, Finding, LoopReport

T = TypeVar("T")


@dataclass(frozen=True)
class ChangeCheck:
    """What a change adds to the loop check: errors block it, warnings are only shown."""

    new_errors: tuple[Finding, ...] = ()
    new_warnings: tuple[Finding, ...] = ()
    blocked: bool = False  # not applied, for the new errors

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (*self.new_errors, *self.new_warnings)


def findings_added(before: LoopReport, after: LoopReport) -> ChangeCheck:
    """The findings of ``after`` that ``before`` did not have; an error that was only a
    warning before is new."""
    errors = {f.key for f in before.findings if f.severity == ERROR}
    seen = {f.key for f in before.findings}
    return ChangeCheck(
        new_errors=tuple(f for f in after.findings if f.severity == ERROR and f.key not in errors),
        new_warnings=tuple(f for f in after.findings if f.severity != ERROR and f.key not in seen),
    )


def change_loop_checked(
    change: Callable[[], T | None], *, force: bool = False
) -> tuple[T | None, ChangeCheck]:
    """Apply ``change`` unless it adds loop check errors (``force``: apply it anyway).

    ``change`` writes and returns what it wrote, or None when it wrote nothing (a form
    error): then no check is made. Returns (what was written or None, the check).
    """
    before = loop_check_run()
    with transaction.atomic():
        result = change()
        if result is None:
            return None, ChangeCheck()
        check = findings_added(before, loop_check_run())
        if check.new_errors and not force:
            transaction.set_rollback(True)
            return None, ChangeCheck(check.new_errors, check.new_warnings, blocked=True)
    return result, check
