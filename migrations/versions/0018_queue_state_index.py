"""the queue by state, newest first: an index on (state, id)

PostgreSQL answered "?state=" for a comms user (visibility OR'd in) by combining two whole-index bitmaps and
sorting, 150 ms at a million incidents (bench/RESULTS.md run 16); with (state, id) it walks one state's incidents
newest first and stops at 51 (19 ms). SQLite gains the same walk.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:35:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_incidents_state_id', 'incidents', ['state', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incidents_state_id', table_name='incidents')
