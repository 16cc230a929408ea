"""dashboards at a million incidents: indexes for each remaining section (bench/RESULTS.md run 15)

- ``ix_incidents_case_file_id`` holds case-file tracks only (``WHERE case_file_id IS NOT NULL``): a look-up
  by case file still uses it, but SQLite's planner (no statistics) no longer takes "case_file_id IS NULL", which
  holds for most incidents, as a selective index term (it had read every incident that way for sanctions).
- ``ix_incidents_outcomes``: incidents with an outcome, by opening time, with what sanctions consistency groups by
  and the visibility columns (partial: only those with an outcome).
- ``ix_incidents_workflow_created``: one workflow's incidents by opening time (content removal, press referrals).
- ``ix_incidents_team_created`` (replaces ``ix_incidents_team_id``): one team's incidents by opening time, for a
  regional officer's or comms team's cohort, with the columns times to close and to first action read.
- ``ix_incidents_sample`` now carries those columns too, so the 1-in-64 sample is read from the index alone.
- ``ix_audit_events_not_complied``: the audit rows of content removals marked not complied with (partial).
- ``ix_deadlines_incident_id`` also carries key, status and times: an incident's deadline is read from the index.
- ``ix_deadlines_status_due_at`` is (status, due_at, id, incident_id): still in the sweep's (due_at, id) order,
  and the dashboard's "overdue / due this week" reads the incident from it without visiting the deadline.

Plain CREATE/DROP INDEX (no batch mode: see 0008).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 02:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIBILITY = ['restricted', 'side', 'team_id', 'case_file_id', 'assignee_id', 'created_by_id']
TIMING = ['workflow_key', 'closed_at', 'first_action_at']
# The dashboard's removal facts (app/services/dashboard.py: NOT_COMPLIED_TRANSITION).
NOT_COMPLIED = "transition = 'mark_non_compliant'"


def _partial(where: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def upgrade() -> None:
    op.drop_index('ix_incidents_case_file_id', table_name='incidents')
    op.create_index('ix_incidents_case_file_id', 'incidents', ['case_file_id'],
                    **_partial('case_file_id IS NOT NULL'))
    op.create_index('ix_incidents_outcomes', 'incidents',
                    ['created_at', 'outcome', 'severity', 'subject_id', *VISIBILITY],
                    **_partial('outcome IS NOT NULL'))
    op.create_index('ix_incidents_workflow_created', 'incidents', ['workflow_key', 'created_at', 'state', *VISIBILITY])
    op.drop_index('ix_incidents_team_id', table_name='incidents')
    op.create_index('ix_incidents_team_created', 'incidents',
                    ['team_id', 'created_at', *TIMING, *[c for c in VISIBILITY if c != 'team_id']])
    op.execute("DROP INDEX ix_incidents_sample")
    op.execute(f"CREATE INDEX ix_incidents_sample ON incidents ((id % 64), created_at, {', '.join(TIMING + VISIBILITY)})")
    op.create_index('ix_audit_events_not_complied', 'audit_events', ['incident_id'], **_partial(NOT_COMPLIED))
    op.drop_index('ix_deadlines_incident_id', table_name='deadlines')
    op.create_index('ix_deadlines_incident_id', 'deadlines',
                    ['incident_id', 'key', 'status', 'due_at', 'finished_at', 'started_at'])
    op.drop_index('ix_deadlines_status_due_at', table_name='deadlines')
    op.create_index('ix_deadlines_status_due_at', 'deadlines', ['status', 'due_at', 'id', 'incident_id'])


def downgrade() -> None:
    op.drop_index('ix_deadlines_status_due_at', table_name='deadlines')
    op.create_index('ix_deadlines_status_due_at', 'deadlines', ['status', 'due_at'])
    op.drop_index('ix_deadlines_incident_id', table_name='deadlines')
    op.create_index('ix_deadlines_incident_id', 'deadlines', ['incident_id'])
    op.drop_index('ix_audit_events_not_complied', table_name='audit_events')
    op.execute("DROP INDEX ix_incidents_sample")
    op.execute("CREATE INDEX ix_incidents_sample ON incidents ((id % 64), created_at)")
    op.drop_index('ix_incidents_team_created', table_name='incidents')
    op.create_index('ix_incidents_team_id', 'incidents', ['team_id'])
    op.drop_index('ix_incidents_workflow_created', table_name='incidents')
    op.drop_index('ix_incidents_outcomes', table_name='incidents')
    op.drop_index('ix_incidents_case_file_id', table_name='incidents')
    op.create_index('ix_incidents_case_file_id', 'incidents', ['case_file_id'])
