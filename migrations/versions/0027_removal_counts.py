"""dashboards: content-removal requests counted by outcome, and their times to removal in duration buckets

The "removal" section (complied with, not complied with, and the time from the removal request to its verification)
read every content-removal request of the period: 21,000 a year at a million incidents, with a look-up of the audit
trail for each not removed and of the deadlines for each removed, 24 ms of SQL a dashboard on PostgreSQL
(bench/RESULTS.md run 21). A new measure of ``incident_counts``, ``removal``, by the month the request was opened and
its group, with ``outcome``:

- ``complied``: one per request in the removed state (app.services.dashboard's REMOVED_STATE);
- ``not_complied``: one per request not in that state that was marked not complied with (an audit row of that
  transition: it stays when the request is closed afterwards);
- ``timed``: one per met 'comply' deadline, with its finishing time, of a request in the removed state, in the
  duration bucket (migration 0022) of finished_at - started_at.

Triggers keep it (+1 / -1, INSERT only): a request opened, moved (state, workflow, opening time, group) or deleted;
a 'comply' deadline started, changed or deleted; the audit row of the first "not complied with" of a request
(audit rows are never changed or deleted; of two written by one statement, the one with the lower id counts).
Existing rows are counted once here. The workflow, state, deadline and transition keys are app.services.dashboard's
(a test checks the workflow file still has them).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 17:00:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence

from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKFLOW, REMOVED, DEADLINE, NOT_COMPLIED = "content-removal", "verified_removed", "comply", "mark_non_compliant"
COLUMNS = "measure, month, workflow_key, state, clause_key, outcome, in_case_file, restricted, side, team_id, bucket, n"
INCIDENT_COUNTED = ("created_at", "workflow_key", "state", "case_file_id", "restricted", "side", "team_id")
DEADLINE_COUNTED = ("status", "finished_at", "started_at", "key", "incident_id")


def _month(instant: str) -> str:
    return f"(SELECT month FROM calendar_months WHERE starts_at <= {instant} ORDER BY starts_at DESC LIMIT 1)"


def _seconds(later: str, earlier: str, dialect: str) -> str:
    """As migration 0022."""
    if dialect == "sqlite":
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
    return f"CAST(EXTRACT(EPOCH FROM {later} - {earlier}) AS DOUBLE PRECISION)"


def _bucket(seconds: str) -> str:
    return (f"COALESCE((SELECT bucket FROM duration_buckets WHERE starts_at <= {seconds} "
            "ORDER BY starts_at DESC LIMIT 1), 0)")


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _refused(incident_id: str) -> str:
    return (f"EXISTS (SELECT 1 FROM audit_events a WHERE a.incident_id = {incident_id} "
            f"AND a.transition = '{NOT_COMPLIED}')")


def _outcome_of(row: str, sign: int) -> str:
    """An incident row's (NEW or OLD) complied / not_complied count, if it has one."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) SELECT 'removal', {_month(f'{row}.created_at')}, '', '', '', "
            f"CASE WHEN {row}.state = '{REMOVED}' THEN 'complied' ELSE 'not_complied' END, {_group(row)}, 0, {sign} "
            f"WHERE {row}.workflow_key = '{WORKFLOW}' AND ({row}.state = '{REMOVED}' OR {_refused(f'{row}.id')});")


def _timed(deadline: str, incident: str, sign: int | str, dialect: str) -> str:
    return (f"SELECT 'removal', {_month(f'{incident}.created_at')}, '', '', '', 'timed', {_group(incident)}, "
            f"{_bucket(_seconds(f'{deadline}.finished_at', f'{deadline}.started_at', dialect))}, {sign}")


def _timed_condition(deadline: str, incident: str) -> str:
    return (f"{incident}.workflow_key = '{WORKFLOW}' AND {incident}.state = '{REMOVED}' AND {deadline}.key = "
            f"'{DEADLINE}' AND {deadline}.status = 'met' AND {deadline}.finished_at IS NOT NULL")


def _times_of(row: str, sign: int, dialect: str) -> str:
    """An incident row's timed counts: one per met comply deadline, if the row is a removed request."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) {_timed('d', row, sign, dialect)} FROM deadlines d "
            f"WHERE d.incident_id = {row}.id AND {_timed_condition('d', row)};")


def _deadline(row: str, sign: int, dialect: str) -> str:
    """A deadline row's (NEW or OLD) timed count (nothing if the incident is gone: deleting an incident has already
    taken its deadlines' counts)."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) {_timed(row, 'i', sign, dialect)} FROM incidents i "
            f"WHERE i.id = {row}.incident_id AND {_timed_condition(row, 'i')};")


def _first_refusal() -> str:
    """A request marked not complied with for the first time, and not removed, becomes not_complied."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) SELECT 'removal', {_month('i.created_at')}, '', '', '', "
            f"'not_complied', {_group('i')}, 0, 1 FROM incidents i WHERE i.id = NEW.incident_id "
            f"AND i.workflow_key = '{WORKFLOW}' AND i.state <> '{REMOVED}' AND NOT EXISTS (SELECT 1 FROM audit_events a "
            f"WHERE a.incident_id = NEW.incident_id AND a.transition = '{NOT_COMPLIED}' AND a.id < NEW.id);")


def _bodies(dialect: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (table, when, timing and event, body)."""
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"

    def changed(columns: Sequence[str]) -> str:
        return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)

    def incident(row: str, sign: int) -> str:
        return _outcome_of(row, sign) + " " + _times_of(row, sign, dialect)

    return {
        "incident_ai": ("incidents", f"NEW.workflow_key = '{WORKFLOW}'", "AFTER INSERT", incident("NEW", 1)),
        "incident_au": ("incidents", f"(OLD.workflow_key = '{WORKFLOW}' OR NEW.workflow_key = '{WORKFLOW}') AND "
                                     f"({changed(INCIDENT_COUNTED)})", "AFTER UPDATE",
                        incident("OLD", -1) + " " + incident("NEW", 1)),
        "incident_bd": ("incidents", f"OLD.workflow_key = '{WORKFLOW}'", "BEFORE DELETE", incident("OLD", -1)),
        "deadline_ai": ("deadlines", f"NEW.key = '{DEADLINE}'", "AFTER INSERT", _deadline("NEW", 1, dialect)),
        "deadline_au": ("deadlines", f"(OLD.key = '{DEADLINE}' OR NEW.key = '{DEADLINE}') AND "
                                     f"({changed(DEADLINE_COUNTED)})", "AFTER UPDATE",
                        _deadline("OLD", -1, dialect) + " " + _deadline("NEW", 1, dialect)),
        "deadline_bd": ("deadlines", f"OLD.key = '{DEADLINE}'", "BEFORE DELETE", _deadline("OLD", -1, dialect)),
        "audit_ai": ("audit_events", f"NEW.transition = '{NOT_COMPLIED}' AND NEW.incident_id IS NOT NULL",
                     "AFTER INSERT", _first_refusal()),
    }


def _triggers(dialect: str) -> list[str]:
    out = []
    for name, (table, when, event, body) in _bodies(dialect).items():
        if dialect == "sqlite":
            out.append(f"CREATE TRIGGER removal_counts_{name} {event} ON {table} WHEN {when} BEGIN {body} END")
            continue
        returns = "OLD" if event == "BEFORE DELETE" else "NULL"
        out.append(f"CREATE FUNCTION removal_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                   f"RETURN {returns}; END $$")
        out.append(f"CREATE TRIGGER removal_counts_{name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION removal_counts_{name}()")
    return out


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    keys = "month, outcome, in_case_file, restricted, side, team_id, bucket"
    group = ("(i.case_file_id IS NOT NULL) AS in_case_file, i.restricted AS restricted, i.side AS side, "
             "i.team_id AS team_id")
    outcomes = (f"SELECT {_month('i.created_at')} AS month, CASE WHEN i.state = '{REMOVED}' THEN 'complied' "
                f"ELSE 'not_complied' END AS outcome, {group}, 0 AS bucket FROM incidents i "
                f"WHERE i.workflow_key = '{WORKFLOW}' AND (i.state = '{REMOVED}' OR {_refused('i.id')})")
    times = (f"SELECT {_month('i.created_at')} AS month, 'timed' AS outcome, {group}, "
             f"{_bucket(_seconds('d.finished_at', 'd.started_at', dialect))} AS bucket "
             f"FROM deadlines d JOIN incidents i ON i.id = d.incident_id WHERE {_timed_condition('d', 'i')}")
    for rows in (outcomes, times):
        op.execute(f"INSERT INTO incident_counts ({COLUMNS}) SELECT 'removal', month, '', '', '', outcome, "
                   f"in_case_file, restricted, side, team_id, bucket, count(*) FROM ({rows}) x GROUP BY {keys}")
    for statement in _triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (table, *_rest) in _bodies(dialect).items():
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER removal_counts_{name}")
        else:
            op.execute(f"DROP TRIGGER removal_counts_{name} ON {table}")
            op.execute(f"DROP FUNCTION removal_counts_{name}()")
    op.execute("DELETE FROM incident_counts WHERE measure = 'removal'")
