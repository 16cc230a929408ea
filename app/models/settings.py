"""Organisation-wide settings kept in the database (editable by administrators)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base

if TYPE_CHECKING:
    from app.models.users import User


class OrganisationSettings(Base):
    """Exactly one row (id 1)."""

    __tablename__ = "organisation_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    name: Mapped[str] = mapped_column(String(200))
    default_calendar: Mapped[str] = mapped_column(String(32), default="england-and-wales")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    # End of the working day, "HH:MM" local time, when a working-day deadline falls due.
    working_day_ends: Mapped[str] = mapped_column(String(5), default="17:00")
    # Start of office hours, "HH:MM" local time; outside office hours the on-call rota is used.
    office_opens: Mapped[str] = mapped_column(String(5), default="09:00", server_default="09:00")


class ClosureDay(Base):
    """A day the organisation is closed (e.g. the Christmas shutdown): not a working day."""

    __tablename__ = "closure_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))


class OnCallShift(Base):
    """Who is on call for a duty (e.g. the press office) from one time to another (UTC).
    Outside office hours urgent notifications for that duty go to them instead of the team."""

    __tablename__ = "on_call_shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_on_call_shifts_duty_starts_at", "duty", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    duty: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()
