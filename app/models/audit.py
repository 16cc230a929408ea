"""The append-only audit trail. Rows are chained by hash so a quiet edit can be detected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId
from app.models.users import User

# The content-removal workflow's "not complied with" transition: the dashboard counts refusals by it
# (app/services/dashboard.py, which checks it still exists in the workflow file) through this partial index.
NOT_COMPLIED_TRANSITION = "mark_non_compliant"
_NOT_COMPLIED = f"transition = '{NOT_COMPLIED_TRANSITION}'"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_incident_id_id", "incident_id", "id"),
        Index("ix_audit_events_at", "at"),
        # Content removals marked not complied with (the dashboard's compliance rate; migration 0016).
        Index("ix_audit_events_not_complied", "incident_id", sqlite_where=text(_NOT_COMPLIED),
              postgresql_where=text(_NOT_COMPLIED)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who acted, as they were named at the time ("system" for the worker).
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    transition: Mapped[str | None] = mapped_column(String(64))
    workflow_version: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # not a unique key: migration 0030 says why

    actor: Mapped[User | None] = relationship()


class AuditChainHead(Base):
    """A single row holding the newest hash. Writers lock it, so the chain can never fork."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
