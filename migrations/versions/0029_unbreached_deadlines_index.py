"""deadlines: a partial index of the running deadlines not yet marked breached

The sweep's breach pass claimed its batches through ``ix_deadlines_status_due_at`` (status, due_at, …), which also
holds the running deadlines already marked breached. Such a deadline stays running until someone acts on it, so they
pile up, and every claim walked past all of them (and, within one sweep, past every deadline the earlier batches had
just marked). This index holds only the deadlines still to be marked; a deadline leaves it when it is marked.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 20:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (app.models.deadlines.UNBREACHED_SQL may change later; this migration must not).
UNBREACHED = "status = 'running' AND breached_at IS NULL"


def upgrade() -> None:
    # status leads although constant: SQLite then sees it match as many terms as ix_deadlines_status_due_at and
    # prefers this, the partial one (with due_at alone it took the full index).
    op.create_index('ix_deadlines_unbreached_due', 'deadlines', ['status', 'due_at', 'id'],
                    sqlite_where=sa.text(UNBREACHED), postgresql_where=sa.text(UNBREACHED))


def downgrade() -> None:
    op.drop_index('ix_deadlines_unbreached_due', table_name='deadlines')
