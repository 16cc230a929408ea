"""reports of posts, keys for finding duplicate posts, office hours and the on-call rota

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('reporter', sa.String(length=200), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('logged_by_id', sa.Integer(), nullable=True),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('member_report', 'monitoring', 'officer', 'staff', 'email', 'import', 'api')",
                           name=op.f('ck_reports_known_channel')),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_reports_incident_id_incidents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['logged_by_id'], ['users.id'], name=op.f('fk_reports_logged_by_id_users')),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_reports_post_id_posts'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_incident_id'), ['incident_id'], unique=False)

    op.create_table(
        'on_call_shifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('duty', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_on_call_shifts_ends_after_start')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_on_call_shifts_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_on_call_shifts')),
    )
    with op.batch_alter_table('on_call_shifts', schema=None) as batch_op:
        batch_op.create_index('ix_on_call_shifts_duty_starts_at', ['duty', 'starts_at'], unique=False)

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url_key', sa.String(length=2000), nullable=True))
        batch_op.create_index('ix_posts_url_key', ['url_key'], unique=False)
        batch_op.create_index('ix_posts_platform_post_id', ['platform', 'platform_post_id'], unique=False)

    with op.batch_alter_table('organisation_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('office_opens', sa.String(length=5), server_default='09:00', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('organisation_settings', schema=None) as batch_op:
        batch_op.drop_column('office_opens')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_platform_post_id')
        batch_op.drop_index('ix_posts_url_key')
        batch_op.drop_column('url_key')
    with op.batch_alter_table('on_call_shifts', schema=None) as batch_op:
        batch_op.drop_index('ix_on_call_shifts_duty_starts_at')
    op.drop_table('on_call_shifts')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_incident_id'))
    op.drop_table('reports')
