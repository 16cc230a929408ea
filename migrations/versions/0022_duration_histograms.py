"""dashboards: times to close and to first action as running histograms (duration buckets)

At a million incidents the dashboards' medians and 90th percentiles read a 10,000-incident sample row by row
(55-105 ms a build, bench/RESULTS.md run 19). Two more measures in ``incident_counts`` count each incident opened
in a month by the bucket its duration falls in: ``to_close`` (closed_at - created_at) and ``to_act``
(first_action_at - created_at), per workflow and group. ``duration_buckets`` lists the buckets: [0, 60.5 s), then
each about 5% wider (whole seconds + 0.5), the last open-ended past ten years; a percentile read from them is
within 3% of the exact one. The sample index of 0015 (``ix_incidents_sample``) is no longer read and is dropped.

Triggers on incidents keep the histograms as 0015's and 0020's keep theirs (+1 / -1, INSERT only): opened,
deleted, or changed in anything they key on (opening, closing or first-action time, workflow, group). Existing
incidents are counted once here. Plain ALTER TABLE / CREATE TRIGGER (no batch mode: see 0008).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 10:00:00
"""
# The SQL below is assembled from this file's own constants (column names, NEW/OLD, signs), never from input.
# ruff: noqa: S608
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "measure, month, workflow_key, state, clause_key, in_case_file, restricted, side, team_id, bucket, n"
# Incident columns these counts depend on; an UPDATE touching none of them adds no rows.
COUNTED = ("created_at", "closed_at", "first_action_at", "workflow_key", "case_file_id", "restricted", "side",
           "team_id")
MEASURES = (("to_close", "closed_at"), ("to_act", "first_action_at"))
NAMES = ("ai", "au", "bd")
TEN_YEARS = 10 * 365.25 * 86400


def _bucket_starts() -> list[float]:
    """A frozen copy of app.models.counts.DURATION_BUCKET_STARTS (a migration must not follow later code)."""
    starts, k = [0.0], 0
    while starts[-1] < TEN_YEARS:
        starts.append(round(60 * 1.05 ** k) + 0.5)
        k += 1
    return starts


def _seconds(later: str, earlier: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
    return f"CAST(EXTRACT(EPOCH FROM {later} - {earlier}) AS DOUBLE PRECISION)"


def _month(instant: str) -> str:
    return f"(SELECT month FROM calendar_months WHERE starts_at <= {instant} ORDER BY starts_at DESC LIMIT 1)"


def _bucket(seconds: str) -> str:
    return (f"COALESCE((SELECT bucket FROM duration_buckets WHERE starts_at <= {seconds} "
            "ORDER BY starts_at DESC LIMIT 1), 0)")


def _group(row: str) -> str:
    return f"{row}.case_file_id IS NOT NULL, {row}.restricted, {row}.side, {row}.team_id"


def _incident(row: str, sign: int, dialect: str) -> str:
    """Both histograms' rows for one incident row (NEW or OLD): one per duration it has."""
    return " ".join(
        f"INSERT INTO incident_counts ({COLUMNS}) "
        f"SELECT '{measure}', {_month(f'{row}.created_at')}, {row}.workflow_key, '', '', {_group(row)}, "
        f"{_bucket(_seconds(f'{row}.{column}', f'{row}.created_at', dialect))}, {sign} "
        f"WHERE {row}.{column} IS NOT NULL;"
        for measure, column in MEASURES)


def _bodies(dialect: str) -> dict[str, tuple[str, str, str]]:
    """name -> (when, timing and event, body)."""
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in COUNTED)
    return {
        "ai": ("NEW.closed_at IS NOT NULL OR NEW.first_action_at IS NOT NULL", "AFTER INSERT",
               _incident("NEW", 1, dialect)),
        "au": (changed, "AFTER UPDATE", _incident("OLD", -1, dialect) + " " + _incident("NEW", 1, dialect)),
        "bd": ("OLD.closed_at IS NOT NULL OR OLD.first_action_at IS NOT NULL", "BEFORE DELETE",
               _incident("OLD", -1, dialect)),
    }


def _triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"CREATE TRIGGER duration_counts_{name} {event} ON incidents WHEN {when} BEGIN {body} END"
                for name, (when, event, body) in _bodies(dialect).items()]
    out = []
    for name, (when, event, body) in _bodies(dialect).items():
        returns = "OLD" if event == "BEFORE DELETE" else "NULL"
        out.append(f"CREATE FUNCTION duration_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                   f"RETURN {returns}; END $$")
        out.append(f"CREATE TRIGGER duration_counts_{name} {event} ON incidents FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION duration_counts_{name}()")
    return out


def _backfill(dialect: str) -> list[str]:
    """Every existing incident counted once, already summed per key."""
    keys = "measure, month, workflow_key, in_case_file, restricted, side, team_id, bucket"
    group = ("(i.case_file_id IS NOT NULL) AS in_case_file, i.restricted AS restricted, i.side AS side, "
             "i.team_id AS team_id")
    return [
        f"INSERT INTO incident_counts ({COLUMNS}) "
        f"SELECT measure, month, workflow_key, '', '', in_case_file, restricted, side, team_id, bucket, count(*) "
        f"FROM (SELECT '{measure}' AS measure, {_month('i.created_at')} AS month, i.workflow_key AS workflow_key, "
        f"{group}, {_bucket(_seconds(f'i.{column}', 'i.created_at', dialect))} AS bucket "
        f"FROM incidents i WHERE i.{column} IS NOT NULL) x GROUP BY {keys}"
        for measure, column in MEASURES]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    buckets = op.create_table(
        'duration_buckets',
        sa.Column('bucket', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('starts_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('bucket', name=op.f('pk_duration_buckets')),
        sa.UniqueConstraint('starts_at', name=op.f('uq_duration_buckets_starts_at')),
    )
    op.bulk_insert(buckets, [{"bucket": i, "starts_at": s} for i, s in enumerate(_bucket_starts())])
    op.add_column('incident_counts', sa.Column('bucket', sa.Integer(), nullable=False, server_default='0'))
    for statement in _backfill(dialect):
        op.execute(statement)
    for statement in _triggers(dialect):
        op.execute(statement)
    op.execute("DROP INDEX ix_incidents_sample")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("CREATE INDEX ix_incidents_sample ON incidents ((id % 64), created_at)")
    for name in NAMES:
        op.execute(f"DROP TRIGGER duration_counts_{name}" + ("" if sqlite else " ON incidents"))
        if not sqlite:
            op.execute(f"DROP FUNCTION duration_counts_{name}()")
    op.execute("DELETE FROM incident_counts WHERE measure IN ('to_close', 'to_act')")
    op.drop_column('incident_counts', 'bucket')
    op.drop_table('duration_buckets')
