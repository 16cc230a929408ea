"""Running counts of incidents for the dashboards, kept by the database itself.

Triggers (migrations 0015 and 0020) add a row to ``incident_counts`` for every change that moves a count: +1
for the incident's new position, -1 for its old one. They only ever INSERT, so two transactions moving incidents
in opposite directions never wait on each other's rows (an UPDATE of shared counter rows could deadlock on
PostgreSQL). ``app.services.counts.fold`` sums the rows into one per key now and then; a count is the sum of
``n`` over its key either way, so folding never changes a figure.

A count's key holds what the dashboards group by (month, workflow, state, clause; severity, outcome and the
subject's role for sanctions) and the incident's *group* (``app.permissions.GroupColumns``): whether it is a
case-file track, restricted, its side and its team. That is what lets a count respect access control: the
role's view of a group is a WHERE clause on these columns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId

# Measures. A month is the calendar month in Europe/London (``calendar_months``), '' where it does not apply.
OPENED = "opened"  # by the month the incident was opened; workflow_key set
CLOSED = "closed"  # by the month it was closed; workflow_key set
OPEN = "open"  # open now, by workflow_key and state
CITED = "cited"  # clause citations, by the month cited and clause_key
# Over incidents with an outcome, by the month they were opened (migration 0020):
SANCTION = "sanction"  # one per cited clause: clause_key, severity, outcome
BY_ROLE = "by_role"  # the subject's role and the outcome (incidents with a subject)

# One incident in SAMPLE_MODULUS by id (``id % SAMPLE_MODULUS``): a fixed, even sample the dashboard's
# percentiles read through ix_incidents_sample when a cohort is too big to read whole.
SAMPLE_MODULUS = 64
SAMPLE_INDEX = "ix_incidents_sample"  # declared by migration 0015 only (an expression index)
# An incident's group and assignment by id, for the dashboards' "due" (migration 0021; PostgreSQL only).
GROUP_BY_ID_INDEX = "ix_incidents_group_by_id"


class CalendarMonth(Base):
    """The UTC instant each Europe/London calendar month starts (1990-2100), so SQLite triggers can find an
    instant's UK month without time-zone support."""

    __tablename__ = "calendar_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-03"
    starts_at: Mapped[datetime] = mapped_column(unique=True)


class IncidentCount(Base):
    __tablename__ = "incident_counts"
    __table_args__ = (Index("ix_incident_counts_measure_month", "measure", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    measure: Mapped[str] = mapped_column(String(8))
    month: Mapped[str | None] = mapped_column(String(7))
    workflow_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    clause_key: Mapped[str] = mapped_column(String(64))
    in_case_file: Mapped[bool] = mapped_column(Boolean)
    restricted: Mapped[bool] = mapped_column(Boolean)
    side: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(Integer)
    # '' where a measure does not use them (the triggers of 0015 leave them at that default).
    severity: Mapped[str] = mapped_column(String(16), server_default="")
    outcome: Mapped[str] = mapped_column(String(64), server_default="")
    subject_role: Mapped[str] = mapped_column(String(32), server_default="")
    n: Mapped[int] = mapped_column(Integer)
