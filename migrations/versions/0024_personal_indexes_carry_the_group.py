"""incidents: the indexes by assignee and by opener carry the incident's group

A dashboard finds once the incidents its viewer sees only personally (assigned to them, opened by them, shared
with them, their case files) outside the groups their role sees. A comms officer or Director assigned or opening
thousands of incidents, nearly all in their own groups, made the database fetch each from the table to test its
group: on PostgreSQL 5,000-10,000 heap pages, 18-50 ms a dashboard at a million incidents (bench/RESULTS.md run
20). With the group columns in these two indexes (and on PostgreSQL the id, ``INCLUDE``: SQLite's carry the rowid)
the test is made in the index and only the handful outside are looked at. The leading columns are unchanged, so
the queue's "assigned to me" reads them as before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 12:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP = ("case_file_id", "restricted", "side", "team_id")
# name -> (columns before, columns after)
INDEXES = {"ix_incidents_assignee_closed": (("assignee_id", "closed_at"), ("assignee_id", "closed_at", *GROUP)),
           "ix_incidents_created_by_id": (("created_by_id",), ("created_by_id", *GROUP))}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (_before, after) in INDEXES.items():
        op.drop_index(name, table_name="incidents")
        op.create_index(name, "incidents", list(after), **({"postgresql_include": ["id"]} if postgresql else {}))


def downgrade() -> None:
    for name, (before, _after) in INDEXES.items():
        op.drop_index(name, table_name="incidents")
        op.create_index(name, "incidents", list(before))
