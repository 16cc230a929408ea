"""Errors that stop start-up, and how to tell a database refusal caused by someone else's write from a fault."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError


class StartupError(Exception):
    """Configuration or data that makes it unsafe to serve requests (bad database URL, broken workflow file)."""


# PostgreSQL's SQLSTATEs for a transaction it gave up because another one held what it needed: a deadlock (two
# writers each waiting for a row the other has locked), a serialisation failure, a lock it was not allowed to wait
# for. The transaction wrote nothing, and the same request again normally succeeds.
_LOST_TO_ANOTHER_WRITER = frozenset({"40P01", "40001", "55P03"})

CONCURRENT_WRITE_MESSAGE = ("Someone else was changing the same records at that moment, so nothing was saved. "
                            "Reload the page to see where things stand, then try again.")


def lost_to_concurrent_write(error: BaseException) -> bool:
    """Whether ``error`` is the database refusing this transaction because of another writer, not a fault: a
    PostgreSQL deadlock or serialisation failure, or SQLite still locked when its busy timeout ran out."""
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig
    if getattr(cause, "sqlstate", None) in _LOST_TO_ANOTHER_WRITER:  # psycopg 3
        return True
    return isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause)
