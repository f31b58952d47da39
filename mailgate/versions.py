"""In-process caches keyed on a version row, and the signals that bump the row.

``PolicyVersion`` (the compiled ruleset, policies/loader.py) and ``ConfigVersion`` (routes,
sending policies, domains, relay/selectors.py) are read for every message the worker
handles. The ORM spends about ten times the query's own cost building such a query (py-spy
on the worker), so the read is plain SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")


def token_read(table: str, row_id: int) -> str:
    """The ``token`` column of the row `row_id` of `table`; "" when there is no such row."""
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {quoted} WHERE id = %s", [row_id])  # noqa: S608
        row = cursor.fetchone()
    return str(row[0]) if row and row[0] else ""


class VersionedCache(Generic[T]):
    """One value per process, rebuilt only when the version token changed.

    The version is read before the rows: a change in between makes the next call rebuild.
    Two threads that find it stale at once build it once."""

    def __init__(self, version: Callable[[], str], build: Callable[[], T]) -> None:
        self._version = version
        self._build = build
        self._lock = threading.Lock()
        self._cached: tuple[str, T] | None = None

    def get(self) -> T:
        version = self._version()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == version:
                return cached[1]
            value = self._build()
            self._cached = (version, value)
            return value

    def clear(self) -> None:
        self._cached = None


def bump_on_change(models: Iterable[type[Any]], bump: Callable[[], None], prefix: str) -> None:
    """Call `bump` after every save and delete of `models`, in the change's transaction, so
    that other processes see the new version exactly when they see the new rows. Writes that
    send no signals (``update()``, ``bulk_create``) must bump themselves."""

    def changed(sender: Any, raw: bool = False, **kwargs: Any) -> None:
        if raw:  # loaddata: the fixture brings its own rows
            return
        bump()

    for model in models:
        uid = f"{prefix}.bump.{model._meta.label_lower}"
        post_save.connect(changed, sender=model, dispatch_uid=f"{uid}.save", weak=False)
        post_delete.connect(changed, sender=model, dispatch_uid=f"{uid}.delete", weak=False)
