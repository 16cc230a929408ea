"""the counting triggers on UPDATE name the columns they watch (AFTER UPDATE OF …)

Each trigger that keeps ``incident_counts`` up to date when a row changes (0015, 0020, 0022, 0023, 0026, 0027) acts
only when one of the columns it counts by differs between OLD and NEW: its WHEN clause is that comparison, alone or
after a guard joined by AND. Declared on every UPDATE of its table, though, it is made part of every UPDATE
statement, and its WHEN clause is tested for every row written, whichever columns the UPDATE sets. The deadline
sweep marks ten thousand deadlines breached at a time (``breached_at``, which no count reads): at a million
incidents on SQLite that UPDATE took 0.155 s with the three deadline triggers and 0.072 s without them (bench/RESULTS.md
run 30). Naming the compared columns (``AFTER UPDATE OF status, due_at, incident_id``) keeps a trigger out of an
UPDATE that sets none of them, and changes nothing else: such an UPDATE cannot change a compared column, so the
WHEN clause could never have held. Both databases have the same form of it. (That holds while no BEFORE UPDATE
trigger changes these tables' rows: PostgreSQL decides on the columns the UPDATE names, not on what such a trigger
sets. There is none; tests/test_migrations.py fails if one is added.)

Each trigger is rewritten from its own stored definition (SQLite's ``sqlite_master``, PostgreSQL's
``pg_get_triggerdef``), with the columns read from the OLD/NEW comparisons of its WHEN clause.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 11:40:00
"""
import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# trigger -> its table
COUNTING_UPDATE_TRIGGERS = {
    "incident_counts_au": "incidents",
    "incident_counts_cu": "incident_clauses",
    "sanction_counts_au": "incidents",
    "sanction_counts_cu": "incident_clauses",
    "sanction_counts_pu": "people",
    "duration_counts_au": "incidents",
    "due_counts_deadline_au": "deadlines",
    "due_counts_incident_au": "incidents",
    "press_counts_deadline_au": "deadlines",
    "press_counts_incident_au": "incidents",
    "removal_counts_deadline_au": "deadlines",
    "removal_counts_incident_au": "incidents",
}

# OLD.x IS NOT NEW.x (SQLite, as written) or (old.x)::text IS DISTINCT FROM (new.x)::text (PostgreSQL, as it
# gives the definition back).
_COMPARED = re.compile(r"\(?old\.(\w+)\)?(?:::[\w ]+)?\s+IS\s+(?:NOT|DISTINCT\s+FROM)\s+\(?new\.\1\b", re.IGNORECASE)
_BODY = re.compile(r"\bBEGIN\b|\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\b", re.IGNORECASE)
_ON_EVERY_UPDATE = re.compile(r"\bAFTER UPDATE ON\b")
_ON_NAMED_COLUMNS = re.compile(r"\bAFTER UPDATE OF [\w, ]+? ON\b")


def _definition(connection: Connection, name: str, table: str) -> str:
    if connection.dialect.name == "sqlite":
        found = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
                                   {"name": name}).scalar_one_or_none()
    else:
        found = connection.execute(text("SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                                        "WHERE tgname = :name AND tgrelid = CAST(:table AS regclass)"),
                                   {"name": name, "table": table}).scalar_one_or_none()
    if found is None:
        raise RuntimeError(f"migration 0032: trigger {name} on {table} is missing")
    return str(found)


def _compared_columns(name: str, definition: str) -> list[str]:
    """The columns the WHEN clause compares between OLD and NEW, in order (not the body's: SQLite's definition
    holds it)."""
    when = _BODY.split(definition, maxsplit=1)[0]
    columns = list(dict.fromkeys(match.group(1).lower() for match in _COMPARED.finditer(when)))
    if not columns:
        raise RuntimeError(f"migration 0032: trigger {name} compares no column of OLD with NEW: {definition}")
    return columns


def _replace(connection: Connection, name: str, table: str, definition: str) -> None:
    op.execute(f"DROP TRIGGER {name}" if connection.dialect.name == "sqlite" else f"DROP TRIGGER {name} ON {table}")
    op.execute(definition)


def upgrade() -> None:
    connection = op.get_bind()
    for name, table in COUNTING_UPDATE_TRIGGERS.items():
        definition = _definition(connection, name, table)
        named = ", ".join(_compared_columns(name, definition))
        rewritten, replaced = _ON_EVERY_UPDATE.subn(f"AFTER UPDATE OF {named} ON", definition, count=1)
        if replaced != 1:
            raise RuntimeError(f"migration 0032: trigger {name} is not an AFTER UPDATE trigger: {definition}")
        _replace(connection, name, table, rewritten)


def downgrade() -> None:
    connection = op.get_bind()
    for name, table in COUNTING_UPDATE_TRIGGERS.items():
        definition = _definition(connection, name, table)
        rewritten, replaced = _ON_NAMED_COLUMNS.subn("AFTER UPDATE ON", definition, count=1)
        if replaced != 1:
            raise RuntimeError(f"migration 0032: trigger {name} names no columns: {definition}")
        _replace(connection, name, table, rewritten)
