"""Legal holds and legal-claims exemptions: placing, releasing, and asking whether something is held.

A hold on a person covers every incident about them (they are its subject); a hold on an incident covers
that incident. Retention and erasure both ask here first, so a hold stops all of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, LegalHold, Person, User
from app.models.dataprotection import HOLD_KINDS
from app.services import InvalidInput, NotFound, audit


def place_hold(session: Session, *, actor: User, reason: str, incident: Incident | None = None,
               person: Person | None = None, kind: str = "legal_hold") -> LegalHold:
    """Record a hold (who, when, why) on exactly one incident or person."""
    reason = (reason or "").strip()
    if kind not in HOLD_KINDS:
        raise InvalidInput(f"Unknown kind of hold {kind!r}.",
                           {"kind": "Choose a legal hold or a legal-claims exemption."})
    if (incident is None) == (person is None):
        raise InvalidInput("A hold is placed on one incident or one person.")
    if not reason:
        raise InvalidInput("Give the reason for the hold (it is kept with it).", {"reason": "Required."})
    hold = LegalHold(kind=kind, incident_id=incident.id if incident else None, person_id=person.id if person else None,
                     reason=reason, placed_by_id=actor.id, placed_at=utcnow())
    session.add(hold)
    session.flush()
    audit.record(session, actor=actor, action=f"{kind}.placed", incident=incident, object_type="legal_hold",
                 object_id=hold.id, comment=reason,
                 data={"person_id": person.id} if person is not None else {})
    return hold


def release_hold(session: Session, hold_id: int, *, actor: User, reason: str) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("No such hold.")
    if not hold.active:
        raise InvalidInput("That hold was already released.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the hold is released (it is kept with it).", {"reason": "Required."})
    hold.released_at = utcnow()
    hold.released_by_id = actor.id
    hold.release_reason = reason
    session.flush()
    incident = session.get(Incident, hold.incident_id) if hold.incident_id else None
    audit.record(session, actor=actor, action=f"{hold.kind}.released", incident=incident, object_type="legal_hold",
                 object_id=hold.id, comment=reason,
                 data={"person_id": hold.person_id} if hold.person_id else {})
    return hold


def active_holds(session: Session) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id)))


def holds_on(session: Session, *, incident_ids: Iterable[int] = (), person_ids: Iterable[int] = ()) -> list[LegalHold]:
    """Active holds on any of these incidents or people."""
    incident_ids, person_ids = list(incident_ids), list(person_ids)
    if not incident_ids and not person_ids:
        return []
    return list(session.scalars(
        select(LegalHold).where(LegalHold.released_at.is_(None),
                                or_(LegalHold.incident_id.in_(incident_ids or [-1]),
                                    LegalHold.person_id.in_(person_ids or [-1])))
        .order_by(LegalHold.id)
    ))


def describe(hold: LegalHold) -> str:
    target = f"incident {hold.incident_id}" if hold.incident_id else f"person {hold.person_id}"
    return f"{hold.kind_title} on {target} since {hold.placed_at:%d %b %Y}: {hold.reason}"
