"""Disclosure copies of an incident: a plain-text document with chosen people, PII and notes removed.

The same renderer writes the incidents in a subject access archive. Redaction is removal: the document is
built from redacted strings, so a redacted name is nowhere in the bytes. Evidence files are listed (name
withheld when notes are removed, SHA-256 always) but not included: images cannot be redacted as text.
Staff appear by role, not by name or e-mail.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import AuditEvent, Incident, Meeting, Person, User
from app.roles import ROLE_TITLES
from app.services import audit
from app.services.redaction import Redactor, person_terms
from app.workflow import WorkflowRegistry

NOTE_KEYS = ("note", "notes", "comment", "question", "advice", "description")


def special_category(incident: Incident) -> list[str]:
    """Why a file holds special-category data (UK GDPR article 9), for the marker and the export audit."""
    reasons = []
    if incident.side != "college" or incident.case_file_id is not None:
        reasons.append("trade union membership")
    if incident.restricted:
        reasons.append("health or other special-category data (restricted file)")
    return reasons


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _actor(event: AuditEvent) -> str:
    if event.actor is not None:
        return ROLE_TITLES.get(event.actor.role, event.actor.role)
    return "system" if event.actor_label == "system" else "staff"


def render_incident(session: Session, registry: WorkflowRegistry, incident: Incident, redactor: Redactor, *,
                    notes: bool = True) -> str:
    """The incident as text, every free-text value passed through ``redactor``; ``notes=False`` leaves out
    transition comments, report and meeting notes and evidence descriptions altogether."""
    r = redactor.apply
    definition = registry.get(incident.workflow_key) if incident.workflow_key in registry else None
    lines = [
        f"Incident {incident.reference}",
        f"Workflow: {definition.title if definition else incident.workflow_key} ({incident.workflow_key})",
        f"State: {incident.state}   Severity: {incident.severity}   Outcome: {incident.outcome or '-'}",
        f"Opened: {_when(incident.created_at)}   Closed: {_when(incident.closed_at)}",
        f"Title: {r(incident.title)}",
    ]
    special = special_category(incident)
    if special:
        lines.append("Special-category data: " + "; ".join(special))
    if incident.summary:
        lines += ["", "Summary:", r(incident.summary) or ""]
    if incident.subject is not None:
        lines.append(f"Subject: {r(incident.subject.name)}")
    if incident.clauses:
        lines.append("Clauses: " + ", ".join(c.clause_key for c in incident.clauses))
    fields = {k: v for k, v in (incident.fields or {}).items() if notes or k not in NOTE_KEYS}
    if fields:
        lines += ["", "Recorded details:"]
        lines += [f"  {k}: {redactor.apply_json(v) if not isinstance(v, str) else r(v)}" for k, v in fields.items()]
    for post in incident.posts:
        lines += ["", f"Post on {post.platform}, posted {_when(post.posted_at)}",
                  f"  Author: {r(post.author_handle) or '-'}", f"  Link: {r(post.url) or '-'}",
                  f"  Text: {r(post.text) or '-'}"]
    for report in incident.reports:
        lines.append(f"Report ({report.channel}) {_when(report.reported_at)} by {r(report.reporter) or '-'}"
                     + (f": {r(report.note)}" if notes and report.note else ""))
    for evidence in incident.evidence_files:
        name = r(evidence.original_name) if notes else "(name withheld)"
        lines.append(f"Evidence file: {name}, {evidence.size_bytes} bytes, SHA-256 {evidence.sha256} (not included)")
    for meeting in session.scalars(select(Meeting).where(Meeting.incident_id == incident.id).order_by(Meeting.id)):
        lines.append(f"Meeting ({meeting.kind}, {meeting.status}) at {_when(meeting.scheduled_at)}"
                     + (f", companion {r(meeting.companion)}" if meeting.companion else "")
                     + (f": {r(meeting.notes)}" if notes and meeting.notes else ""))
    lines += ["", "History:"]
    for event in audit.history(session, incident):
        step = f" {event.from_state or ''} -> {event.to_state}" if event.to_state else ""
        line = f"  {_when(event.at)}  {event.action}{step}  by {_actor(event)}"
        if notes and event.comment:
            line += f"  — {r(event.comment)}"
        data = {k: v for k, v in (event.data or {}).items() if notes or k not in NOTE_KEYS}
        if data:
            line += "  " + json.dumps(redactor.apply_json(data), ensure_ascii=False, sort_keys=True, default=str)
        lines.append(line)
    return "\n".join(lines) + "\n"


def disclosure_copy(session: Session, registry: WorkflowRegistry, incident: Incident, *, actor: User,
                    people: list[Person], pii: bool = True, notes: bool = False) -> bytes:
    """A redacted copy for disclosure; audited with what was removed (and the special-category reasons)."""
    terms = [t for person in people for t in person_terms(person)]
    redactor = Redactor(terms=terms, pii=pii)
    text = render_incident(session, registry, incident, redactor, notes=notes)
    header = (f"DISCLOSURE COPY of {incident.reference}, made {_when(utcnow())}. Redacted: "
              f"{len(people)} person(s), {'PII' if pii else 'no PII'}, {'notes kept' if notes else 'notes removed'}; "
              f"{redactor.count} replacement(s).\n\n")
    audit.record(session, actor=actor, action="incident.disclosure_exported", incident=incident,
                 data={"redacted_people": [p.id for p in people], "pii": pii, "notes_removed": not notes,
                       "replacements": redactor.count, "special_category": special_category(incident)})
    return (header + text).encode("utf-8")
