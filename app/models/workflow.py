"""What the workflow engine leaves in the database: versions used, clauses cited, links between cases."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.incidents import Incident


class WorkflowVersion(Base):
    """The exact text of every workflow version an incident was opened on, so old incidents keep running."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentClause(Base):
    """A clause cited by an incident, with the catalogue version in force on the date of the post."""

    __tablename__ = "incident_clauses"
    __table_args__ = (
        UniqueConstraint("incident_id", "clause_key"),
        Index("ix_incident_clauses_clause_key", "clause_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    clause_key: Mapped[str] = mapped_column(String(64))
    catalogue_version: Mapped[str] = mapped_column(String(32))
    cited_at: Mapped[datetime] = mapped_column(default=utcnow)
    cited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    incident: Mapped[Incident] = relationship(back_populates="clauses")


class IncidentLink(Base):
    """One incident led to another (escalated to formal action, opened a tribunal clock, ...)."""

    __tablename__ = "incident_links"
    __table_args__ = (UniqueConstraint("from_id", "to_id", "relation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[Incident] = relationship(foreign_keys=[from_id])
    target: Mapped[Incident] = relationship(foreign_keys=[to_id])
