"""data protection: legal holds, retention records; people.office_ended_on and people.erased_at

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00

The columns on ``people`` are added with a plain ALTER TABLE (no batch mode), so SQLite keeps the table
and the full-text triggers on other tables untouched.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('legal_hold', 'legal_claims')", name=op.f('ck_legal_holds_known_kind')),
    sa.CheckConstraint('(incident_id IS NULL) <> (person_id IS NULL)', name=op.f('ck_legal_holds_one_target')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_legal_holds_incident_id_incidents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_legal_holds_person_id_people'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['placed_by_id'], ['users.id'], name=op.f('fk_legal_holds_placed_by_id_users')),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], name=op.f('fk_legal_holds_released_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    op.create_index('ix_legal_holds_incident_id', 'legal_holds', ['incident_id'], unique=False)
    op.create_index('ix_legal_holds_person_id', 'legal_holds', ['person_id'], unique=False)
    op.create_table('retention_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('retention_class', sa.String(length=32), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed', sa.JSON(), nullable=False),
    sa.CheckConstraint("stage IN ('summary', 'anonymised')", name=op.f('ck_retention_records_known_stage')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                            name=op.f('fk_retention_records_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_records')),
    sa.UniqueConstraint('incident_id', 'stage', name=op.f('uq_retention_records_incident_id_stage'))
    )
    op.add_column('people', sa.Column('office_ended_on', sa.Date(), nullable=True))
    op.add_column('people', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('people') as batch:
        batch.drop_column('erased_at')
        batch.drop_column('office_ended_on')
    op.drop_table('retention_records')
    op.drop_index('ix_legal_holds_person_id', table_name='legal_holds')
    op.drop_index('ix_legal_holds_incident_id', table_name='legal_holds')
    op.drop_table('legal_holds')
