"""Many rows into one table at once, with their new ids (the bulk import, the audit trail's batches)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session


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
        session.execute(insert(table), rows)
        ids = list(session.scalars(select(table.c.id).order_by(table.c.id.desc()).limit(len(rows))))[::-1]
    if len(ids) != len(rows):
        raise RuntimeError(f"{table.name}: inserted {len(rows)} rows but found {len(ids)} new ids")
    return ids
