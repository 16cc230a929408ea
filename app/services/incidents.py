"""Opening incidents and moving them through their workflows: the one home of those rules.

Views, API, CLI and worker all call ``open_incident`` and ``take_transition``; both check
permissions, write the audit row and flush, and leave the commit to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.clock import utcnow
from app.models import (
    CaseFile,
    Incident,
    IncidentClause,
    Person,
    Post,
    Team,
    User,
    WorkflowVersion,
)
from app.models.incidents import SEVERITIES
from app.permissions import can_know, can_open, can_view
from app.policy import Catalogues
from app.services import NotFound, ServiceError, audit
from app.services import deadlines as deadline_service
from app.services.references import next_reference
from app.timing import CALENDAR_NAMES
from app.workflow import TransitionNotAllowed, WorkflowDef, WorkflowRegistry, decide
from app.workflow.guards import IncidentFacts

COLLEGE_TEAM = "communications"


class IncidentChangedElsewhere(ServiceError):
    """Someone else moved the incident on since the page was loaded."""

    def __init__(self, incident: Incident | str) -> None:
        reference = incident if isinstance(incident, str) else incident.reference
        super().__init__(
            f"{reference} was changed by someone else while you were working on it. "
            "Nothing you entered was saved; the page now shows its current state."
        )


@dataclass
class PostInput:
    platform: str
    url: str | None = None
    platform_post_id: str | None = None
    author_handle: str | None = None
    posted_at: datetime | None = None
    text: str | None = None


@dataclass
class OpenRequest:
    workflow_key: str
    title: str
    summary: str | None = None
    subject: Person | None = None
    assignee: User | None = None
    team: Team | None = None
    severity: str | None = None
    clauses: list[str] = field(default_factory=list)
    post: PostInput | None = None
    calendar: str | None = None
    restricted: bool = False
    kind: str | None = None
    case_file: CaseFile | None = None


def stored_source(session: Session):  # type: ignore[no-untyped-def]
    def lookup(key: str, version: str) -> str | None:
        return session.scalar(
            select(WorkflowVersion.source)
            .where(WorkflowVersion.workflow_key == key, WorkflowVersion.version == version)
        )

    return lookup


def definition_for(session: Session, registry: WorkflowRegistry, incident: Incident) -> WorkflowDef:
    return registry.version(incident.workflow_key, incident.workflow_version, stored_source(session))


def remember_version(session: Session, definition: WorkflowDef) -> None:
    """Store the exact text of this version once; two first openings at the same moment must not clash."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(WorkflowVersion.__table__)
        .values(workflow_key=definition.key, version=definition.version, source=definition.source_text,
                first_used_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workflow_key", "version"])
    )


def default_team(session: Session, side: str, actor: User | None, assignee: User | None) -> Team | None:
    """Who owns a new incident when nobody says: a member's case belongs to its rep's team (so the
    regional officers of that team see it); a college case to the communications team."""
    if side != "college":
        for person in (assignee, actor):
            if person is not None and person.team is not None:
                return person.team
        return None
    if actor is not None and actor.role == "comms" and actor.team is not None:
        return actor.team
    return session.scalar(select(Team).where(Team.key == COLLEGE_TEAM))


def cite(session: Session, catalogues: Catalogues, incident: Incident, clause_keys: list[str], *,
         actor: User | None, on: date) -> list[str]:
    """Add citations (as worded on ``on``); returns the keys newly cited."""
    existing = {c.clause_key for c in incident.clauses}
    added = []
    for key in clause_keys:
        if not catalogues.known(key):
            raise ServiceError(
                f"Unknown clause {key!r}; clause keys look like rcr:2.8, hcpc:5.1 or employer:copyright."
            )
        if key in existing:
            continue
        clause = catalogues.clause(key, on)
        incident.clauses.append(IncidentClause(clause_key=key, catalogue_version=clause.version,
                                               cited_by_id=actor.id if actor else None))
        existing.add(key)
        added.append(key)
    return added


def open_incident(
    session: Session,
    registry: WorkflowRegistry,
    request: OpenRequest,
    *,
    actor: User | None,
    check_role: bool = True,
) -> Incident:
    """Open an incident at its workflow's initial state and run the workflow's opening effects."""
    from app.services.effects import run_effects

    if request.workflow_key not in registry:
        raise ServiceError(f"Unknown workflow {request.workflow_key!r}.")
    definition = registry.get(request.workflow_key)
    if check_role and (actor is None or not can_open(actor, definition)):
        raise ServiceError(f"Your role may not open {definition.title} incidents.")
    title = (request.title or "").strip()
    if not title:
        raise ServiceError("Give the incident a title.")
    if len(title) > 200:
        raise ServiceError(f"Keep the title under 200 characters (it has {len(title)}).")
    severity = request.severity or "medium"
    if severity not in SEVERITIES:
        raise ServiceError(f"Severity must be one of {', '.join(SEVERITIES)}.")
    calendar = request.calendar or "england-and-wales"
    if calendar not in CALENDAR_NAMES:
        raise ServiceError(f"Unknown calendar {calendar!r}; use one of {', '.join(CALENDAR_NAMES)}.")
    now = utcnow()
    remember_version(session, definition)
    incident = Incident(
        reference=next_reference(session, now.year),
        kind=request.kind or definition.kind,
        title=title,
        summary=(request.summary or "").strip() or None,
        side=definition.side,
        workflow_key=definition.key,
        workflow_version=definition.version,
        state=definition.initial,
        state_entered_at=now,
        severity=severity,
        calendar=calendar,
        restricted=request.restricted,
        subject=request.subject,
        case_file=request.case_file,
        assignee=request.assignee,
        team=request.team or default_team(session, definition.side, actor, request.assignee),
        created_by=actor,
        created_at=now,
        version=1,
    )
    session.add(incident)
    if request.post is not None:
        incident.posts.append(_capture_post(request.post, actor))
    post_day = request.post.posted_at.date() if request.post and request.post.posted_at else now.date()
    cited = cite(session, registry.catalogues, incident, request.clauses, actor=actor, on=post_day)
    session.flush()
    audit.record(session, actor=actor, action="incident.opened", incident=incident, to_state=incident.state,
                 data={"workflow": definition.key, "title": title, "clauses": cited, "severity": severity})
    run_effects(session, registry, definition, incident, definition.on_open, values={}, actor=actor)
    session.flush()
    return incident


def _capture_post(post: PostInput, actor: User | None) -> Post:
    from app.posts import url_key
    from app.services.evidence import sha256_text

    return Post(
        platform=post.platform, url=post.url, url_key=url_key(post.url) if post.url else None,
        platform_post_id=post.platform_post_id,
        author_handle=post.author_handle, posted_at=post.posted_at, text=post.text,
        text_sha256=sha256_text(post.text) if post.text else None,
        captured_by_id=actor.id if actor else None, captured_at=utcnow(),
    )


def facts_about(incident: Incident) -> IncidentFacts:
    return IncidentFacts(
        has_evidence=bool(incident.posts or incident.evidence_files),
        clause_count=len(incident.clauses),
        subject_role=incident.subject.role if incident.subject else None,
        outcome=incident.outcome,
        captured_since_state_entered=any(
            item.captured_at is None or item.captured_at > incident.state_entered_at
            for item in (*incident.posts, *incident.evidence_files)
        ),
    )


class BreakGlassRequired(ServiceError):
    """An administrator asked for a restricted file: they must give a reason first."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"{incident.reference} is restricted. Give a reason to open it; it will be audited.")
        self.incident = incident


def get_visible(session: Session, incident_id: int, actor: User) -> Incident:
    """The incident if ``actor`` may read it. Otherwise NotFound — never "forbidden", so nobody learns a
    file exists — with an audit row when it does exist; or BreakGlassRequired for an administrator."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("No such incident.")
    if can_view(actor, incident):
        return incident
    if can_know(actor, incident):
        raise BreakGlassRequired(incident)
    audit.record(session, actor=actor, action="access.denied", incident=incident, object_type="incident",
                 object_id=incident.id)
    raise NotFound("No such incident.")


def take_transition(
    session: Session,
    registry: WorkflowRegistry,
    incident: Incident,
    transition_key: str,
    *,
    actor: User | None,
    values: dict[str, Any] | None = None,
    comment: str | None = None,
    expected_version: int | None = None,
    as_role: str | None = None,
) -> Incident:
    """Move the incident on. Raises TransitionNotAllowed (nothing changed) or IncidentChangedElsewhere
    (someone else moved it first; roll back).

    ``actor`` None with ``as_role`` is the system (the deadline sweep escalating a breach).
    """
    from app.services.effects import run_effects

    if expected_version is not None and expected_version != incident.version:
        raise IncidentChangedElsewhere(incident)
    if actor is not None and not can_view(actor, incident):
        raise NotFound("No such incident.")
    role = as_role if actor is None else actor.role
    if role is None:
        raise ServiceError("A transition needs an actor or a system role.")
    definition = definition_for(session, registry, incident)
    decision = decide(definition, state=incident.state, transition_key=transition_key, role=role,
                      facts=facts_about(incident), raw_values=values or {}, comment=comment,
                      known_clause=registry.catalogues.known)
    for spec in decision.transition.fields:
        if spec.type == "person" and spec.key in decision.values and \
                session.get(Person, decision.values[spec.key]) is None:
            raise TransitionNotAllowed(f"Check the form: {spec.label}: no such person.",
                                       {spec.key: f"{spec.label}: no such person"})
    now = utcnow()
    reference = incident.reference  # read now: after a failed flush the row cannot be loaded
    incident.bump_version()
    leaving = definition.states[decision.from_state]
    entering = definition.states[decision.to_state]
    incident.state = decision.to_state
    incident.state_entered_at = now
    if decision.values:
        incident.fields = {**(incident.fields or {}), **decision.values}
    incident.updated_at = now
    # Flush now: the version check (UPDATE … WHERE version = n) takes the row lock before anything else.
    try:
        session.flush()
    except StaleDataError:
        raise IncidentChangedElsewhere(reference) from None
    # Effects run before paused clocks resume, so an effect that knows the real dates of a pause
    # (stop_clock_between) can settle it itself instead of crediting the time it took to record it.
    running_before = [d for d in incident.deadlines if d.status == "running"]
    run_effects(session, registry, definition, incident, decision.transition.effects, values=decision.values,
                actor=actor)
    if leaving.clock_paused and not entering.clock_paused:
        deadline_service.resume_all(incident)
    if entering.clock_paused and not leaving.clock_paused:
        # Clocks that were running stop; one this very step started runs on through the pause (the early
        # conciliation period starts as the tribunal limit stops).
        deadline_service.pause_all(incident, only=running_before)
    if entering.final:
        deadline_service.cancel_all(incident)
        incident.closed_at = now
    elif incident.closed_at is not None:
        incident.closed_at = None
    audit.record(session, actor=actor, action="incident.transition", incident=incident,
                 from_state=decision.from_state, to_state=decision.to_state, transition=decision.transition.key,
                 comment=decision.comment, data={"fields": decision.values})
    session.flush()
    return incident
