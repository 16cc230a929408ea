"""Facts recorded about a person across incidents: flags (e.g. an upheld breach) and warnings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.models.base import Base


class PersonFlag(Base):
    __tablename__ = "person_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    flag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Warning(Base):
    """A disciplinary warning: live from its issue date until it expires by itself."""

    __tablename__ = "warnings"
    __table_args__ = (
        CheckConstraint("expires_on > issued_on", name="expires_after_issue"),
        CheckConstraint("status IN ('live', 'expired')", name="known_status"),
        Index("ix_warnings_person_id_expires_on", "person_id", "expires_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(64))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    # live until the sweep sees its expiry date pass; then expired (kept as a summary only).
    status: Mapped[str] = mapped_column(String(16), default="live")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def is_live(self, today: date) -> bool:
        return self.issued_on <= today < self.expires_on
