"""Incident references like BD-2026-00042: one gap-free sequence per year, safe under concurrency."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import ReferenceCounter

PREFIX = "BD"


def next_reference(session: Session, year: int) -> str:
    """Take the next number for ``year`` with one atomic upsert (the row lock serialises openers)."""
    return next_references(session, year, 1)[0]


def next_references(session: Session, year: int, count: int) -> list[str]:
    """Take the next ``count`` numbers for ``year`` at once (bulk import): one upsert moves the counter
    on by ``count`` and the numbers below it are this transaction's, gap-free and in order."""
    if count < 1:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ReferenceCounter.__table__
    statement = (
        insert(table)
        .values(year=year, last_number=count)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"last_number": table.c.last_number + count})
        .returning(table.c.last_number)
    )
    last = session.execute(statement).scalar_one()
    return [format_reference(year, number) for number in range(last - count + 1, last + 1)]


def format_reference(year: int, number: int) -> str:
    return f"{PREFIX}-{year}-{number:05d}"
