"""The union side: members, their employers, and the case file that holds a member's parallel tracks
(employer disciplinary, appeal, tribunal clock, regulator) with the reps who hold it and the meetings."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.incidents import Incident
    from app.models.people import Person
    from app.models.users import Team, User


class Employer(Base):
    """An employer whose disciplinary policy members' cases run under. ``policy_durations`` holds the
    deadlines its policy sets differently from the workflow file (only those the file lets employers
    change, e.g. ``{"appeal_window": "10 working days"}``)."""

    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    policy_durations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    """A person's union membership: special-category data (DPA 2018 Sch. 1 para 31)."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    membership_number: Mapped[str] = mapped_column(String(32), unique=True)
    branch: Mapped[str | None] = mapped_column(String(200))
    workplace: Mapped[str | None] = mapped_column(String(200))
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"), index=True)
    job_title: Mapped[str | None] = mapped_column(String(200))
    manager: Mapped[str | None] = mapped_column(String(200))
    access_needs: Mapped[str | None] = mapped_column(Text)
    joined_on: Mapped[date | None] = mapped_column(Date)
    subs_in_order: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_recorded_at: Mapped[datetime | None]
    consent_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship()
    employer: Mapped[Employer | None] = relationship()


class CaseFile(Base):
    """One matter for one member. Its tracks are incidents (``Incident.case_file_id``), each on its own
    workflow and clock; who may read any of them is decided by the case file's reps."""

    __tablename__ = "case_files"
    __table_args__ = (
        CheckConstraint("regulator_check IN ('pending', 'not_needed', 'track_opened')", name="known_regulator_check"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    issue_arose_on: Mapped[date | None] = mapped_column(Date)
    # A dismissal (or restriction on practice) asks the rep whether a regulator referral is coming.
    regulator_check: Mapped[str | None] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()
    team: Mapped[Team | None] = relationship()
    reps: Mapped[list[CaseFileRep]] = relationship(
        back_populates="case_file", cascade="all, delete-orphan", order_by="CaseFileRep.id"
    )
    tracks: Mapped[list[Incident]] = relationship(back_populates="case_file", order_by="Incident.id")

    def current_rep_ids(self) -> set[int]:
        return {r.user_id for r in self.reps if r.ended_at is None}


class CaseFileRep(Base):
    """A rep holding a case file, from ``assigned_at`` until ``ended_at`` (reallocation keeps the row)."""

    __tablename__ = "case_file_reps"
    __table_args__ = (Index("ix_case_file_reps_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_file_id: Mapped[int] = mapped_column(ForeignKey("case_files.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)

    case_file: Mapped[CaseFile] = relationship(back_populates="reps")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


MEETING_STATUSES = ("scheduled", "rescheduled", "held", "cancelled")


class Meeting(Base):
    """A meeting or hearing on one track, written by the workflow's meeting effects from the fields of
    the step that scheduled it; a rescheduled hearing keeps its row and a new one follows."""

    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'rescheduled', 'held', 'cancelled')", name="known_status"),
        Index("ix_meetings_status_scheduled_at", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(200))
    companion: Mapped[str | None] = mapped_column(String(200))
    invitation_received_on: Mapped[date | None] = mapped_column(Date)
    documents_received: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()
