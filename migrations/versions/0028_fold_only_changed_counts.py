"""dashboards: fold only the counts that changed

The worker folds ``incident_counts`` every minute. The fold summed and rewrote the whole table each time: about
620,000 rows at a million incidents, 2.8 s on SQLite (holding the write lock, so every user's change waited) and
4.8 s on PostgreSQL, however little had changed (bench/RESULTS.md run 21). ``folded`` marks the rows a fold wrote;
the triggers' change rows keep the default (false), so a fold finds the (measure, month) slices with changes through
the small partial index below and rewrites only those. The first fold after this migration still rewrites
everything once.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 17:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: instant on both databases (no table rewrite).
    op.add_column('incident_counts', sa.Column('folded', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_incident_counts_unfolded', 'incident_counts', ['measure', 'month'],
                    sqlite_where=sa.text('NOT folded'), postgresql_where=sa.text('NOT folded'))


def downgrade() -> None:
    op.drop_index('ix_incident_counts_unfolded', table_name='incident_counts')
    op.drop_column('incident_counts', 'folded')
