"""dashboards: running deadlines counted by the UTC day they fall due

The dashboards' "due" section (overdue, and due within seven days, per workflow) read every running deadline due
by a week from now with its incident: 24,000 rows, 42-104 ms a build at a million incidents (bench/RESULTS.md runs
19-20). A new measure of ``incident_counts``, ``due``, counts running deadlines per day they fall due (``bucket``:
days since 1970-01-01, UTC), their incident's workflow and group; the section then sums the whole days and reads
row by row only today and the seventh day from now, where "now" cuts through the day.

Triggers keep it as 0015's keep the citations (+1 / -1, INSERT only): a deadline started, stopped (met, paused,
cancelled), moved to another due time or deleted; an incident that changes workflow or group moves its running
deadlines with it. Existing running deadlines are counted once here. A day is read from the stored value itself
(SQLite: the date part of its text; PostgreSQL: the UTC date), never through floating-point day fractions, so a
deadline due a microsecond before midnight is counted on its own day.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 12:00:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id, bucket, n"
# Incident columns a running deadline's count depends on.
INCIDENT_COUNTED = ("workflow_key", "case_file_id", "restricted", "side", "team_id")
# Deadline columns its count depends on.
DEADLINE_COUNTED = ("status", "due_at", "incident_id")


def _day(instant: str, dialect: str) -> str:
    """The UTC day ``instant`` falls on, as days since 1970-01-01 (app.models.counts.due_day)."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: its first ten characters
        return f"CAST(julianday(substr({instant}, 1, 10)) - 2440587.5 AS INTEGER)"
    return f"((({instant}) AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _deadline(row: str, sign: int, dialect: str) -> str:
    """One deadline row (NEW or OLD), counted in its incident's workflow and group if it is running (nothing if
    the incident is gone: deleting an incident has already taken its running deadlines' counts)."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) "
            f"SELECT 'due', '', i.workflow_key, '', '', {_group('i')}, {_day(f'{row}.due_at', dialect)}, {sign} "
            f"FROM incidents i WHERE i.id = {row}.incident_id AND {row}.status = 'running';")


def _deadlines_of(row: str, sign: int, dialect: str) -> str:
    """An incident's running deadlines, counted in its workflow and group (NEW or OLD of incidents)."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) "
            f"SELECT 'due', '', {row}.workflow_key, '', '', {_group(row)}, {_day('d.due_at', dialect)}, {sign} "
            f"FROM deadlines d WHERE d.incident_id = {row}.id AND d.status = 'running';")


def _bodies(dialect: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (table, when, timing and event, body)."""
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"

    def changed(columns: Sequence[str]) -> str:
        return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)

    return {
        "deadline_ai": ("deadlines", "NEW.status = 'running'", "AFTER INSERT", _deadline("NEW", 1, dialect)),
        "deadline_au": ("deadlines", f"(OLD.status = 'running' OR NEW.status = 'running') AND "
                                     f"({changed(DEADLINE_COUNTED)})", "AFTER UPDATE",
                        _deadline("OLD", -1, dialect) + " " + _deadline("NEW", 1, dialect)),
        "deadline_bd": ("deadlines", "OLD.status = 'running'", "BEFORE DELETE", _deadline("OLD", -1, dialect)),
        # An incident deleted: its running deadlines' counts go first, since when the cascade deletes the deadlines
        # the incident row is gone and their own trigger finds nothing (as 0015's citations).
        "incident_au": ("incidents", changed(INCIDENT_COUNTED), "AFTER UPDATE",
                        _deadlines_of("OLD", -1, dialect) + " " + _deadlines_of("NEW", 1, dialect)),
        "incident_bd": ("incidents", "1 = 1", "BEFORE DELETE", _deadlines_of("OLD", -1, dialect)),
    }


def _triggers(dialect: str) -> list[str]:
    out = []
    for name, (table, when, event, body) in _bodies(dialect).items():
        if dialect == "sqlite":
            out.append(f"CREATE TRIGGER due_counts_{name} {event} ON {table} WHEN {when} BEGIN {body} END")
            continue
        returns = "OLD" if event == "BEFORE DELETE" else "NULL"
        out.append(f"CREATE FUNCTION due_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                   f"RETURN {returns}; END $$")
        out.append(f"CREATE TRIGGER due_counts_{name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION due_counts_{name}()")
    return out


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        f"INSERT INTO incident_counts ({COLUMNS}) "
        f"SELECT 'due', '', workflow_key, '', '', in_case_file, restricted, side, team_id, day, count(*) "
        f"FROM (SELECT i.workflow_key AS workflow_key, (i.case_file_id IS NOT NULL) AS in_case_file, "
        f"i.restricted AS restricted, i.side AS side, i.team_id AS team_id, {_day('d.due_at', dialect)} AS day "
        f"FROM deadlines d JOIN incidents i ON i.id = d.incident_id WHERE d.status = 'running') x "
        f"GROUP BY workflow_key, in_case_file, restricted, side, team_id, day")
    for statement in _triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (table, *_rest) in _bodies(dialect).items():
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER due_counts_{name}")
        else:
            op.execute(f"DROP TRIGGER due_counts_{name} ON {table}")
            op.execute(f"DROP FUNCTION due_counts_{name}()")
    op.execute("DELETE FROM incident_counts WHERE measure = 'due'")
