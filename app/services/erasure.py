"""Erasure (UK GDPR article 17): removing or anonymising one person's personal data across incidents.

Refused, with nothing changed, while a legal hold or a recorded legal-claims exemption covers the person or
any incident about them (``app.services.holds``). Otherwise:

- incidents about them (they are the subject, or wrote a captured post) lose their paperwork as retention
  would remove it (evidence files, post text, free-text fields, report and meeting notes) and their name,
  e-mail and handles wherever else they appear in the file;
- incidents that merely mention them have those words replaced;
- their flags and warnings are deleted, their handles removed, their member record emptied, and the person
  row is kept as "Erased person N" so statistics still count a subject;
- audit rows are redacted and sealed (``app.services.audit_erasure``): the chain still verifies, each row
  keeps the hash over its original values, and the values themselves are gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import (
    AuditEvent,
    CaseFile,
    Incident,
    Meeting,
    Member,
    Person,
    PersonFlag,
    Post,
    Report,
    User,
    Warning,
)
from app.roles import Role
from app.services import InvalidInput, ServiceError, audit
from app.services.audit_erasure import erase_values
from app.services.holds import describe, holds_on
from app.services.redaction import Redactor, person_terms
from app.services.retention import RetentionReport, _strip
from app.services.subject_access import incidents_about
from app.workflow import WorkflowRegistry

LABEL = "[erased]"


class ErasureRefused(ServiceError):
    """A hold or exemption applies; nothing was changed."""


@dataclass
class ErasureResult:
    person_id: int
    incidents: int = 0
    mentions: int = 0
    audit_rows: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Erased person {self.person_id}: {self.incidents} incident(s) about them stripped, "
                f"{self.mentions} other incident(s) redacted, {self.audit_rows} audit row(s) redacted and sealed, "
                f"{len(self.files)} evidence file(s) deleted.")

    def delete_files(self) -> None:
        """After the commit: remove the evidence files whose rows were deleted."""
        for path in self.files:
            path.unlink(missing_ok=True)


def blockers(session: Session, person: Person) -> list[str]:
    about = [i.id for i in incidents_about(session, person)]
    return [describe(h) for h in holds_on(session, incident_ids=about, person_ids=[person.id])]


def _like_any(column, terms: list[str]):  # type: ignore[no-untyped-def]
    lowered = func.lower(column)
    return or_(*[lowered.contains(t.lower(), autoescape=True) for t in terms])


def erase_person(session: Session, registry: WorkflowRegistry, person: Person, *, actor: User | None, reason: str,
                 folder: Path) -> ErasureResult:
    if actor is None or actor.role != Role.ADMIN or not actor.active:
        raise ServiceError("Only an administrator may erase a person's data.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give the reason for the erasure (e.g. the request it answers).", {"reason": "Required."})
    if person.erased_at is not None:
        raise ServiceError(f"Person {person.id} was already erased on {person.erased_at:%d %b %Y}.")
    held = blockers(session, person)
    if held:
        raise ErasureRefused("Erasure refused, nothing was changed: " + "; ".join(held)
                             + ". Release the hold first if it no longer applies.")

    member = session.scalar(select(Member).where(Member.person_id == person.id))
    terms = person_terms(person, member.membership_number if member else None)
    # JSON stores non-ASCII as \\u escapes: look for that spelling too when searching the audit rows.
    search = sorted({t for t in terms if len(t) >= 3} | {json.dumps(t)[1:-1] for t in terms if len(t) >= 3})
    redactor = Redactor(terms=terms, label=LABEL)
    result = ErasureResult(person.id)
    report = RetentionReport()

    about = incidents_about(session, person)
    about_ids = {i.id for i in about}
    for incident in about:
        _strip(session, registry, incident, folder, actor, report)
        incident.title = redactor.apply(incident.title) or LABEL
        incident.fields = redactor.apply_json(incident.fields or {})
        incident.bump_version()
        result.incidents += 1

    mentioned_ids = set(session.scalars(select(Incident.id).where(or_(
        _like_any(Incident.title, search), _like_any(Incident.summary, search),
        _like_any(cast(Incident.fields, Text), search),
        Incident.id.in_(select(Post.incident_id).where(or_(_like_any(Post.text, search),
                                                           _like_any(Post.author_handle, search)))),
        Incident.id.in_(select(Report.incident_id).where(or_(_like_any(Report.reporter, search),
                                                             _like_any(Report.note, search)))),
        Incident.id.in_(select(Meeting.incident_id).where(or_(_like_any(Meeting.notes, search),
                                                              _like_any(Meeting.companion, search)))),
    )))) - about_ids
    for incident in session.scalars(select(Incident).where(Incident.id.in_(mentioned_ids or {-1}))):
        incident.title = redactor.apply(incident.title) or LABEL
        incident.summary = redactor.apply(incident.summary)
        incident.fields = redactor.apply_json(incident.fields or {})
        for post in incident.posts:
            post.text, post.author_handle = redactor.apply(post.text), redactor.apply(post.author_handle)
        for rep in incident.reports:
            rep.reporter, rep.note = redactor.apply(rep.reporter), redactor.apply(rep.note)
        for meeting in session.scalars(select(Meeting).where(Meeting.incident_id == incident.id)):
            meeting.notes, meeting.companion = redactor.apply(meeting.notes), redactor.apply(meeting.companion)
        incident.bump_version()
        result.mentions += 1

    for model in (PersonFlag, Warning):
        for row in session.scalars(select(model).where(model.person_id == person.id)):
            session.delete(row)
    if member is not None:
        member.membership_number = f"ERASED-{member.id}"
        member.branch = member.workplace = member.job_title = member.manager = None
        member.access_needs = member.consent_note = None
        member.joined_on = None
        member.employer_id = None
        for case_file in session.scalars(select(CaseFile).where(CaseFile.member_id == member.id)):
            case_file.title = redactor.apply(case_file.title) or LABEL
    person.handles.clear()
    person.name = f"Erased person {person.id}"
    person.email = person.office = person.notes = None
    person.office_ended_on = None
    person.erased_at = utcnow()
    session.flush()

    all_ids = sorted(about_ids | mentioned_ids)
    rows = list(session.scalars(select(AuditEvent.id).where(or_(
        AuditEvent.incident_id.in_(all_ids or [-1]),
        _like_any(AuditEvent.comment, search), _like_any(cast(AuditEvent.data, Text), search),
        _like_any(AuditEvent.actor_label, search),
    ))))
    result.audit_rows = erase_values(session, rows, redactor.apply_json, actor=actor, person_id=person.id)
    result.files = report.files_to_delete
    audit.record(session, actor=actor, action="person.erased", object_type="person", object_id=person.id,
                 comment=redactor.apply(reason),
                 data={"incidents": result.incidents, "mentions": result.mentions, "audit_rows": result.audit_rows,
                       "evidence_files": len(result.files)})
    return result
