"""Named deadlines running on incidents: when they fall due, why they exist, paused time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.incidents import Incident

DEADLINE_STATUSES = ("running", "paused", "met", "cancelled")
# A deadline whose reminders have all gone (far beyond any real due time; not NULL, which means "work it out").
NO_MORE_REMINDERS = datetime(9999, 1, 1, tzinfo=UTC)
# A running deadline not yet marked breached: the predicate of ix_deadlines_unbreached_due. A query reaches that
# index through these very terms written as literals (``unbreached()``): PostgreSQL's generic plan for a prepared
# statement, which a worker's claim soon gets, cannot match a bound 'running' against an index's predicate.
UNBREACHED_SQL = "status = 'running' AND breached_at IS NULL"


def unbreached() -> ColumnElement[bool]:
    """``UNBREACHED_SQL`` on the deadlines table, for a query's WHERE clause."""
    table = Deadline.__table__
    return and_(table.c.status == literal_column("'running'"), table.c.breached_at.is_(None))


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'paused', 'met', 'cancelled')", name="known_status"),
        # The sweep pages along (due_at, id); the dashboard's "due" counts read incident_id here too (0016).
        Index("ix_deadlines_status_due_at", "status", "due_at", "id", "incident_id"),
        # An incident's deadlines, and the dashboard's per-incident deadline facts read from the index alone.
        Index("ix_deadlines_incident_id", "incident_id", "key", "status", "due_at", "finished_at", "started_at"),
        # The sweep's reminder pass: the deadlines whose next reminder is not yet worked out, or is due (0017).
        Index("ix_deadlines_status_next_remind_at", "status", "next_remind_at", "id"),
        # The sweep's breach pass: only the deadlines still to be marked, so a claim never walks past the running
        # deadlines already marked breached (they stay running until someone acts, and pile up) (0029). status
        # leads though constant: SQLite then finds it as good a match as the full index above and takes this one.
        Index("ix_deadlines_unbreached_due", "status", "due_at", "id", sqlite_where=text(UNBREACHED_SQL),
              postgresql_where=text(UNBREACHED_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    why: Mapped[str] = mapped_column(Text)
    duration: Mapped[str] = mapped_column(String(64))
    calendar: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="running")
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    # Copied from the workflow file when the deadline starts, so the sweep needs no definitions.
    reminders: Mapped[list[str]] = mapped_column(JSON, default=list)
    on_breach: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the next reminder falls (app/services/sweep.py keeps it): NULL until the sweep has worked it out,
    # and again whenever the due time moves (``_due_time_moved``), so a moved deadline is always looked at anew;
    # NO_MORE_REMINDERS once every reminder has gone. Reminders follow the working calendar as it was when the
    # time was worked out (a closure day added later does not move a reminder already scheduled).
    next_remind_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship(back_populates="deadlines")
    extensions: Mapped[list[DeadlineExtension]] = relationship(
        back_populates="deadline", cascade="all, delete-orphan", order_by="DeadlineExtension.id"
    )

    @validates("due_at")
    def _due_time_moved(self, _key: str, value: datetime) -> datetime:
        if value != self.__dict__.get("due_at"):
            self.next_remind_at = None
        return value

    @property
    def is_live(self) -> bool:
        return self.status in ("running", "paused")

    def is_overdue(self, now: datetime) -> bool:
        return self.status == "running" and self.due_at < now


class DeadlineExtension(Base):
    """An agreed extension: the old and new due times, why, and who agreed it."""

    __tablename__ = "deadline_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    previous_due_at: Mapped[datetime]
    new_due_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    agreed_by: Mapped[str] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    deadline: Mapped[Deadline] = relationship(back_populates="extensions")
