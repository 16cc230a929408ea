"""dashboards: incidents.first_action_at (backfilled from the audit trail) and indexes for the aggregates

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:40:00

Plain ALTER TABLE ADD COLUMN and CREATE INDEX (no batch mode): on SQLite a batch operation rebuilds the
table, which would drop the full-text triggers migration 0008 put on ``incidents``.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('incidents', sa.Column('first_action_at', sa.DateTime(timezone=True), nullable=True))
    # The first transition's time, as take_transition now records it: its audit row's ``at``.
    op.execute("UPDATE incidents SET first_action_at = (SELECT min(audit_events.at) FROM audit_events "
               "WHERE audit_events.incident_id = incidents.id AND audit_events.action = 'incident.transition')")
    op.create_index('ix_incidents_dashboard_opened', 'incidents',
                    ['created_at', 'workflow_key', 'state', 'closed_at', 'first_action_at', 'restricted', 'side',
                     'team_id', 'case_file_id', 'assignee_id', 'created_by_id', 'outcome'], unique=False)
    op.create_index('ix_incidents_dashboard_closed', 'incidents',
                    ['closed_at', 'workflow_key', 'state', 'restricted', 'side', 'team_id', 'case_file_id',
                     'assignee_id', 'created_by_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incidents_dashboard_closed', table_name='incidents')
    op.drop_index('ix_incidents_dashboard_opened', table_name='incidents')
    op.drop_column('incidents', 'first_action_at')
