"""Incident references like BD-2026-00042: one gap-free sequence per year, safe under concurrency."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.services import audit

PREFIX = "BD"


def next_reference(session: Session, year: int) -> str:
    """Take the next number for ``year`` with one atomic upsert (the row lock serialises openers)."""
    return next_references(session, year, 1)[0]


# The same upsert on both databases. Written as text because SQLAlchemy cannot cache the dialects' own ON CONFLICT
# inserts: they were compiled anew at every opening (about half a millisecond each).
_TAKE = text(
    "INSERT INTO reference_counters (year, last_number) VALUES (:year, :count) "
    "ON CONFLICT (year) DO UPDATE SET last_number = reference_counters.last_number + excluded.last_number "
    "RETURNING last_number"
)


def next_references(session: Session, year: int, count: int) -> list[str]:
    """Take the next ``count`` numbers for ``year`` at once (bulk import): one upsert moves the counter
    on by ``count`` and the numbers below it are this transaction's, gap-free and in order."""
    if count < 1:
        return []
    # The audit chain head before the counter: every writer that takes both takes them in this order (see
    # app.services.audit), and every opening writes an audit row anyway.
    audit.lock_chain_head(session)
    last = session.execute(_TAKE, {"year": year, "count": count}).scalar_one()
    return [format_reference(year, number) for number in range(last - count + 1, last + 1)]


def format_reference(year: int, number: int) -> str:
    return f"{PREFIX}-{year}-{number:05d}"
