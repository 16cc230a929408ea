"""PostgreSQL: the index by workflow and opening time carries the incident's id

The dashboards' content-removal and press sections read one workflow's incidents opened in the period (14,000 press
referrals a year at a million incidents) and follow each to its deadlines and audit rows by id. The index they
range over holds every column they test but not the id, so PostgreSQL fetched each incident from the table: 56-72
ms a section (bench/RESULTS.md run 20). ``INCLUDE (id)`` lets it read the cohort from the index alone. SQLite's
indexes carry the rowid already: nothing changes there.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 12:45:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_incidents_workflow_created"
COLUMNS = ["workflow_key", "created_at", "state", "restricted", "side", "team_id", "case_file_id", "assignee_id",
           "created_by_id"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(NAME, table_name="incidents")
        op.create_index(NAME, "incidents", COLUMNS, postgresql_include=["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(NAME, table_name="incidents")
        op.create_index(NAME, "incidents", COLUMNS)
