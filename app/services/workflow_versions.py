"""Moving open incidents from the workflow version they started on to the current file's version."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Incident, User
from app.services import ServiceError, audit
from app.services.incidents import remember_version
from app.workflow import WorkflowRegistry


class MigrationBlocked(ServiceError):
    pass


def migrate_open_incidents(
    session: Session, registry: WorkflowRegistry, key: str, *, actor: User | None, dry_run: bool = False
) -> list[Incident]:
    """Move every open incident of ``key`` to the current version, or none if any state would vanish."""
    current = registry.get(key)
    stale = session.scalars(
        select(Incident).where(Incident.workflow_key == key, Incident.closed_at.is_(None),
                               Incident.workflow_version != current.version).order_by(Incident.id)
    ).all()
    missing = sorted({i.state for i in stale if i.state not in current.states})
    if missing:
        blocked = [i.reference for i in stale if i.state in missing]
        raise MigrationBlocked(
            f"cannot move {key}: the current file has no state {', '.join(repr(s) for s in missing)}, "
            f"where {len(blocked)} open incident(s) stand (e.g. {', '.join(blocked[:5])}). "
            "Add the state back or finish those incidents first; nothing was moved."
        )
    if dry_run:
        return list(stale)
    remember_version(session, current)
    for incident in stale:
        old = incident.workflow_version
        incident.workflow_version = current.version
        incident.bump_version()
        session.flush()
        audit.record(session, actor=actor, action="incident.workflow_migrated", incident=incident,
                     from_state=incident.state, to_state=incident.state,
                     data={"from_version": old, "to_version": current.version})
    return list(stale)
