"""dashboards: sanctions consistency from the running counts (outcomes by clause and severity, by subject role)

Two more measures in ``incident_counts``, over incidents that have an outcome, by the UK month they were opened:
``sanction`` (one row per cited clause: clause, severity, outcome) and ``by_role`` (the subject's role and the
outcome). Three new key columns hold severity, outcome and subject role ('' where a measure does not use them;
the triggers of 0015 leave them at that default). Triggers keep them as 0015's do, +1 / -1, INSERT only:

- on incidents: opened, deleted, or changed in anything these counts key on (opening time, outcome, severity,
  subject, group);
- on incident_clauses: a citation added, changed or withdrawn on an incident with an outcome;
- on people: a subject's role changed, for every incident with an outcome they are the subject of.

Existing incidents are counted once here. Plain ALTER TABLE / CREATE TRIGGER (no batch mode: see 0008).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 07:15:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id, "
           "severity, outcome, subject_role, n")
# Incident columns these counts depend on; an UPDATE touching none of them adds no rows.
COUNTED = ("created_at", "outcome", "severity", "subject_id", "case_file_id", "restricted", "side", "team_id")
NAMES = ("ai", "au", "bd", "ci", "cu", "cd", "pu")


def _month(instant: str) -> str:
    return f"(SELECT month FROM calendar_months WHERE starts_at <= {instant} ORDER BY starts_at DESC LIMIT 1)"


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _clause_rows(incident: str, citation: str, sign: int, source: str, where: str) -> str:
    """``sanction`` rows: one per citation of an incident with an outcome."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) "
            f"SELECT 'sanction', {_month(f'{incident}.created_at')}, '', '', {citation}.clause_key, "
            f"{_group(incident)}, {incident}.severity, {incident}.outcome, '', {sign} "
            f"FROM {source} WHERE {where} AND {incident}.outcome IS NOT NULL;")


def _role_rows(incident: str, person: str, sign: int, source: str, where: str) -> str:
    """``by_role`` rows: the subject's role and the outcome, for incidents with both."""
    return (f"INSERT INTO incident_counts ({COLUMNS}) "
            f"SELECT 'by_role', {_month(f'{incident}.created_at')}, '', '', '', {_group(incident)}, '', "
            f"{incident}.outcome, {person}.role, {sign} "
            f"FROM {source} WHERE {where} AND {incident}.outcome IS NOT NULL;")


def _incident(row: str, sign: int) -> str:
    """Every count one incident row (NEW or OLD) stands in."""
    return (_clause_rows(row, "c", sign, "incident_clauses c", f"c.incident_id = {row}.id") + " " +
            _role_rows(row, "p", sign, "people p", f"p.id = {row}.subject_id"))


def _citation(row: str, sign: int) -> str:
    """One citation (NEW or OLD of incident_clauses), if its incident has an outcome (none if it is gone)."""
    return _clause_rows("i", row, sign, "incidents i", f"i.id = {row}.incident_id")


def _subject(person: str, sign: int) -> str:
    """A person's role (NEW or OLD of people) on every incident with an outcome they are the subject of."""
    return _role_rows("i", person, sign, "incidents i", f"i.subject_id = {person}.id")


def _changed(columns: Sequence[str], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _bodies(distinct: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (when, timing and event, table, body)."""
    return {
        "ai": ("NEW.outcome IS NOT NULL", "AFTER INSERT", "incidents", _incident("NEW", 1)),
        "au": (_changed(COUNTED, distinct), "AFTER UPDATE", "incidents",
               _incident("OLD", -1) + " " + _incident("NEW", 1)),
        # Before the delete: its citations are still there (they go by cascade after it).
        "bd": ("OLD.outcome IS NOT NULL", "BEFORE DELETE", "incidents", _incident("OLD", -1)),
        "ci": ("1 = 1", "AFTER INSERT", "incident_clauses", _citation("NEW", 1)),
        "cu": (_changed(("incident_id", "clause_key"), distinct), "AFTER UPDATE", "incident_clauses",
               _citation("OLD", -1) + " " + _citation("NEW", 1)),
        "cd": ("1 = 1", "AFTER DELETE", "incident_clauses", _citation("OLD", -1)),
        "pu": (f"OLD.role {distinct} NEW.role", "AFTER UPDATE", "people",
               _subject("OLD", -1) + " " + _subject("NEW", 1)),
    }


def _sqlite_triggers() -> list[str]:
    return [f"CREATE TRIGGER sanction_counts_{name} {event} ON {table} WHEN {when} BEGIN {body} END"
            for name, (when, event, table, body) in _bodies("IS NOT").items()]


def _pg_statements() -> list[str]:
    out = []
    for name, (when, event, table, body) in _bodies("IS DISTINCT FROM").items():
        returns = "OLD" if event.startswith("BEFORE DELETE") else "NULL"
        out.append(f"CREATE FUNCTION sanction_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                   f"RETURN {returns}; END $$")
        out.append(f"CREATE TRIGGER sanction_counts_{name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION sanction_counts_{name}()")
    return out


def _backfill() -> list[str]:
    """Every existing incident with an outcome counted once, already summed per key."""
    keys = ("measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id, severity, "
            "outcome, subject_role")
    group = ("(i.case_file_id IS NOT NULL) AS in_case_file, i.restricted AS restricted, i.side AS side, "
             "i.team_id AS team_id")
    rows = (
        f"SELECT 'sanction' AS measure, {_month('i.created_at')} AS month, '' AS workflow_key, '' AS state, "
        f"c.clause_key AS clause_key, {group}, i.severity AS severity, i.outcome AS outcome, '' AS subject_role "
        "FROM incidents i JOIN incident_clauses c ON c.incident_id = i.id WHERE i.outcome IS NOT NULL",
        f"SELECT 'by_role' AS measure, {_month('i.created_at')} AS month, '' AS workflow_key, '' AS state, "
        f"'' AS clause_key, {group}, '' AS severity, i.outcome AS outcome, p.role AS subject_role "
        "FROM incidents i JOIN people p ON p.id = i.subject_id WHERE i.outcome IS NOT NULL",
    )
    return [f"INSERT INTO incident_counts ({COLUMNS}) SELECT {keys}, count(*) FROM ({inner}) x GROUP BY {keys}"
            for inner in rows]


def upgrade() -> None:
    for name, size in (("severity", 16), ("outcome", 64), ("subject_role", 32)):
        op.add_column('incident_counts', sa.Column(name, sa.String(length=size), nullable=False,
                                                   server_default=''))
    for statement in _backfill():
        op.execute(statement)
    dialect = op.get_bind().dialect.name
    for statement in (_sqlite_triggers() if dialect == "sqlite" else _pg_statements()):
        op.execute(statement)


def downgrade() -> None:
    tables = {name: table for name, (_when, _event, table, _body) in _bodies("IS NOT").items()}
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in NAMES:
        op.execute(f"DROP TRIGGER sanction_counts_{name}" + ("" if sqlite else f" ON {tables[name]}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION sanction_counts_{name}()")
    op.execute("DELETE FROM incident_counts WHERE measure IN ('sanction', 'by_role')")
    for name in ("subject_role", "outcome", "severity"):
        op.drop_column('incident_counts', name)
