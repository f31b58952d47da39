"""Model instances read, inserted and updated with SQL written once: for the few
statements that run for every message or every portal request.

Building a query costs the ORM several times what the database needs to answer it
(py-spy: ``Message.objects.get`` 293 µs, a message's recipients 316 µs, in-process on
SQLite; the statements themselves take a few tens). Here a model's column list is written
once per connection, and each row becomes an instance the way the ORM makes one: the
converters its compiler would apply (SQLite hands datetimes and JSON back as text), then
``Model.from_db``; the columns left out are deferred, loaded when first read.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Model

M = TypeVar("M", bound=Model)


class ModelColumns:
    """The selected columns of one model under a table alias, and how to build instances."""

    def __init__(self, model: type[Model], table: str, skip: tuple[str, ...], db: Any) -> None:
        self.model = model
        fields = [f for f in model._meta.concrete_fields if f.name not in skip]
        self.width = len(fields)
        self.attnames = [f.attname for f in fields]
        self.sql = ", ".join(f"{table}.{db.ops.quote_name(f.column)}" for f in fields)
        converters = []
        for i, field in enumerate(fields):
            column = field.get_col(table)
            found = [*db.ops.get_db_converters(column), *field.get_db_converters(db)]
            if found:
                converters.append((i, column, found))
        self._converters = converters

    def build(self, db: Any, values: list[Any]) -> Any:
        """An instance from `values` (a row's slice for this model; changed in place)."""
        for i, column, converters in self._converters:
            for convert in converters:
                values[i] = convert(values[i], column, db)
        return self.model.from_db(db.alias, self.attnames, values)


@functools.lru_cache(maxsize=64)
def model_columns(
    model: type[Model], db: Any, table: str = "t", skip: tuple[str, ...] = ()
) -> ModelColumns:
    """Cached per connection (a thread's): the converters are its backend's."""
    return ModelColumns(model, table, skip, db)


def rows_select(
    model: type[M], where: str, params: Sequence[Any], *, order_by: str = ""
) -> list[M]:
    """``SELECT <every column> FROM <model's table> t WHERE <where> [ORDER BY ...]``.

    `where` and `order_by` are SQL over the alias ``t`` with ``%s`` placeholders: written
    by the caller, never from input (the values go in `params`)."""
    db = connections[router.db_for_read(model)]
    columns = model_columns(model, db)
    table = db.ops.quote_name(model._meta.db_table)
    sql = f"SELECT {columns.sql} FROM {table} t WHERE {where}"  # noqa: S608 (see above)
    if order_by:
        sql += f" ORDER BY {order_by}"
    with db.cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    return [columns.build(db, list(row)) for row in rows]


@functools.lru_cache(maxsize=64)
def _insert_statement(model: type[Model], db: Any) -> tuple[str, list[Any], str]:
    """INSERT of every column but the primary key, and the RETURNING clause that reads the
    key back ("" where the database cannot)."""
    quote = db.ops.quote_name
    fields: list[Any] = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    pk = quote(str(model._meta.pk.column))  # type: ignore[union-attr]
    returning = f" RETURNING {pk}" if db.features.can_return_columns_from_insert else ""
    return sql, fields, returning


def _insert_values(obj: Model, fields: list[Any], db: Any) -> list[Any]:
    """What ``Model.save`` would write: each field's ``pre_save`` (defaults, ``auto_now``,
    set on the object too) through ``get_db_prep_save``."""
    return [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]


def row_insert(obj: Model) -> None:
    """Insert `obj` as ``save(force_insert=True)`` would, and set its primary key. No
    ``pre_save``/``post_save`` signal is sent: only for models nothing listens to."""
    db = connections[router.db_for_write(type(obj))]
    sql, fields, returning = _insert_statement(type(obj), db)
    with db.cursor() as cursor:
        cursor.execute(sql + returning, _insert_values(obj, fields, db))
        obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj._state.adding, obj._state.db = False, db.alias


def rows_insert(model: type[Model], objs: Sequence[Model]) -> None:
    """Insert `objs` in one ``executemany``, as ``bulk_create`` would (their primary keys
    are not read back). No signal is sent."""
    if not objs:
        return
    db = connections[router.db_for_write(model)]
    sql, fields, _ = _insert_statement(model, db)
    with db.cursor() as cursor:
        cursor.executemany(sql, [_insert_values(obj, fields, db) for obj in objs])


def rows_update(
    model: type[Model], values: dict[str, Any], where: str, params: Sequence[Any]
) -> int:
    """``UPDATE <model's table> SET <values> WHERE <where>``; the number of rows changed.

    As ``QuerySet.update``: each value goes through its field's ``get_db_prep_save`` (JSON,
    datetimes), and no ``auto_now`` field is touched unless it is in `values`. `where` is
    SQL over the bare column names with ``%s`` placeholders, written by the caller; its
    `params` must already be database values (see `db_value`)."""
    db = connections[router.db_for_write(model)]
    quote = db.ops.quote_name
    fields: list[Any] = [model._meta.get_field(name) for name in values]
    sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
    prepared = [f.get_db_prep_save(v, db) for f, v in zip(fields, values.values(), strict=True)]
    table = quote(model._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {sets} WHERE {where}", [*prepared, *params])  # noqa: S608
        return int(cursor.rowcount)


def db_value(model: type[Model], name: str, value: Any) -> Any:
    """`value` as the database compares it in the column of field `name` (a `where` param)."""
    db = connections[router.db_for_write(model)]
    field: Any = model._meta.get_field(name)
    return field.get_db_prep_value(value, db, prepared=False)
