"""Subject access requests: finding the person, tracking the month, and building the archive.

The request is an incident on the ``subject-access`` workflow (its one-month deadline, reminders and the
two-month extension live in ``workflows/subject-access.yaml``), restricted so only the administrator
handling it reads it. The archive is a zip: ``cover.txt`` (the cover sheet listing every source and what
was removed), ``person.json`` (the record about them), one text file per incident about them and
``audit.txt`` (audit entries about them). Other people's names, e-mail addresses, handles and contact
details are replaced in every file; staff appear by role.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import (
    AuditEvent,
    Incident,
    Member,
    Person,
    PersonFlag,
    Post,
    SocialHandle,
    User,
    Warning,
)
from app.models.people import normalise_handle
from app.services import NotFound, ServiceError, audit
from app.services.disclosure import _actor, _when, render_incident, special_category
from app.services.incidents import OpenRequest, open_incident
from app.services.redaction import Redactor, person_terms
from app.workflow import WorkflowRegistry

WORKFLOW = "subject-access"


def find_person(session: Session, text: str) -> Person:
    """A person by id, e-mail address or exact name (case-insensitive); refuses unknown or ambiguous."""
    text = (text or "").strip()
    if not text:
        raise NotFound("Say whose data: a person's id, e-mail address or full name.")
    if text.isdigit():
        person = session.get(Person, int(text))
        if person is None:
            raise NotFound(f"No person with id {text}. Nothing was written.")
        return person
    column = Person.email if "@" in text and not text.startswith("@") else Person.name
    people = session.scalars(select(Person).where(func.lower(column) == text.lower()).order_by(Person.id)).all()
    if not people and (text.startswith("@") or "@" not in text):
        key = normalise_handle(text)
        people = session.scalars(select(Person).join(SocialHandle).where(SocialHandle.handle_key == key)
                                 .distinct()).all()
    if not people:
        raise NotFound(f"No person matches {text!r} (by id, e-mail address, name or handle). Nothing was written.")
    if len(people) > 1:
        raise ServiceError(f"{len(people)} people match {text!r} (ids {', '.join(str(p.id) for p in people)}); "
                           "give the id. Nothing was written.")
    return people[0]


def open_request(session: Session, registry: WorkflowRegistry, person: Person, *, actor: User | None) -> Incident:
    """The person's open subject access request, or a new one (its month starts now)."""
    existing = session.scalars(select(Incident).where(Incident.workflow_key == WORKFLOW,
                                                      Incident.subject_id == person.id,
                                                      Incident.closed_at.is_(None)).order_by(Incident.id)).first()
    if existing is not None:
        return existing
    return open_incident(session, registry, OpenRequest(
        workflow_key=WORKFLOW, title=f"Subject access request (person {person.id})", subject=person,
        restricted=True, assignee=actor if actor is not None and actor.role == "admin" else None,
    ), actor=actor, check_role=actor is not None)


def request_due(request: Incident) -> date | None:
    deadline = next((d for d in request.deadlines if d.key == "respond"), None)
    return deadline.due_at.date() if deadline is not None else None


@dataclass
class Archive:
    data: bytes
    made_on: date
    due: date | None
    sources: list[str] = field(default_factory=list)


def incidents_about(session: Session, person: Person) -> list[Incident]:
    """Incidents whose subject is the person, or with a post by one of their handles."""
    keys = [h.handle_key for h in person.handles]
    by_post = select(Post.incident_id).where(func.lower(func.replace(Post.author_handle, "@", "")).in_(keys)) \
        if keys else None
    condition = Incident.subject_id == person.id
    if by_post is not None:
        condition = or_(condition, Incident.id.in_(by_post))
    return list(session.scalars(select(Incident).where(condition, Incident.workflow_key != WORKFLOW)
                                .order_by(Incident.id)))


def _text_blob(session: Session, incidents: list[Incident]) -> str:
    """Every piece of free text in these files and their history, lower-cased, to find who is named in it."""
    parts: list[str] = []
    for incident in incidents:
        parts += [incident.title, incident.summary or "", json.dumps(incident.fields or {}, ensure_ascii=False)]
        parts += [f"{p.text or ''} {p.author_handle or ''}" for p in incident.posts]
        parts += [f"{r.reporter or ''} {r.note or ''}" for r in incident.reports]
    ids = [i.id for i in incidents]
    for comment, data in session.execute(select(AuditEvent.comment, AuditEvent.data)
                                         .where(AuditEvent.incident_id.in_(ids or [-1]))):
        parts += [comment or "", json.dumps(data or {}, ensure_ascii=False)]
    return "\n".join(parts).lower()


def _third_parties(session: Session, person: Person, incidents: list[Incident]) -> list[str]:
    """Names, e-mails and handles of everyone but the subject who appears in these files: anyone linked to
    them, any person on record whose name, e-mail or handle occurs in their text, every staff account, and
    every reporter."""
    ids = [i.id for i in incidents]
    blob = _text_blob(session, incidents)
    terms: list[str] = []
    named = literal(blob)
    others = session.scalars(select(Person).where(Person.id != person.id, or_(
        Person.id.in_(select(Incident.subject_id).where(Incident.id.in_(ids or [-1]))),
        named.contains(func.lower(Person.name)),
        and_(Person.email.is_not(None), named.contains(func.lower(Person.email))),
        Person.id.in_(select(SocialHandle.person_id).where(named.contains(SocialHandle.handle_key))),
    ))).all()
    for other in others:
        terms += person_terms(other)
    for user in session.scalars(select(User)):
        terms += [user.email, user.name]
    for incident in incidents:
        terms += [r.reporter for r in incident.reports if r.reporter]
    own = {t.lower() for t in person_terms(person)}
    return [t for t in terms if t and t.lower() not in own]


def build_archive(session: Session, registry: WorkflowRegistry, person: Person, *, actor: User | None,
                  request: Incident | None = None) -> Archive:
    """Everything held about ``person`` as a zip, third parties redacted; audited (never its content)."""
    now = utcnow()
    incidents = incidents_about(session, person)
    member = session.scalar(select(Member).where(Member.person_id == person.id))
    redactor = Redactor(terms=_third_parties(session, person, incidents), label="[third party]", pii=True,
                        keep_mentions={h.handle.lstrip("@") for h in person.handles},
                        keep={person.email} if person.email else set())
    files: dict[str, str] = {}
    sources: list[str] = []

    record = {
        "id": person.id, "name": person.name, "email": person.email, "role": person.role, "office": person.office,
        "office_ended_on": person.office_ended_on.isoformat() if person.office_ended_on else None,
        "notes": redactor.apply(person.notes), "recorded_on": person.created_at.isoformat(),
        "handles": [{"platform": h.platform, "handle": h.handle} for h in person.handles],
        "flags": [{"flag": f.flag, "incident_id": f.incident_id, "on": f.created_at.isoformat()}
                  for f in session.scalars(select(PersonFlag).where(PersonFlag.person_id == person.id))],
        "warnings": [{"level": w.level, "issued_on": w.issued_on.isoformat(), "expires_on": w.expires_on.isoformat(),
                      "status": w.status}
                     for w in session.scalars(select(Warning).where(Warning.person_id == person.id))],
    }
    if member is not None:
        record["union_membership (special category)"] = {
            "membership_number": member.membership_number, "branch": member.branch, "workplace": member.workplace,
            "job_title": member.job_title, "manager": redactor.apply(member.manager),
            "access_needs": member.access_needs,
            "joined_on": member.joined_on.isoformat() if member.joined_on else None,
            "consent_note": redactor.apply(member.consent_note),
        }
    files["person.json"] = json.dumps(record, indent=2, ensure_ascii=False)
    sources.append("person.json: the person record, their social handles, flags and warnings"
                   + (", and their union membership record (special category)" if member else ""))

    special: set[str] = set()
    for incident in incidents:
        name = f"incidents/{incident.reference}.txt"
        files[name] = render_incident(session, registry, incident, redactor, notes=True)
        special.update(special_category(incident))
        sources.append(f"{name}: incident {incident.reference} ({incident.workflow_key}) — posts "
                       f"{len(incident.posts)}, reports {len(incident.reports)}, evidence files "
                       f"{len(incident.evidence_files)} (listed by SHA-256, not copied), its history")

    ids = [i.id for i in incidents]
    events = session.scalars(select(AuditEvent).where(or_(
        AuditEvent.incident_id.in_(ids or [-1]),
        and_(AuditEvent.object_type.in_(("person", "member")), AuditEvent.object_id == str(person.id)),
    )).order_by(AuditEvent.id)).all()
    lines = []
    for event in events:
        line = f"{_when(event.at)}  {event.action}  by {_actor(event)}"
        if event.comment:
            line += f"  — {redactor.apply(event.comment)}"
        if event.data:
            line += "  " + json.dumps(redactor.apply_json(event.data), ensure_ascii=False, sort_keys=True,
                                      default=str)
        lines.append(line)
    files["audit.txt"] = "\n".join(lines) + "\n"
    sources.append(f"audit.txt: {len(events)} audit entr{'y' if len(events) == 1 else 'ies'} about the person "
                   "or their incidents")

    due = request_due(request) if request is not None else None
    cover = [
        "SUBJECT ACCESS REQUEST — COVER SHEET",
        f"Data subject: {person.name} (person {person.id})",
        f"Request: {request.reference if request is not None else '-'}; received "
        f"{_when(request.created_at) if request is not None else '-'}; respond by {due or '-'} "
        "(one month; two more for a complex request, UK GDPR art. 12(3))",
        f"Archive made: {_when(now)}",
        "",
        "Sources in this archive:",
        *[f"  - {s}" for s in sources],
        "",
        f"Redaction: other people's names, e-mail addresses, social handles and contact details were replaced "
        f"by [third party] or [redacted: ...] ({redactor.count} replacement(s)); staff appear by role.",
        "Not included: the evidence files themselves (images and documents cannot be redacted as text); each is "
        "listed with its SHA-256 and can be provided after review.",
    ]
    if special:
        cover.append("Special-category data included: " + "; ".join(sorted(special)) + ".")
    files = {"cover.txt": "\n".join(cover) + "\n", **files}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("utf-8"))
    audit.record(session, actor=actor, action="subject_access.archive_made", incident=request,
                 object_type="person", object_id=person.id,
                 data={"files": sorted(files), "incidents": [i.reference for i in incidents],
                       "replacements": redactor.count, "special_category": sorted(special)})
    return Archive(buffer.getvalue(), now.date(), due, ["cover.txt", *sources])


def open_requests(session: Session) -> list[Incident]:
    return list(session.scalars(select(Incident).where(Incident.workflow_key == WORKFLOW).order_by(
        Incident.closed_at.is_not(None), Incident.id.desc()).limit(100)))

