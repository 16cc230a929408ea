"""dashboards: running counts kept by triggers (incident_counts), UK calendar months, a sample index

``incident_counts`` gets a row (+1 / -1) from a trigger whenever an incident is opened, changes state, closes,
reopens, moves group (case file, restricted, side, team) or is deleted, and whenever a clause is cited or
withdrawn; the dashboards sum them instead of reading every incident (app/models/counts.py). The triggers only
INSERT, so concurrent transitions never lock each other's counter rows. Existing incidents are counted once here.

``calendar_months`` lists the UTC instant each Europe/London month starts, 1990-2100: SQLite has no time zones,
and both databases find a month the same way (the last start at or before the instant).

``ix_incidents_sample`` is an expression index on (id % 64, created_at): one incident in 64, read in order of
opening, for percentiles over cohorts too big to read whole.

Plain CREATE TABLE / INDEX / TRIGGER (no batch mode: a batch rebuild of ``incidents`` on SQLite would drop the
full-text triggers of 0008, and these).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 02:40:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNT_COLUMNS = "measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id, n"
# Incident columns a count depends on; an UPDATE touching none of them adds no rows.
COUNTED = ("created_at", "closed_at", "workflow_key", "state", "case_file_id", "restricted", "side", "team_id")
GROUP = ("case_file_id", "restricted", "side", "team_id")


def _month(instant: str) -> str:
    return f"(SELECT month FROM calendar_months WHERE starts_at <= {instant} ORDER BY starts_at DESC LIMIT 1)"


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _incident_rows(row: str, sign: int) -> str:
    """The counts one incident row (NEW or OLD) stands in, each with ``sign``."""
    g = _group(row)
    return (f"INSERT INTO incident_counts ({COUNT_COLUMNS}) "
            f"SELECT 'opened', {_month(f'{row}.created_at')}, {row}.workflow_key, '', '', {g}, {sign} "
            f"UNION ALL SELECT 'closed', {_month(f'{row}.closed_at')}, {row}.workflow_key, '', '', {g}, {sign} "
            f"WHERE {row}.closed_at IS NOT NULL "
            f"UNION ALL SELECT 'open', '', {row}.workflow_key, {row}.state, '', {g}, {sign} "
            f"WHERE {row}.closed_at IS NULL;")


def _citations_of(row: str, sign: int, when: str = "1 = 1") -> str:
    """An incident's citations, counted in its group (when the group changes they move with it)."""
    return (f"INSERT INTO incident_counts ({COUNT_COLUMNS}) "
            f"SELECT 'cited', {_month('c.cited_at')}, '', '', c.clause_key, {_group(row)}, {sign} "
            f"FROM incident_clauses c WHERE c.incident_id = {row}.id AND ({when});")


def _citation(row: str, sign: int) -> str:
    """One citation (NEW or OLD of incident_clauses), counted in its incident's group (none if it is gone)."""
    return (f"INSERT INTO incident_counts ({COUNT_COLUMNS}) "
            f"SELECT 'cited', {_month(f'{row}.cited_at')}, '', '', {row}.clause_key, {_group('i')}, {sign} "
            f"FROM incidents i WHERE i.id = {row}.incident_id;")


def _changed(columns: Sequence[str], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _sqlite_triggers() -> list[str]:
    changed, group_changed = _changed(COUNTED, "IS NOT"), _changed(GROUP, "IS NOT")
    return [
        f"CREATE TRIGGER incident_counts_ai AFTER INSERT ON incidents BEGIN {_incident_rows('NEW', 1)} END",
        f"CREATE TRIGGER incident_counts_au AFTER UPDATE ON incidents WHEN {changed} BEGIN "
        f"{_incident_rows('OLD', -1)} {_incident_rows('NEW', 1)} "
        f"{_citations_of('OLD', -1, group_changed)} {_citations_of('NEW', 1, group_changed)} END",
        # Before the delete: its citations are still there (a cascade removes them after, when the incident is
        # already gone, so the citation trigger then counts nothing).
        f"CREATE TRIGGER incident_counts_bd BEFORE DELETE ON incidents BEGIN "
        f"{_incident_rows('OLD', -1)} {_citations_of('OLD', -1)} END",
        f"CREATE TRIGGER incident_counts_ci AFTER INSERT ON incident_clauses BEGIN {_citation('NEW', 1)} END",
        f"CREATE TRIGGER incident_counts_cu AFTER UPDATE ON incident_clauses WHEN "
        f"{_changed(('incident_id', 'clause_key', 'cited_at'), 'IS NOT')} BEGIN "
        f"{_citation('OLD', -1)} {_citation('NEW', 1)} END",
        f"CREATE TRIGGER incident_counts_cd AFTER DELETE ON incident_clauses BEGIN {_citation('OLD', -1)} END",
    ]


def _pg_function(name: str, body: str, returns: str) -> str:
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            f"RETURN {returns}; END $$")


def _pg_statements() -> list[str]:
    changed, group_changed = _changed(COUNTED, "IS DISTINCT FROM"), _changed(GROUP, "IS DISTINCT FROM")
    clause_changed = _changed(('incident_id', 'clause_key', 'cited_at'), 'IS DISTINCT FROM')
    return [
        _pg_function("incident_counts_ai", _incident_rows('NEW', 1), "NULL"),
        _pg_function("incident_counts_au", f"{_incident_rows('OLD', -1)} {_incident_rows('NEW', 1)} "
                     f"{_citations_of('OLD', -1, group_changed)} {_citations_of('NEW', 1, group_changed)}", "NULL"),
        _pg_function("incident_counts_bd", f"{_incident_rows('OLD', -1)} {_citations_of('OLD', -1)}", "OLD"),
        _pg_function("incident_counts_ci", _citation('NEW', 1), "NULL"),
        _pg_function("incident_counts_cu", f"{_citation('OLD', -1)} {_citation('NEW', 1)}", "NULL"),
        _pg_function("incident_counts_cd", _citation('OLD', -1), "NULL"),
        "CREATE TRIGGER incident_counts_ai AFTER INSERT ON incidents FOR EACH ROW "
        "EXECUTE FUNCTION incident_counts_ai()",
        f"CREATE TRIGGER incident_counts_au AFTER UPDATE ON incidents FOR EACH ROW WHEN ({changed}) "
        "EXECUTE FUNCTION incident_counts_au()",
        "CREATE TRIGGER incident_counts_bd BEFORE DELETE ON incidents FOR EACH ROW "
        "EXECUTE FUNCTION incident_counts_bd()",
        "CREATE TRIGGER incident_counts_ci AFTER INSERT ON incident_clauses FOR EACH ROW "
        "EXECUTE FUNCTION incident_counts_ci()",
        f"CREATE TRIGGER incident_counts_cu AFTER UPDATE ON incident_clauses FOR EACH ROW WHEN ({clause_changed}) "
        "EXECUTE FUNCTION incident_counts_cu()",
        "CREATE TRIGGER incident_counts_cd AFTER DELETE ON incident_clauses FOR EACH ROW "
        "EXECUTE FUNCTION incident_counts_cd()",
    ]


def _backfill() -> list[str]:
    """Every existing incident and citation counted once, already summed per key."""
    keys = "measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id"
    group = ("(i.case_file_id IS NOT NULL) AS in_case_file, i.restricted AS restricted, i.side AS side, "
             "i.team_id AS team_id")
    rows = (
        f"SELECT 'opened' AS measure, {_month('i.created_at')} AS month, i.workflow_key AS workflow_key, "
        f"'' AS state, '' AS clause_key, {group} FROM incidents i",
        f"SELECT 'closed' AS measure, {_month('i.closed_at')} AS month, i.workflow_key AS workflow_key, "
        f"'' AS state, '' AS clause_key, {group} FROM incidents i WHERE i.closed_at IS NOT NULL",
        f"SELECT 'open' AS measure, '' AS month, i.workflow_key AS workflow_key, i.state AS state, "
        f"'' AS clause_key, {group} FROM incidents i WHERE i.closed_at IS NULL",
        f"SELECT 'cited' AS measure, {_month('c.cited_at')} AS month, '' AS workflow_key, '' AS state, "
        f"c.clause_key AS clause_key, {group} FROM incident_clauses c JOIN incidents i ON i.id = c.incident_id",
    )
    return [f"INSERT INTO incident_counts ({COUNT_COLUMNS}) SELECT {keys}, count(*) FROM ({inner}) x "
            f"GROUP BY {keys}" for inner in rows]


def _london_months() -> list[dict[str, object]]:
    london = ZoneInfo("Europe/London")
    rows = []
    for year in range(1990, 2101):
        for month in range(1, 13):
            first = date(year, month, 1)
            start = datetime(first.year, first.month, 1, tzinfo=london).astimezone(UTC)
            rows.append({"month": f"{first:%Y-%m}", "starts_at": start})
    return rows


def upgrade() -> None:
    months = op.create_table(
        'calendar_months',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('starts_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('month', name=op.f('pk_calendar_months')),
        sa.UniqueConstraint('starts_at', name=op.f('uq_calendar_months_starts_at')),
    )
    op.bulk_insert(months, _london_months())
    op.create_table(
        'incident_counts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('measure', sa.String(length=8), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=True),
        sa.Column('workflow_key', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=64), nullable=False),
        sa.Column('clause_key', sa.String(length=64), nullable=False),
        sa.Column('in_case_file', sa.Boolean(), nullable=False),
        sa.Column('restricted', sa.Boolean(), nullable=False),
        sa.Column('side', sa.String(length=16), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_counts')),
    )
    op.create_index('ix_incident_counts_measure_month', 'incident_counts', ['measure', 'month'], unique=False)
    op.create_index('ix_incidents_created_by_id', 'incidents', ['created_by_id'], unique=False)
    op.execute("CREATE INDEX ix_incidents_sample ON incidents ((id % 64), created_at)")
    for statement in _backfill():
        op.execute(statement)
    dialect = op.get_bind().dialect.name
    for statement in (_sqlite_triggers() if dialect == "sqlite" else _pg_statements()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("ai", "au", "bd", "ci", "cu", "cd"):
            op.execute(f"DROP TRIGGER incident_counts_{name}")
    else:
        for table, names in (("incidents", ("ai", "au", "bd")), ("incident_clauses", ("ci", "cu", "cd"))):
            for name in names:
                op.execute(f"DROP TRIGGER incident_counts_{name} ON {table}")
                op.execute(f"DROP FUNCTION incident_counts_{name}()")
    op.execute("DROP INDEX ix_incidents_sample")
    op.drop_index('ix_incidents_created_by_id', table_name='incidents')
    op.drop_index('ix_incident_counts_measure_month', table_name='incident_counts')
    op.drop_table('incident_counts')
    op.drop_table('calendar_months')
