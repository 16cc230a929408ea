"""deadlines.next_remind_at: when a deadline's next reminder falls, so a sweep reads only the reminders due

NULL means "not yet worked out" (a new deadline, or one whose due time moved): the next sweep works it out, sends
any reminder already due and records the next one's time (or NO_MORE_REMINDERS). Existing deadlines start NULL,
so the first sweep after this migration looks at every running deadline once (as every sweep did before).

Plain ALTER TABLE ADD COLUMN and CREATE INDEX (no batch mode).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('deadlines', sa.Column('next_remind_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_deadlines_status_next_remind_at', 'deadlines', ['status', 'next_remind_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_deadlines_status_next_remind_at', table_name='deadlines')
    op.drop_column('deadlines', 'next_remind_at')
