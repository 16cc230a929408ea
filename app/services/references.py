"""Incident references like BD-2026-00042: one gap-free sequence per year, safe under concurrency."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import ReferenceCounter

PREFIX = "BD"


def next_reference(session: Session, year: int) -> str:
    """Take the next number for ``year`` with one atomic upsert (the row lock serialises openers)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ReferenceCounter.__table__
    statement = (
        insert(table)
        .values(year=year, last_number=1)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"last_number": table.c.last_number + 1})
        .returning(table.c.last_number)
    )
    number = session.execute(statement).scalar_one()
    return format_reference(year, number)


def format_reference(year: int, number: int) -> str:
    return f"{PREFIX}-{year}-{number:05d}"
