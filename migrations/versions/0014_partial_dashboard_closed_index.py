"""the dashboard's closed-incident index holds closed incidents only (closed_at IS NOT NULL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:55:00

0013's index led by closed_at also held every open incident: SQLite's planner (no statistics) took
"closed_at IS NULL" on it as selective and sorted every open incident for the queue's newest-first page instead
of walking the primary key (bench: 75-150 ms at 100k incidents). Plain DROP/CREATE INDEX, no batch mode (it would
rebuild ``incidents`` and drop migration 0008's full-text triggers).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ['closed_at', 'workflow_key', 'state', 'restricted', 'side', 'team_id', 'case_file_id', 'assignee_id',
           'created_by_id']


def upgrade() -> None:
    op.drop_index('ix_incidents_dashboard_closed', table_name='incidents')
    op.create_index('ix_incidents_dashboard_closed', 'incidents', COLUMNS, unique=False,
                    sqlite_where=sa.text('closed_at IS NOT NULL'), postgresql_where=sa.text('closed_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_incidents_dashboard_closed', table_name='incidents')
    op.create_index('ix_incidents_dashboard_closed', 'incidents', COLUMNS, unique=False)
