"""Reading the version rows that the in-process caches are keyed on.

``PolicyVersion`` (the compiled ruleset) and ``ConfigVersion`` (routes, sending policies,
domains) are read for every message the worker handles. The ORM spends about ten times the
query's own cost building such a query (py-spy on the worker), so the read is plain SQL.
"""

from __future__ import annotations

from django.db import connection


def token_read(table: str, row_id: int) -> str:
    """The ``token`` column of the row `row_id` of `table`; "" when there is no such row."""
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {quoted} WHERE id = %s", [row_id])  # noqa: S608
        row = cursor.fetchone()
    return str(row[0]) if row and row[0] else ""
