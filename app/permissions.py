"""Who may see and do what. Every view, list, count and API call asks here; anything not allowed is denied.

Need-to-know, in short:
- administrators see everything;
- a college-side incident (reported posts, press, tags…) is seen by its owning team, the Director of
  Communications and the press office, and by the person who logged it;
- a union- or regulator-side incident (a member's case) is seen by its assigned rep and the regional
  officers of the rep's team, never by the communications team;
- a restricted incident is seen only by its assignee, its creator and administrators;
- auditors read the audit trail, not case files.

``can_view`` and ``visible_incidents`` encode the same rules twice (one for a loaded row, one as SQL);
a test checks they agree on every combination.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from app.models import Incident, User
from app.roles import Role
from app.workflow.definition import TransitionDef, WorkflowDef

COLLEGE_WIDE_ROLES = (Role.DIRECTOR_OF_COMMS, Role.PRESS_OFFICE)


def can_view(user: User | None, incident: Incident) -> bool:
    if user is None or not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    if incident.assignee_id == user.id or incident.created_by_id == user.id:
        return True
    if incident.restricted:
        return False
    if incident.side == "college":
        if user.role in COLLEGE_WIDE_ROLES:
            return True
        return user.role == Role.COMMS and user.team_id is not None and incident.team_id == user.team_id
    if user.role == Role.REGIONAL_OFFICER and user.team_id is not None:
        return incident.team_id == user.team_id
    return False


def visible_incidents(user: User | None) -> ColumnElement[bool]:
    """The SQL form of ``can_view``: a WHERE clause for lists, searches and counts."""
    if user is None or not user.active:
        return false()
    if user.role == Role.ADMIN:
        return true()
    own = or_(Incident.assignee_id == user.id, Incident.created_by_id == user.id)
    shared: ColumnElement[bool] = false()
    if user.role in COLLEGE_WIDE_ROLES:
        shared = Incident.side == "college"
    elif user.role == Role.COMMS and user.team_id is not None:
        shared = and_(Incident.side == "college", Incident.team_id == user.team_id)
    elif user.role == Role.REGIONAL_OFFICER and user.team_id is not None:
        shared = and_(Incident.side != "college", Incident.team_id == user.team_id)
    return or_(own, and_(Incident.restricted.is_(False), shared))


def can_open(user: User, definition: WorkflowDef) -> bool:
    return user.active and user.role in definition.open_roles


def can_transition(user: User, incident: Incident, transition: TransitionDef) -> bool:
    """The predicate the template uses to show a button and the view uses to accept it."""
    return can_view(user, incident) and incident.state in transition.from_states and user.role in transition.roles


def can_view_audit_trail(user: User) -> bool:
    return user.active and user.role in (Role.ADMIN, Role.AUDITOR)


def can_manage_users(user: User) -> bool:
    return user.active and user.role == Role.ADMIN


def visible_incident_ids(user: User):  # type: ignore[no-untyped-def]
    return select(Incident.id).where(visible_incidents(user))


def can_manage_deadlines(user: User, incident: Incident) -> bool:
    """Record agreed extensions: people who work the case, not auditors or the subject's officers."""
    return can_view(user, incident) and user.role not in (Role.AUDITOR, Role.OFFICER) and incident.closed_at is None


def can_see_outbox(user: User) -> bool:
    return user.active and user.role == Role.ADMIN


def can_view_person(session, user: User, person) -> bool:  # type: ignore[no-untyped-def]
    """Someone may see a person's record only through an incident about them that they may see."""
    if not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    return session.scalar(
        select(Incident.id).where(Incident.subject_id == person.id, visible_incidents(user)).limit(1)
    ) is not None
