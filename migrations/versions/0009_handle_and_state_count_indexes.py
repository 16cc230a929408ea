"""index handles by name alone; count states of a workflow from the index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 20:55:00

Plain CREATE/DROP INDEX (no batch mode): on SQLite a batch operation rebuilds the table, which
would drop the full-text triggers migration 0008 put on ``incidents``.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_social_handles_handle_key', 'social_handles', ['handle_key'], unique=False)
    op.create_index('ix_incidents_workflow_state_closed', 'incidents', ['workflow_key', 'state', 'closed_at'],
                    unique=False)
    op.drop_index('ix_incidents_workflow_state', table_name='incidents')


def downgrade() -> None:
    op.create_index('ix_incidents_workflow_state', 'incidents', ['workflow_key', 'state'], unique=False)
    op.drop_index('ix_incidents_workflow_state_closed', table_name='incidents')
    op.drop_index('ix_social_handles_handle_key', table_name='social_handles')
