"""Incidents: one case moving through one workflow, and the counter behind their references."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.deadlines import Deadline
    from app.models.evidence import EvidenceFile, Post, Report
    from app.models.members import CaseFile
    from app.models.people import Person
    from app.models.users import Team, User
    from app.models.workflow import IncidentClause


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)


class ReferenceCounter(Base):
    """Next reference number per year. Incremented with an UPDATE so concurrent openings never clash."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


# What visible_incidents and can_view test on a row: the dashboard's indexes carry them so counts never visit the
# table, and the queue loads them with each row (app.services.queue.ROW_COLUMNS).
VISIBILITY_COLUMNS = ("restricted", "side", "team_id", "case_file_id", "assignee_id", "created_by_id")
# An incident's group (app.permissions.GroupColumns), in migration 0024's order.
_GROUP = ("case_file_id", "restricted", "side", "team_id")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="known_severity"),
        CheckConstraint("version >= 1", name="positive_version"),
        CheckConstraint("side IN ('college', 'union', 'regulator')", name="known_side"),
        CheckConstraint("(closed_at IS NULL) OR (closed_at >= created_at)", name="closed_after_created"),
        # Also the queue's counts per state of one workflow, open or closed, read from the index alone.
        Index("ix_incidents_workflow_state_closed", "workflow_key", "state", "closed_at"),
        # The list pages newest-first within a workflow: without (workflow_key, id) SQLite sorts the
        # whole workflow to return 50 rows (bench: 250-550 ms at a million incidents).
        Index("ix_incidents_workflow_key_id", "workflow_key", "id"),
        # ... and within a state (PostgreSQL otherwise sorted every incident of the state: 0018).
        Index("ix_incidents_state_id", "state", "id"),
        # Whose incidents (the queue's "assigned to me"; the dashboards' personal incidents, 0015): with the group
        # columns, a dashboard finds someone's incidents outside their role's groups from the index alone (0024).
        Index("ix_incidents_assignee_closed", "assignee_id", "closed_at", *_GROUP, postgresql_include=["id"]),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_created_by_id", "created_by_id", *_GROUP, postgresql_include=["id"]),
        # The dashboards: every count over the incidents opened in the period (and their times to close and
        # to first action) is read from this index alone, visibility columns included, never the table.
        Index("ix_incidents_dashboard_opened", "created_at", "workflow_key", "state", "closed_at", "first_action_at",
              "restricted", "side", "team_id", "case_file_id", "assignee_id", "created_by_id", "outcome"),
        # ... and the closures per month (a closed_at range). Partial: led by closed_at and holding the open rows
        # too, SQLite's planner (no statistics) took "closed_at IS NULL" on it as selective and sorted every open
        # incident for the queue's newest-first page instead of walking the key (bench: 75-150 ms at 100k).
        Index("ix_incidents_dashboard_closed", "closed_at", "workflow_key", "state", "restricted", "side", "team_id",
              "case_file_id", "assignee_id", "created_by_id",
              sqlite_where=text("closed_at IS NOT NULL"), postgresql_where=text("closed_at IS NOT NULL")),
        # The rest of the dashboard at a million incidents (migration 0016 says why each). Case-file tracks only:
        # "case_file_id IS NULL" (most incidents) must not look selective to SQLite's planner.
        Index("ix_incidents_case_file_id", "case_file_id", sqlite_where=text("case_file_id IS NOT NULL"),
              postgresql_where=text("case_file_id IS NOT NULL")),
        Index("ix_incidents_outcomes", "created_at", "outcome", "severity", "subject_id", *VISIBILITY_COLUMNS,
              sqlite_where=text("outcome IS NOT NULL"), postgresql_where=text("outcome IS NOT NULL")),
        # One workflow's incidents opened in the period (the dashboards' removal and press), id and all (0025).
        Index("ix_incidents_workflow_created", "workflow_key", "created_at", "state", *VISIBILITY_COLUMNS,
              postgresql_include=["id"]),
        Index("ix_incidents_team_created", "team_id", "created_at", "workflow_key", "closed_at", "first_action_at",
              *(c for c in VISIBILITY_COLUMNS if c != "team_id")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    # college | union | regulator: copied from the workflow at opening; decides who may see it.
    side: Mapped[str] = mapped_column(String(16))
    workflow_key: Mapped[str] = mapped_column(String(64))
    workflow_version: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(64))
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    severity: Mapped[str] = mapped_column(String(16), default=Severity.MEDIUM)
    calendar: Mapped[str] = mapped_column(String(32), default="england-and-wales")
    outcome: Mapped[str | None] = mapped_column(String(64))
    # The latest value of every field entered on a transition (e.g. the effective date of termination).
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # Union side: the member's case file this track belongs to (its reps decide who may read it).
    case_file_id: Mapped[int | None] = mapped_column(ForeignKey("case_files.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    # When the first transition was taken (the ``at`` of its audit row), set once by take_transition: the
    # dashboards' time to first action reads it here instead of looking up audit_events per incident.
    first_action_at: Mapped[datetime | None]
    # Optimistic locking: every UPDATE says "WHERE version = <the version I read>", so of two people
    # acting at once only one can move the incident; the other's flush raises StaleDataError.
    # Services bump it once per operation (``bump_version``), so one decision is one version.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    def bump_version(self) -> None:
        self.version = (self.version or 0) + 1

    subject: Mapped[Person | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    team: Mapped[Team | None] = relationship()
    case_file: Mapped[CaseFile | None] = relationship(back_populates="tracks")
    posts: Mapped[list[Post]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="Post.id"
    )
    reports: Mapped[list[Report]] = relationship(cascade="all, delete-orphan", order_by="Report.id")
    evidence_files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="EvidenceFile.id"
    )

    clauses: Mapped[list[IncidentClause]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentClause.clause_key"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        # The id breaks ties, so clocks due together come in one order however they are loaded.
        back_populates="incident", cascade="all, delete-orphan", order_by="(Deadline.due_at, Deadline.id)"
    )
    shares: Mapped[list[IncidentShare]] = relationship(cascade="all, delete-orphan", order_by="IncidentShare.id")

    def __repr__(self) -> str:
        return f"<Incident {self.reference} {self.workflow_key}:{self.state}>"


class IncidentShare(Base):
    """Access to one incident for one user beyond the usual rules: an explicit share, or an
    administrator's "break glass" reading of a restricted file. Always with a reason; never deleted."""

    __tablename__ = "incident_shares"
    __table_args__ = (
        CheckConstraint("kind IN ('share', 'break_glass')", name="known_kind"),
        Index("ix_incident_shares_user_id_incident_id", "user_id", "incident_id"),
        Index("ix_incident_shares_incident_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16), default="share")
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
