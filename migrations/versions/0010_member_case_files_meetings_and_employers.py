"""member case files: employers, members, case files and their reps, meetings; incidents.case_file_id

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 22:31:56

The new column on ``incidents`` is added with a plain ALTER TABLE (no batch mode): on SQLite a batch
operation rebuilds the table, which would drop the full-text triggers migration 0008 put on it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('employers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('policy_durations', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employers')),
    sa.UniqueConstraint('name', name=op.f('uq_employers_name'))
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('membership_number', sa.String(length=32), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=True),
    sa.Column('workplace', sa.String(length=200), nullable=True),
    sa.Column('employer_id', sa.Integer(), nullable=True),
    sa.Column('job_title', sa.String(length=200), nullable=True),
    sa.Column('manager', sa.String(length=200), nullable=True),
    sa.Column('access_needs', sa.Text(), nullable=True),
    sa.Column('joined_on', sa.Date(), nullable=True),
    sa.Column('subs_in_order', sa.Boolean(), nullable=False),
    sa.Column('consent_recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employer_id'], ['employers.id'], name=op.f('fk_members_employer_id_employers')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_members_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('membership_number', name=op.f('uq_members_membership_number')),
    sa.UniqueConstraint('person_id', name=op.f('uq_members_person_id'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_employer_id'), ['employer_id'], unique=False)

    op.create_table('case_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('issue_arose_on', sa.Date(), nullable=True),
    sa.Column('regulator_check', sa.String(length=16), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("regulator_check IN ('pending', 'not_needed', 'track_opened')", name=op.f('ck_case_files_known_regulator_check')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_case_files_created_by_id_users')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_case_files_member_id_members')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_case_files_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_files')),
    sa.UniqueConstraint('reference', name=op.f('uq_case_files_reference'))
    )
    with op.batch_alter_table('case_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_files_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_files_team_id'), ['team_id'], unique=False)

    op.create_table('case_file_reps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_file_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_by_id', sa.Integer(), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['assigned_by_id'], ['users.id'], name=op.f('fk_case_file_reps_assigned_by_id_users')),
    sa.ForeignKeyConstraint(['case_file_id'], ['case_files.id'], name=op.f('fk_case_file_reps_case_file_id_case_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_file_reps_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_file_reps'))
    )
    with op.batch_alter_table('case_file_reps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_file_reps_case_file_id'), ['case_file_id'], unique=False)
        batch_op.create_index('ix_case_file_reps_user_id_ended_at', ['user_id', 'ended_at'], unique=False)

    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('companion', sa.String(length=200), nullable=True),
    sa.Column('invitation_received_on', sa.Date(), nullable=True),
    sa.Column('documents_received', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'rescheduled', 'held', 'cancelled')", name=op.f('ck_meetings_known_status')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_meetings_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meetings_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_meetings_status_scheduled_at', ['status', 'scheduled_at'], unique=False)

    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE incidents ADD COLUMN case_file_id INTEGER REFERENCES case_files (id)')
    else:
        op.add_column('incidents', sa.Column('case_file_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_incidents_case_file_id_case_files'), 'incidents', 'case_files',
                              ['case_file_id'], ['id'])
    op.create_index(op.f('ix_incidents_case_file_id'), 'incidents', ['case_file_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incidents_case_file_id'), table_name='incidents')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_incidents_case_file_id_case_files'), 'incidents', type_='foreignkey')
    op.drop_column('incidents', 'case_file_id')  # SQLite 3.35+ drops a plain column in place

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_meetings_status_scheduled_at')
        batch_op.drop_index(batch_op.f('ix_meetings_incident_id'))

    op.drop_table('meetings')
    with op.batch_alter_table('case_file_reps', schema=None) as batch_op:
        batch_op.drop_index('ix_case_file_reps_user_id_ended_at')
        batch_op.drop_index(batch_op.f('ix_case_file_reps_case_file_id'))

    op.drop_table('case_file_reps')
    with op.batch_alter_table('case_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_files_team_id'))
        batch_op.drop_index(batch_op.f('ix_case_files_member_id'))

    op.drop_table('case_files')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_employer_id'))

    op.drop_table('members')
    op.drop_table('employers')
