"""Many rows into one table at once, with their new ids (the bulk import, the audit trail's batches)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.models.base import UTCDateTime


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT ``rows`` into ``table`` and return their new ids, in the order of ``rows``.

    PostgreSQL: one batched ``INSERT … RETURNING id`` in parameter order. SQLite: SQLAlchemy can only keep
    RETURNING in parameter order there by inserting one row per statement, so the rows go in one
    ``executemany`` and the ids are read back: the writer holds SQLite's write lock (BEGIN IMMEDIATE) and
    each new row's id is above every id before it, so the newest ``len(rows)`` ids are these rows'.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, rows))
    session.flush()  # rows the session holds for the table go in first, not between these and the read
    with session.no_autoflush:
        executemany(session, table, rows)
        ids = list(session.scalars(select(table.c.id).order_by(table.c.id.desc()).limit(len(rows))))[::-1]
    if len(ids) != len(rows):
        raise RuntimeError(f"{table.name}: inserted {len(rows)} rows but found {len(ids)} new ids")
    return ids


def executemany(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``session.execute(insert(table), rows)``, the same rows written. On SQLite the statement is
    compiled once per table and columns, and each row goes through the columns' own bind processors and Python
    defaults straight to the driver's executemany. SQLAlchemy's own executemany prepares every parameter set
    through its compiled statement, which was about a fifth of a large import (bench/RESULTS.md run 18). Rows
    with differing keys go SQLAlchemy's way (which takes its columns from the first row)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    keys = tuple(rows[0])
    if dialect.name != "sqlite" or any(row.keys() != rows[0].keys() for row in rows):
        session.execute(insert(table), rows)
        return
    sql, prepare = _compiled(table, keys, dialect)
    session.connection().exec_driver_sql(sql, [tuple(value(row) for value in prepare) for row in rows])


_Prepare = Callable[[dict[str, Any]], Any]
_COMPILED: dict[tuple[str, tuple[str, ...], str], tuple[str, list[_Prepare]]] = {}


def _compiled(table: Table, keys: tuple[str, ...], dialect: Dialect) -> tuple[str, list[_Prepare]]:
    """The INSERT for ``keys`` plus every column with a Python default, and for each of its parameters in order a
    function of a row giving the driver's value (the row's value or the default, through the bind processor)."""
    cache_key = (table.name, keys, dialect.name)
    found = _COMPILED.get(cache_key)
    if found is not None:
        return found
    defaulted = [c.name for c in table.c if c.name not in keys and c.default is not None]
    compiled = insert(table).compile(dialect=dialect, column_keys=[*keys, *defaulted])
    columns = list(compiled.positiontup or [])
    if sorted(columns) != sorted([*keys, *defaulted]):
        raise RuntimeError(f"{table.name}: unexpected parameters {columns}")
    prepare = [_preparer(table, name, name in keys, dialect) for name in columns]
    found = _COMPILED[cache_key] = (str(compiled), prepare)
    return found


def _preparer(table: Table, name: str, given: bool, dialect: Dialect) -> _Prepare:
    column = table.c[name]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is not None and isinstance(column.type, UTCDateTime):
        # A batch's rows mostly carry the same few moments (the import's "now" in every row of five tables), and
        # converting one to SQLite's text is the dearest of the row's values; the result depends on the value alone.
        process = lru_cache(maxsize=256)(process)
    if given:
        if process is None:
            return lambda row: row[name]
        return lambda row: process(row[name])  # None too, as SQLAlchemy does (JSON's None is 'null')
    default = column.default
    assert default is not None
    if default.is_callable:
        make = default.arg  # SQLAlchemy's wrapper, which takes the execution context; ours ignore it
        value_of: _Prepare = lambda _row: make(None)  # noqa: E731
    else:
        constant = default.arg
        value_of = lambda _row: constant  # noqa: E731
    if process is None:
        return value_of
    return lambda row: process(value_of(row))
