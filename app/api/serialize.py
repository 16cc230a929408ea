"""The JSON shapes the API answers with (described, field for field, in app/api/openapi.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from app.clock import utcnow
from app.models import AuditEvent, Incident, IncidentLink, User
from app.permissions import can_know, can_transition
from app.services import suggestions as suggestion_service
from app.services.incidents import definition_for
from app.workflow import WorkflowDef, WorkflowRegistry


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def incident_url(incident_id: int) -> str:
    base = current_app.config["BREACHDESK"].base_url.rstrip("/")
    return f"{base}/incidents/{incident_id}"


# --- workflows ------------------------------------------------------------------------------------

def workflow_json(definition: WorkflowDef) -> dict[str, Any]:
    return {
        "key": definition.key,
        "title": definition.title,
        "version": definition.version,
        "side": definition.side,
        "initial": definition.initial,
        "open_roles": list(definition.open_roles),
        "states": [{"key": s.key, "title": s.title, "final": s.final} for s in definition.states.values()],
        "transitions": [
            {
                "key": t.key,
                "title": t.title,
                "from": list(t.from_states),
                "to": t.to,
                "roles": list(t.roles),
                "comment": t.comment,
                "fields": [{"key": f.key, "label": f.label, "type": f.type, "required": f.required,
                            "choices": list(f.choices)} for f in t.fields],
            }
            for t in definition.transitions.values()
        ],
    }


# --- suggestions --------------------------------------------------------------------------------

def suggestions_for(incident: Incident, registry: WorkflowRegistry) -> dict[str, list[dict[str, Any]]]:
    """PII found in, and clauses suggested for, the captured post's text (empty without text)."""
    found = suggestion_service.for_incident(incident, registry.catalogues)
    return {
        "pii": [{"kind": hit.kind, "start": hit.start, "end": hit.end, "text": hit.text} for hit in found.pii],
        "clauses": [{"clause": s.clause, "title": _clause_title(registry, s.clause), "reason": s.reason,
                     "score": float(s.score)} for s in found.clauses],
    }


# --- incidents ------------------------------------------------------------------------------------

def links_by_incident(session: Session, incidents: Iterable[Incident]) -> dict[int, list[IncidentLink]]:
    ids = [i.id for i in incidents]
    found: dict[int, list[IncidentLink]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.scalars(
        select(IncidentLink).where(or_(IncidentLink.from_id.in_(ids), IncidentLink.to_id.in_(ids)))
        .options(joinedload(IncidentLink.source), joinedload(IncidentLink.target)).order_by(IncidentLink.id)
    ).all()
    for link in rows:
        for end in (link.from_id, link.to_id):
            if end in found:
                found[end].append(link)
    return found


def _link_json(incident: Incident, link: IncidentLink, user: User) -> dict[str, Any] | None:
    outgoing = link.from_id == incident.id
    other = link.target if outgoing else link.source
    if not can_know(user, other):  # a link must not reveal an incident the user may not know of
        return None
    return {"relation": link.relation, "direction": "outgoing" if outgoing else "incoming", "id": other.id,
            "reference": other.reference, "url": incident_url(other.id)}


def incident_json(session: Session, registry: WorkflowRegistry, incident: Incident, user: User,
                  links: list[IncidentLink] | None = None) -> dict[str, Any]:
    definition = definition_for(session, registry, incident)
    now = utcnow()
    if links is None:
        links = links_by_incident(session, [incident])[incident.id]
    post = incident.posts[0] if incident.posts else None
    subject = incident.subject
    state = definition.states.get(incident.state)
    return {
        "id": incident.id,
        "reference": incident.reference,
        "workflow": incident.workflow_key,
        "workflow_version": incident.workflow_version,
        "state": incident.state,
        "state_title": state.title if state else incident.state,
        "version": incident.version,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "restricted": bool(incident.restricted),
        "calendar": incident.calendar,
        "created_at": when(incident.created_at),
        "updated_at": when(incident.updated_at),
        "closed_at": when(incident.closed_at),
        "assignee": incident.assignee.email if incident.assignee else None,
        "subject": None if subject is None else {
            "id": subject.id, "name": subject.name, "role": subject.role,
            "handles": [{"platform": h.platform, "handle": h.handle} for h in subject.handles],
        },
        "post": None if post is None else {
            "platform": post.platform, "url": post.url, "author_handle": post.author_handle,
            "posted_at": when(post.posted_at), "text": post.text, "text_sha256": post.text_sha256,
        },
        "clauses": [c.clause_key for c in incident.clauses],
        "citations": [{"clause": c.clause_key, "title": _clause_title(registry, c.clause_key),
                       "catalogue_version": c.catalogue_version} for c in incident.clauses],
        "field_values": dict(incident.fields or {}),
        "deadlines": [{"key": d.key, "title": d.title, "due_at": when(d.due_at), "status": d.status,
                       "overdue": d.is_overdue(now)} for d in incident.deadlines],
        "available_transitions": [t.key for t in definition.transitions_from(incident.state)
                                  if can_transition(user, incident, t)],
        "suggestions": suggestions_for(incident, registry),
        "links": [j for j in (_link_json(incident, link, user) for link in links) if j is not None],
        "url": incident_url(incident.id),
    }


def _clause_title(registry: WorkflowRegistry, key: str) -> str | None:
    try:
        return registry.catalogues.clause(key).title
    except KeyError:  # unknown, or no longer in the current version of its catalogue
        return None


# --- audit ----------------------------------------------------------------------------------------

def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": when(event.at),
        "actor": event.actor_label,
        "action": event.action,
        "from": event.from_state,
        "to": event.to_state,
        "transition": event.transition,
        "comment": event.comment,
        "data": event.data or {},
    }
