"""Many rows into one table at once, with their new ids (the bulk import, the audit trail's batches)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.models.base import UTCDateTime


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT ``rows`` into ``table`` and return their new ids, in the order of ``rows``.

    PostgreSQL: a batch of ``STAGED_FROM_ROWS`` rows or more takes its ids from the table's sequence first (in
    ascending order, one to each row in turn), is COPYed with them into a staging table and goes into the table
    by one ``INSERT … SELECT``. A smaller one goes by the driver's executemany of a one-row ``INSERT … RETURNING
    id``, which psycopg sends in one pipeline and answers with one result per row, in order. (SQLAlchemy's batched
    ``INSERT … VALUES (…), (…) RETURNING`` sends a statement of thousands of parameters that psycopg parses afresh
    every time, being too long for its cache: 26-30 ms against 5.3-5.6 for 500 rows, bench/RESULTS.md run 24.
    Being the driver's own calls, neither passes through SQLAlchemy's cursor events.) SQLite: SQLAlchemy can only
    keep RETURNING in parameter order there by inserting one row per statement, so the rows go in one
    ``executemany`` and the ids are read back: the writer holds SQLite's write lock (BEGIN IMMEDIATE) and
    each new row's id is above every id before it, so the newest ``len(rows)`` ids are these rows'.
    Rows with differing keys go SQLAlchemy's way.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    same_keys = all(row.keys() == rows[0].keys() for row in rows)
    if dialect.name == "postgresql" and same_keys:
        return _by_driver(session, table, rows, dialect, returning=True)
    if dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, rows))
    session.flush()  # rows the session holds for the table go in first, not between these and the read
    with session.no_autoflush:
        executemany(session, table, rows)
        ids = list(session.scalars(select(table.c.id).order_by(table.c.id.desc()).limit(len(rows))))[::-1]
    if len(ids) != len(rows):
        raise RuntimeError(f"{table.name}: inserted {len(rows)} rows but found {len(ids)} new ids")
    return ids


def _by_driver(session: Session, table: Table, rows: list[dict[str, Any]], dialect: Dialect, *,
               returning: bool) -> list[int]:
    """PostgreSQL: the rows by the driver's own calls, in the session's transaction (see ``insert_rows``); their new
    ids in the order of ``rows`` when ``returning``."""
    session.flush()  # as SQLAlchemy's own execution would (autoflush): the session's pending rows go first
    sql, parameters, columns = _compiled(table, tuple(rows[0]), dialect, returning=returning)
    values = [parameters(row) for row in rows]
    connection = session.connection()  # the session's, so the rows are part of its transaction
    driver_connection = connection.connection.dbapi_connection
    cursor = driver_connection.cursor()  # type: ignore[union-attr]
    ids: list[int] = []
    statement = sql  # the one the driver is running, for the error
    try:
        if len(rows) >= STAGED_FROM_ROWS and "id" not in columns:
            staged = ("id", *columns) if returning else columns
            stage = _staging(table, staged, dialect)
            if returning:
                # The new ids are taken first, in ascending order, and given to the rows in order: which row gets
                # which id never depends on the order an INSERT … SELECT happens to write them in.
                statement = _TAKE_IDS
                cursor.execute(statement, (table.name, len(rows)))
                ids = sorted(row[0] for row in cursor.fetchall())
                if None in ids:
                    raise RuntimeError(f"{table.name}.id has no sequence to take new ids from")
            statement = stage.create
            cursor.execute(statement)
            statement = stage.fill
            with cursor.copy(statement) as copy:
                for position, named in enumerate(values):
                    row_values = [named[column] for column in columns]  # type: ignore[call-overload]
                    copy.write_row([*([ids[position]] if returning else []), *row_values, position])
            statement = stage.copy
            cursor.execute(statement)
            statement = stage.empty
            cursor.execute(statement)
        else:
            cursor.executemany(sql, values, returning=returning)
            while returning:
                ids.append(cursor.fetchone()[0])
                if not cursor.nextset():
                    break
    except dialect.loaded_dbapi.Error as error:
        # Raised as SQLAlchemy raises a driver's error (IntegrityError, OperationalError, …), so callers that handle
        # those (the worker, the commands) handle this too; a lost connection is dropped from the pool.
        lost = dialect.is_disconnect(error, driver_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                  connection_invalidated=lost, dialect=dialect, ismulti=True) from error
    finally:
        cursor.close()
    if returning and len(ids) != len(rows):
        raise RuntimeError(f"{table.name}: inserted {len(rows)} rows but was given {len(ids)} new ids")
    return ids


def executemany(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``session.execute(insert(table), rows)``, the same rows written. On SQLite the INSERT is written once per
    table and columns, and each row goes through the columns' own bind processors and Python defaults straight to
    the driver's executemany. SQLAlchemy's own executemany prepares every parameter set through its compiled
    statement, which was about a fifth of a large import (bench/RESULTS.md run 18). On both databases a batch of
    ``STAGED_FROM_ROWS`` rows or more goes through a staging table (``_staging``; COPY on PostgreSQL) and into its
    table by one INSERT … SELECT. Rows with differing keys go SQLAlchemy's way (which takes its columns from the
    first row)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    keys = tuple(rows[0])
    same_keys = all(row.keys() == rows[0].keys() for row in rows)
    if dialect.name == "postgresql" and same_keys and len(rows) >= STAGED_FROM_ROWS:
        _by_driver(session, table, rows, dialect, returning=False)
        return
    if dialect.name != "sqlite" or not same_keys:
        session.execute(insert(table), rows)
        return
    sql, parameters, columns = _compiled(table, keys, dialect)
    values = [parameters(row) for row in rows]
    connection = session.connection()
    if len(rows) < STAGED_FROM_ROWS:
        connection.exec_driver_sql(sql, values)
        return
    # Through a staging table: SQLite pays its per-statement costs (the table's triggers, its full-text indexes'
    # savepoints) once for the batch instead of once per row (the 20,000-row import's incidents: 1.65 s as rows,
    # 0.41 s staged; bench/RESULTS.md run 29).
    stage = _staging(table, columns, dialect)
    connection.exec_driver_sql(stage.create)
    try:
        connection.exec_driver_sql(stage.fill, values)
        connection.exec_driver_sql(stage.copy)
    finally:
        # Emptied whatever happened: a caller that goes on after a refused batch (SQLite undoes only the failed
        # statement) must not find its rows copied in with the next one.
        connection.exec_driver_sql(stage.empty)


# Below this many rows a batch goes straight in: staging costs three statements of its own.
STAGED_FROM_ROWS = 16


@dataclass(frozen=True)
class _Staging:
    create: str
    fill: str
    copy: str
    empty: str


# PostgreSQL: ``n`` new ids of a table's serial id column (NULL for a table whose id has no sequence).
_TAKE_IDS = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"


@lru_cache(maxsize=64)
def _staging(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Staging:
    """The statements that put rows into ``table`` through a staging table of the connection (temporary, kept for
    the next batch; one per table and columns): create it, fill it, copy it into the table in the order the rows
    were given, empty it. SQLite's staging table declares no column types: a column with none keeps a value exactly
    as bound, so the table's own types convert it just as a direct INSERT would; its rowids follow the order the
    rows were given, and ``insert_rows`` reads the new ids back in that order. PostgreSQL's has the table's own
    column types, which COPY fills as an INSERT would, and a last column for each row's position: PostgreSQL does
    not always store the rows in the order they were copied."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column) for column in columns)
    name = quote(f"bulk_{table.name}_{len(columns)}_{hashlib.sha256(names.encode()).hexdigest()[:12]}")
    target = quote(table.name)
    # Only our own table's and columns' names are in these statements, never a row's values.
    if dialect.name == "postgresql":
        stage = f"pg_temp.{name}"
        return _Staging(
            create=f"CREATE TEMP TABLE IF NOT EXISTS {name} AS SELECT {names}, 0 AS bulk_position FROM {target} "  # noqa: S608
                   "WITH NO DATA",
            fill=f"COPY {stage} ({names}, bulk_position) FROM STDIN",
            copy=f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ORDER BY bulk_position",  # noqa: S608
            empty=f"TRUNCATE {stage}")
    stage = f"temp.{name}"
    return _Staging(create=f"CREATE TABLE IF NOT EXISTS {stage} ({names})",
                    fill=f"INSERT INTO {stage} ({names}) VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
                    copy=f"INSERT INTO main.{target} ({names}) SELECT {names} FROM {stage} "  # noqa: S608
                         "ORDER BY rowid",
                    empty=f"DELETE FROM {stage}")  # noqa: S608


_Parameters = Callable[[dict[str, Any]], Sequence[Any] | dict[str, Any]]
_COMPILED: dict[tuple[str, tuple[str, ...], str, bool], tuple[str, _Parameters, tuple[str, ...]]] = {}


def _compiled(table: Table, keys: tuple[str, ...], dialect: Dialect, returning: bool = False
              ) -> tuple[str, _Parameters, tuple[str, ...]]:
    """The INSERT of ``keys`` and every other column with a Python default (``RETURNING id`` with ``returning``),
    a function of a row giving its parameters as the statement takes them (the row's values through their
    columns' bind processors, and the defaults; by position in the statement's order (SQLite) or by name
    (PostgreSQL)), and the statement's columns in its order."""
    cache_key = (table.name, keys, dialect.name, returning)
    found = _COMPILED.get(cache_key)
    if found is not None:
        return found
    defaulted = [c.name for c in table.c if c.name not in keys and c.default is not None]
    statement = insert(table).returning(table.c.id) if returning else insert(table)
    compiled = statement.compile(dialect=dialect, column_keys=[*keys, *defaulted])
    named = compiled.positiontup is None
    order = sorted(compiled.binds) if named else list(compiled.positiontup or [])
    if sorted(order) != sorted([*keys, *defaulted]):
        raise RuntimeError(f"{table.name}: unexpected parameters {order}")
    sql = str(compiled)
    # The values are made as keys then defaults, and put in the statement's order (or named) in one step.
    names = [*keys, *defaulted]
    positions = {name: position for position, name in enumerate(names)}
    if named:
        in_order: Callable[[list[Any]], Any] = lambda values: dict(zip(names, values, strict=True))  # noqa: E731
    else:
        in_order = itemgetter(*[positions[name] for name in order]) if len(order) > 1 else (lambda values: values)
    given = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    # The row's values are read in one step (itemgetter) and only the columns with a bind processor (dates, JSON)
    # cost a call each: with a function per value, a 20,000-row import's batches took 0.50-0.54 s to prepare
    # instead of 0.40-0.42 (bench/RESULTS.md run 24).
    processed = [(position, process) for position, name in enumerate(keys)
                 if (process := _bind_processor(table, name, dialect)) is not None]
    defaults = [_default(table, name, dialect) for name in defaulted]
    if not processed and not defaults and not named and order == list(keys):
        found = _COMPILED[cache_key] = (sql, given, tuple(order))
        return found

    def parameters(row: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = list(given(row))
        for position, process in processed:
            values[position] = process(values[position])  # None too, as SQLAlchemy does (JSON's None is 'null')
        values += [default() for default in defaults]
        return in_order(values)  # type: ignore[no-any-return]

    found = _COMPILED[cache_key] = (sql, parameters, tuple(order))
    return found


def _bind_processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    column = table.c[name]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is not None and isinstance(column.type, UTCDateTime):
        # A batch's rows mostly carry the same few moments (the import's "now" in every row of five tables), and
        # converting one to the driver's value (SQLite's text) is the dearest of the row's values; the result
        # depends on the value alone.
        process = lru_cache(maxsize=256)(process)
    return process


def _default(table: Table, name: str, dialect: Dialect) -> Callable[[], Any]:
    """The driver's value of a column's Python default, made afresh for each row."""
    default = table.c[name].default
    assert default is not None
    if default.is_callable:
        make = default.arg  # SQLAlchemy's wrapper, which takes the execution context; ours ignore it
        value_of: Callable[[], Any] = lambda: make(None)  # noqa: E731
    else:
        constant = default.arg
        value_of = lambda: constant  # noqa: E731
    process = _bind_processor(table, name, dialect)
    if process is None:
        return value_of
    return lambda: process(value_of())
