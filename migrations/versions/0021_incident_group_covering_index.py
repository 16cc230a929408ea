"""PostgreSQL: an incident's group and assignment read by id from an index alone (the dashboards' "due")

The dashboards' "overdue and due this week" reads the running deadlines due within a week (tens of thousands at
a million incidents) and looks each incident up by id only to test who may read it and group it by workflow.
From the table that is a heap page per deadline; this index carries exactly those columns, so PostgreSQL reads
them from the index (bench/RESULTS.md run 18). PostgreSQL only (``INCLUDE``): SQLite looks an incident up by its
rowid whatever other index exists, and the models do not declare it (``app.services.search.include_object``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 07:50:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_incidents_group_by_id"  # app.models.counts.GROUP_BY_ID_INDEX


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {NAME} ON incidents (id) INCLUDE (workflow_key, team_id, side, restricted, "
                   "case_file_id, assignee_id, created_by_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {NAME}")
