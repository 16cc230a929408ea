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
CONCURRENT_WRITE_API_MESSAGE = ("Someone else was changing the same records at that moment, so nothing was saved. "
                                "Send the request again (with the same Idempotency-Key, if it had one).")


def lost_to_concurrent_write(error: BaseException) -> bool:
    """Whether ``error`` is the database refusing this transaction because of another writer, not a fault: a
    PostgreSQL deadlock, serialisation failure or lock it could not wait for, or SQLite still busy when its busy
    timeout ran out."""
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig
    if getattr(cause, "sqlstate", None) in _LOST_TO_ANOTHER_WRITER:  # psycopg 3
        return True
    return isinstance(cause, sqlite3.OperationalError) and \
        str(getattr(cause, "sqlite_errorname", "")).startswith("SQLITE_BUSY")


def concurrent_write_log_line(error: BaseException, endpoint: str | None) -> str:
    """What the log says of such a refusal: where, the database's reason and the statement's text (no values: nothing
    a user typed), so that a new way into a deadlock can be found."""
    statement = " ".join(str(getattr(error, "statement", "") or "").split())
    return (f"{endpoint or 'a request'}: refused by the database because of another writer: "
            f"{' '.join(str(getattr(error, 'orig', error)).split())} [statement: {statement[:300]}]")
