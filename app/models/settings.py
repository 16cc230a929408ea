"""Organisation-wide settings kept in the database (editable by administrators)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class OrganisationSettings(Base):
    """Exactly one row (id 1)."""

    __tablename__ = "organisation_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    name: Mapped[str] = mapped_column(String(200))
    default_calendar: Mapped[str] = mapped_column(String(32), default="england-and-wales")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    # End of the working day, "HH:MM" local time, when a working-day deadline falls due.
    working_day_ends: Mapped[str] = mapped_column(String(5), default="17:00")


class ClosureDay(Base):
    """A day the organisation is closed (e.g. the Christmas shutdown): not a working day."""

    __tablename__ = "closure_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
