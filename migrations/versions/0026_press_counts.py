"""dashboards: the press referrals' 'forward' deadlines counted by outcome

The Director's and the administrator's dashboards say how many press approaches opened in the period were forwarded
within the target, late, are still waiting, or stopped another way. That read every press referral of the period
with its 'forward' deadline: 14,000 a year at a million incidents, 18-24 ms a dashboard (bench/RESULTS.md run 20).
A new measure of ``incident_counts``, ``press``, counts those deadlines by the month their incident was opened,
its group, and ``outcome``:

- ``within`` / ``late``: met by / after the due time; ``stopped``: cancelled;
- ``live`` (running or paused) and ``undated`` (met with no finishing time, which the app never writes) change with
  the clock: late once past due. They are counted by the UTC day they fall due (``bucket``, as migration 0023), so
  the dashboard sums the days before today and after it and reads today's deadline by deadline.

Triggers keep it (+1 / -1, INSERT only): a forward deadline started, stopped, moved or deleted; an incident that
changes workflow, opening time or group moves its deadlines' counts. Existing deadlines are counted once here. The
workflow and deadline keys are app.services.dashboard's PRESS_WORKFLOW and FORWARD_DEADLINE (a test checks the
workflow file still has them).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 13:00:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence

from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKFLOW, DEADLINE = "press-referral", "forward"
COLUMNS = "measure, month, workflow_key, state, clause_key, outcome, in_case_file, restricted, side, team_id, bucket, n"
INCIDENT_COUNTED = ("created_at", "workflow_key", "case_file_id", "restricted", "side", "team_id")
DEADLINE_COUNTED = ("status", "finished_at", "due_at", "key", "incident_id")


def _month(instant: str) -> str:
    return f"(SELECT month FROM calendar_months WHERE starts_at <= {instant} ORDER BY starts_at DESC LIMIT 1)"


def _day(instant: str, dialect: str) -> str:
    """As migration 0023: the UTC day, as days since 1970-01-01, from the stored value itself."""
    if dialect == "sqlite":
        return f"CAST(julianday(substr({instant}, 1, 10)) - 2440587.5 AS INTEGER)"
    return f"((({instant}) AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"


def _outcome(row: str) -> str:
    return (f"CASE WHEN {row}.status = 'cancelled' THEN 'stopped' "
            f"WHEN {row}.status = 'met' AND {row}.finished_at IS NOT NULL THEN "
            f"CASE WHEN {row}.finished_at <= {row}.due_at THEN 'within' ELSE 'late' END "
            f"WHEN {row}.status = 'met' THEN 'undated' ELSE 'live' END")


def _bucket(row: str, dialect: str) -> str:
    """The due day for the outcomes that change with the clock, 0 for the settled ones."""
    return (f"CASE WHEN {row}.status IN ('running', 'paused') OR ({row}.status = 'met' AND {row}.finished_at IS NULL) "
            f"THEN {_day(f'{row}.due_at', dialect)} ELSE 0 END")


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _select(deadline: str, incident: str, sign: int | str, dialect: str) -> str:
    return (f"SELECT 'press', {_month(f'{incident}.created_at')}, '', '', '', {_outcome(deadline)}, "
            f"{_group(incident)}, {_bucket(deadline, dialect)}, {sign}")


def _deadline(row: str, sign: int, dialect: str) -> str:
    """One deadline row (NEW or OLD), if it is a press referral's forward deadline (nothing if the incident is gone:
    deleting an incident has already taken its deadlines' counts)."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) {_select(row, 'i', sign, dialect)} "
            f"FROM incidents i WHERE i.id = {row}.incident_id AND i.workflow_key = '{WORKFLOW}' "
            f"AND {row}.key = '{DEADLINE}';")


def _deadlines_of(row: str, sign: int, dialect: str) -> str:
    """An incident's forward deadlines (NEW or OLD of incidents), if it is a press referral."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) {_select('d', row, sign, dialect)} "
            f"FROM deadlines d WHERE d.incident_id = {row}.id AND d.key = '{DEADLINE}' "
            f"AND {row}.workflow_key = '{WORKFLOW}';")


def _bodies(dialect: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (table, when, timing and event, body)."""
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"

    def changed(columns: Sequence[str]) -> str:
        return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)

    return {
        "deadline_ai": ("deadlines", f"NEW.key = '{DEADLINE}'", "AFTER INSERT", _deadline("NEW", 1, dialect)),
        "deadline_au": ("deadlines", f"(OLD.key = '{DEADLINE}' OR NEW.key = '{DEADLINE}') AND "
                                     f"({changed(DEADLINE_COUNTED)})", "AFTER UPDATE",
                        _deadline("OLD", -1, dialect) + " " + _deadline("NEW", 1, dialect)),
        "deadline_bd": ("deadlines", f"OLD.key = '{DEADLINE}'", "BEFORE DELETE", _deadline("OLD", -1, dialect)),
        "incident_au": ("incidents", f"(OLD.workflow_key = '{WORKFLOW}' OR NEW.workflow_key = '{WORKFLOW}') AND "
                                     f"({changed(INCIDENT_COUNTED)})", "AFTER UPDATE",
                        _deadlines_of("OLD", -1, dialect) + " " + _deadlines_of("NEW", 1, dialect)),
        "incident_bd": ("incidents", f"OLD.workflow_key = '{WORKFLOW}'", "BEFORE DELETE",
                        _deadlines_of("OLD", -1, dialect)),
    }


def _triggers(dialect: str) -> list[str]:
    out = []
    for name, (table, when, event, body) in _bodies(dialect).items():
        if dialect == "sqlite":
            out.append(f"CREATE TRIGGER press_counts_{name} {event} ON {table} WHEN {when} BEGIN {body} END")
            continue
        returns = "OLD" if event == "BEFORE DELETE" else "NULL"
        out.append(f"CREATE FUNCTION press_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                   f"RETURN {returns}; END $$")
        out.append(f"CREATE TRIGGER press_counts_{name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION press_counts_{name}()")
    return out


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    keys = "month, outcome, in_case_file, restricted, side, team_id, bucket"
    op.execute(
        f"INSERT INTO incident_counts ({COLUMNS}) "
        f"SELECT 'press', month, '', '', '', outcome, in_case_file, restricted, side, team_id, bucket, count(*) "
        f"FROM (SELECT {_month('i.created_at')} AS month, {_outcome('d')} AS outcome, "
        f"(i.case_file_id IS NOT NULL) AS in_case_file, i.restricted AS restricted, i.side AS side, "
        f"i.team_id AS team_id, {_bucket('d', dialect)} AS bucket "
        f"FROM deadlines d JOIN incidents i ON i.id = d.incident_id "
        f"WHERE d.key = '{DEADLINE}' AND i.workflow_key = '{WORKFLOW}') x GROUP BY {keys}")
    for statement in _triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (table, *_rest) in _bodies(dialect).items():
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER press_counts_{name}")
        else:
            op.execute(f"DROP TRIGGER press_counts_{name} ON {table}")
            op.execute(f"DROP FUNCTION press_counts_{name}()")
    op.execute("DELETE FROM incident_counts WHERE measure = 'press'")
