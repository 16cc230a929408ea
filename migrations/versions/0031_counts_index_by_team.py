"""incident_counts: the (measure, month) index also keyed by team

A team's dashboard (a communications officer's, a regional officer's) sums the counts of its own team only, but the
index led by (measure, month) held every team's rows together, so each of its sums read all of them and dropped the
other teams' (a year of time-to-act histogram rows at a million incidents: 50,538 read for one team's 11,155). With
the team as the index's third column the sum reads that team's rows; a role that sees every team reads the same rows
as before through the first two columns. It replaces the old index, so writing a count row updates no more indexes
than before. Measured at a million incidents (bench/RESULTS.md run 25): the comms dashboard 123 -> 91 ms on
PostgreSQL, 89 -> 75 ms on SQLite; 1.2 s to build on 620,000 count rows.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 00:40:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_incident_counts_measure_month_team', 'incident_counts', ['measure', 'month', 'team_id'])
    op.drop_index('ix_incident_counts_measure_month', table_name='incident_counts')


def downgrade() -> None:
    op.create_index('ix_incident_counts_measure_month', 'incident_counts', ['measure', 'month'])
    op.drop_index('ix_incident_counts_measure_month_team', table_name='incident_counts')
