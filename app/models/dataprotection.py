"""Data protection records: legal holds (and legal-claims exemptions) and what retention has done."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.users import User

HOLD_KINDS = {"legal_hold": "Legal hold", "legal_claims": "Legal-claims exemption"}


class LegalHold(Base):
    """Stops retention and erasure for one incident or one person until released.

    A ``legal_hold`` is placed when litigation or an investigation is expected; a ``legal_claims``
    exemption is what an administrator records when an erasure request is refused because the data is
    needed to establish, exercise or defend legal claims (UK GDPR article 17(3)(e)). Released holds are
    kept, with who released them and why."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint("kind IN ('legal_hold', 'legal_claims')", name="known_kind"),
        CheckConstraint("(incident_id IS NULL) <> (person_id IS NULL)", name="one_target"),
        Index("ix_legal_holds_incident_id", "incident_id"),
        Index("ix_legal_holds_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="legal_hold")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str | None] = mapped_column(Text)

    placed_by: Mapped[User | None] = relationship(foreign_keys=[placed_by_id])
    released_by: Mapped[User | None] = relationship(foreign_keys=[released_by_id])

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def kind_title(self) -> str:
        return HOLD_KINDS.get(self.kind, self.kind)


class RetentionRecord(Base):
    """One step retention took on an incident: ``summary`` (an expired warning's paperwork removed) or
    ``anonymised`` (the retention period passed: only the statistical record is left)."""

    __tablename__ = "retention_records"
    __table_args__ = (
        CheckConstraint("stage IN ('summary', 'anonymised')", name="known_stage"),
        UniqueConstraint("incident_id", "stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    retention_class: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What was removed, as counts (never the content): {"evidence_files": 2, "posts": 1, ...}.
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
