"""Explicit access to one incident: shares with a reason, and administrators' "break glass"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, IncidentShare, User
from app.permissions import can_break_glass, can_share, can_view
from app.services import ServiceError, audit

BREAK_GLASS_FOR = timedelta(hours=1)
MIN_REASON = 10


def _reason(text: str) -> str:
    reason = (text or "").strip()
    if len(reason) < MIN_REASON:
        raise ServiceError(f"Give a reason of at least {MIN_REASON} characters; it is kept in the audit trail.")
    return reason[:2000]


def break_glass(session: Session, incident: Incident, *, actor: User, reason: str) -> IncidentShare:
    """An administrator opens a restricted file for an hour, with an audited reason."""
    if not can_break_glass(actor, incident):
        raise ServiceError("Break glass is for administrators opening a restricted file they cannot otherwise see.")
    grant = IncidentShare(incident_id=incident.id, user_id=actor.id, kind="break_glass", reason=_reason(reason),
                          granted_by_id=actor.id, expires_at=utcnow() + BREAK_GLASS_FOR)
    incident.shares.append(grant)
    session.flush()
    audit.record(session, actor=actor, action="incident.break_glass", incident=incident, comment=grant.reason,
                 object_type="share", object_id=grant.id, data={"expires_at": grant.expires_at.isoformat()})
    return grant


def share(session: Session, incident: Incident, *, actor: User, with_user: User, reason: str) -> IncidentShare:
    if not can_share(actor, incident):
        raise ServiceError("You may not share this incident.")
    if not with_user.active:
        raise ServiceError(f"{with_user.email} is disabled.")
    if can_view(with_user, incident):
        raise ServiceError(f"{with_user.name} can already see this incident.")
    grant = IncidentShare(incident_id=incident.id, user_id=with_user.id, kind="share", reason=_reason(reason),
                          granted_by_id=actor.id)
    incident.shares.append(grant)
    session.flush()
    audit.record(session, actor=actor, action="incident.shared", incident=incident, comment=grant.reason,
                 object_type="user", object_id=with_user.id, data={"with": with_user.email})
    return grant


def record_restricted_view(session: Session, incident: Incident, *, actor: User) -> None:
    """Every reading of a restricted (special-category) file leaves an audit row."""
    if incident.restricted:
        audit.record(session, actor=actor, action="incident.viewed_restricted", incident=incident)
