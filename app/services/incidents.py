"""Opening incidents and moving them through their workflows: the one home of those rules.

Views, API, CLI and worker all call ``open_incident`` and ``take_transition``; both check
permissions, write the audit row and flush, and leave the commit to the caller.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, inspect, select, update
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
from app.models.loading import Collections
from app.permissions import can_know, can_open, can_view
from app.policy import Catalogues
from app.services import NotFound, ServiceError, audit
from app.services import deadlines as deadline_service
from app.services.bulk import executemany, insert_rows
from app.services.references import next_reference, next_references
from app.timing import CALENDAR_NAMES
from app.workflow import Decision, TransitionNotAllowed, WorkflowDef, WorkflowRegistry, decide
from app.workflow.guards import IncidentFacts

if TYPE_CHECKING:
    from app.services.effects import LinkedOpenings

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
    # The subject by id, when the caller has no loaded Person (the bulk import); ``subject`` wins if both.
    subject_id: int | None = None
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


# Without autoflush: versions are written only by remember_version's INSERT, which runs at once, so there is never
# one waiting in the session for this to see; and flushing the caller's changes here was one more flush for every
# opening, linked tracks' included.
_VERSION_STORED = (select(WorkflowVersion.id).where(WorkflowVersion.workflow_key == bindparam("key"),
                                                    WorkflowVersion.version == bindparam("version"))
                   .execution_options(autoflush=False))


def remember_version(session: Session, definition: WorkflowDef) -> None:
    """Store the exact text of this version once; two first openings at the same moment must not clash."""
    # Asked first: almost always stored already, and SQLAlchemy compiles the ON CONFLICT insert anew every time.
    if session.scalar(_VERSION_STORED, {"key": definition.key, "version": definition.version}) is not None:
        return
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


def citations(catalogues: Catalogues, clause_keys: list[str], *, on: date,
              already: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(clause key, catalogue version as worded on ``on``) for each key not already cited, in order."""
    existing = set(already)
    found = []
    for key in clause_keys:
        if not catalogues.known(key):
            raise ServiceError(
                f"Unknown clause {key!r}; clause keys look like rcr:2.8, hcpc:5.1 or employer:copyright."
            )
        if key in existing:
            continue
        found.append((key, catalogues.clause(key, on).version))
        existing.add(key)
    return found


def cite(session: Session, catalogues: Catalogues, incident: Incident, clause_keys: list[str], *,
         actor: User | None, on: date) -> list[str]:
    """Add citations (as worded on ``on``); returns the keys newly cited."""
    added = citations(catalogues, clause_keys, on=on, already={c.clause_key for c in incident.clauses})
    for key, version in added:
        incident.clauses.append(IncidentClause(clause_key=key, catalogue_version=version,
                                               cited_by_id=actor.id if actor else None))
    return [key for key, _version in added]


@dataclass(frozen=True)
class CheckedOpen:
    """An OpenRequest that passed ``check_open``, with the values it settles."""

    definition: WorkflowDef
    title: str
    severity: str
    calendar: str


def check_open(registry: WorkflowRegistry, request: OpenRequest, *, actor: User | None,
               check_role: bool = True) -> CheckedOpen:
    """Everything ``open_incident`` refuses, checked before anything is written (ServiceError says why)."""
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
    return CheckedOpen(definition, title, severity, calendar)


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

    checked = check_open(registry, request, actor=actor, check_role=check_role)
    definition, title, severity, calendar = checked.definition, checked.title, checked.severity, checked.calendar
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
        case_file=request.case_file,
        assignee=request.assignee,
        team=request.team or default_team(session, definition.side, actor, request.assignee),
        created_by=actor,
        created_at=now,
        version=1,
        # A new row has no deadlines yet, and every deadline goes through this list (deadline_service.start): known
        # empty, a step taken at once (a linked incident's ``then``) does not read it back from the database.
        deadlines=[],
    )
    if request.subject is not None:
        incident.subject = request.subject
    else:
        # By id alone: a linked incident names its source's subject without loading the person.
        incident.subject_id = request.subject_id
    session.add(incident)
    if request.post is not None:
        incident.posts.append(Post(**post_values(request.post, actor, utcnow())))
    post_day = request.post.posted_at.date() if request.post and request.post.posted_at else now.date()
    cited = cite(session, registry.catalogues, incident, request.clauses, actor=actor, on=post_day)
    session.flush()
    audit.record(session, actor=actor, action="incident.opened", incident=incident, to_state=incident.state,
                 data={"workflow": definition.key, "title": title, "clauses": cited, "severity": severity},
                 at=now)  # its created_at, as open_incidents stamps its rows
    run_effects(session, registry, definition, incident, definition.on_open, values={}, actor=actor)
    session.flush()
    return incident


# Opening effects the bulk path runs once per workflow and calendar on a stand-in incident and copies to
# every incident of the batch: they change only the incident in memory (its deadlines) and read nothing of
# it but its calendar (and its case file, which bulk openings never have). A workflow whose ``on_open``
# has any other effect is opened one incident at a time by ``open_incident``.
BULK_OPENING_EFFECTS = frozenset({"start_deadline"})


# What the stand-in of ``open_incidents`` carries or the bulk path writes itself. A request with anything
# else set (a field added to OpenRequest later, which opening effects may read) is opened by open_incident.
_BULK_FIELDS = frozenset({"workflow_key", "title", "summary", "subject", "subject_id", "assignee", "team",
                          "severity", "clauses", "post", "calendar", "restricted", "kind"})


def _plain(request: OpenRequest) -> bool:
    for spec in fields(request):
        if spec.name not in _BULK_FIELDS:
            default = spec.default_factory() if spec.default is MISSING else spec.default  # type: ignore[misc]
            if getattr(request, spec.name) != default:
                return False
    return True


@dataclass
class Opened:
    """One incident ``open_incidents`` opened (its rows are written; no Incident object is loaded)."""

    id: int
    reference: str
    workflow_version: str
    post_id: int | None
    # The "incident.opened" audit row, when the caller asked to write the batch's audit rows itself.
    entry: audit.Entry | None = None


def open_incidents(
    session: Session,
    registry: WorkflowRegistry,
    requests: list[OpenRequest],
    *,
    actor: User | None,
    check_role: bool = True,
    write_audit: bool = True,
) -> list[Opened]:
    """Open many incidents at once (the bulk import): the same rows ``open_incident`` writes for each —
    reference, workflow version, post, citations, opening deadlines, an "incident.opened" audit row —
    written set-wise: references taken N at a time, one INSERT per table, the opening effects worked out
    once per workflow and calendar. Every request must pass ``check_open`` (the first that does not
    raises ServiceError before anything is written). With ``write_audit=False`` each result carries its
    audit entry for the caller to write with ``audit.record_many`` in the order it chooses. Flushes."""
    from app.models import Deadline
    from app.services.effects import run_effects

    checked = [check_open(registry, r, actor=actor, check_role=check_role) for r in requests]
    now = utcnow()
    for definition in {c.definition.key: c.definition for c in checked}.values():
        remember_version(session, definition)
    bulk = [i for i, (r, c) in enumerate(zip(requests, checked, strict=True))
            if _plain(r) and {ref.name for ref in c.definition.on_open} <= BULK_OPENING_EFFECTS]
    references = iter(next_references(session, now.year, len(bulk)))
    teams: dict[tuple[str, int | None], int | None] = {}
    rows = []
    for i in bulk:
        request, check = requests[i], checked[i]
        definition = check.definition
        team_id = request.team.id if request.team is not None else None
        if request.team is None:
            key = (definition.side, request.assignee.id if request.assignee else None)
            if key not in teams:
                team = default_team(session, definition.side, actor, request.assignee)
                teams[key] = team.id if team is not None else None
            team_id = teams[key]
        rows.append({
            "reference": next(references), "kind": request.kind or definition.kind, "title": check.title,
            "summary": (request.summary or "").strip() or None, "side": definition.side,
            "workflow_key": definition.key, "workflow_version": definition.version, "state": definition.initial,
            "state_entered_at": now, "severity": check.severity, "calendar": check.calendar,
            "restricted": request.restricted,
            "subject_id": request.subject.id if request.subject is not None else request.subject_id,
            "assignee_id": request.assignee.id if request.assignee is not None else None, "team_id": team_id,
            "created_by_id": actor.id if actor is not None else None, "created_at": now, "updated_at": now,
            "version": 1,
        })
    ids = insert_rows(session, Incident.__table__, rows)
    post_rows, post_of = [], []
    for i, incident_id in zip(bulk, ids, strict=True):
        if requests[i].post is not None:
            post_rows.append({**post_values(requests[i].post, actor, now), "incident_id": incident_id})
            post_of.append(i)
    post_ids = dict(zip(post_of, insert_rows(session, Post.__table__, post_rows), strict=True))
    clause_rows, cited_keys = [], {}
    deadline_rows: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    planned: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i, incident_id in zip(bulk, ids, strict=True):
        request, check = requests[i], checked[i]
        post_day = request.post.posted_at.date() if request.post and request.post.posted_at else now.date()
        found = citations(registry.catalogues, request.clauses, on=post_day)
        cited_keys[i] = [key for key, _version in found]
        clause_rows.extend({"incident_id": incident_id, "clause_key": key, "catalogue_version": version,
                            "cited_by_id": actor.id if actor else None, "cited_at": now} for key, version in found)
        group = (check.definition.key, check.calendar)
        if group not in planned:
            # The workflow's own opening effects, run once on a stand-in that is never added to the session.
            stand_in = Incident(workflow_key=check.definition.key, workflow_version=check.definition.version,
                                calendar=check.calendar, severity=check.severity, side=check.definition.side,
                                state=check.definition.initial, fields={})
            run_effects(session, registry, check.definition, stand_in, check.definition.on_open, values={},
                        actor=actor)
            planned[group] = [{c.key: getattr(d, c.key) for c in Deadline.__table__.columns
                               if c.key not in ("id", "incident_id") and getattr(d, c.key) is not None}
                              for d in stand_in.deadlines]
        for values in planned[group]:
            deadline_rows.setdefault(tuple(sorted(values)), []).append({**values, "incident_id": incident_id})
    executemany(session, IncidentClause.__table__, clause_rows)
    for same_columns in deadline_rows.values():
        executemany(session, Deadline.__table__, same_columns)
    results: dict[int, Opened] = {}
    for i, incident_id, row in zip(bulk, ids, rows, strict=True):
        check = checked[i]
        entry = audit.Entry(actor=actor, action="incident.opened", incident_id=incident_id,
                            workflow_version=row["workflow_version"], to_state=row["state"],
                            data={"workflow": check.definition.key, "title": check.title, "clauses": cited_keys[i],
                                  "severity": check.severity}, at=now)  # its created_at, whenever it is written
        results[i] = Opened(incident_id, row["reference"], row["workflow_version"], post_ids.get(i), entry)
    if write_audit:
        audit.record_many(session, [results[i].entry for i in bulk])  # type: ignore[misc]
        for i in bulk:
            results[i].entry = None
    for i, request in enumerate(requests):  # the rest, one at a time, through the one-incident path
        if i not in results:
            incident = open_incident(session, registry, request, actor=actor, check_role=check_role)
            results[i] = Opened(incident.id, incident.reference, incident.workflow_version,
                                incident.posts[0].id if incident.posts else None)
    return [results[i] for i in range(len(requests))]


def post_values(post: PostInput, actor: User | None, now: datetime) -> dict[str, Any]:
    """A captured post's column values (``open_incident`` and ``open_incidents`` both store posts so)."""
    from app.posts import url_key
    from app.services.evidence import sha256_text

    return {
        "platform": post.platform, "url": post.url, "url_key": url_key(post.url) if post.url else None,
        "platform_post_id": post.platform_post_id,
        "author_handle": post.author_handle, "posted_at": post.posted_at, "text": post.text,
        "text_sha256": sha256_text(post.text) if post.text else None,
        "captured_by_id": actor.id if actor else None, "captured_at": now,
    }


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
    if expected_version is not None and expected_version != incident.version:
        raise IncidentChangedElsewhere(incident)
    return _take(session, registry, incident, transition_key, actor=actor, as_role=as_role, values=values,
                 comment=comment, lock_first=True)


def take_opening_step(session: Session, registry: WorkflowRegistry, incident: Incident, transition_key: str, *,
                      actor: User | None, as_role: str | None, values: dict[str, Any], comment: str) -> Incident:
    """``take_transition`` for the step an incident takes as it is opened, in the transaction that opened it (a
    linked track's ``then``). Nobody else can see its row before the commit, so no version-checked UPDATE needs to
    take the row's lock ahead of the step: the move is written with the rest of it, one flush fewer."""
    return _take(session, registry, incident, transition_key, actor=actor, as_role=as_role, values=values,
                 comment=comment, lock_first=False)


def _take(session: Session, registry: WorkflowRegistry, incident: Incident, transition_key: str, *,
          actor: User | None, as_role: str | None, values: dict[str, Any] | None, comment: str | None,
          lock_first: bool) -> Incident:
    from app.services.effects import LinkedOpenings

    if actor is not None and not can_view(actor, incident):
        raise NotFound("No such incident.")
    definition, decision = _decide(session, registry, incident, transition_key, actor=actor, as_role=as_role,
                                   values=values, comment=comment)
    now = utcnow()
    reference = incident.reference  # read now: after a failed flush the row cannot be loaded
    _enter(incident, decision, now)
    if lock_first:
        # Written now: the version check (UPDATE … WHERE version = n) takes the row lock before anything else.
        write_moves_version_checked(session, [incident], reference)
    # A linked incident the step opens is opened as the sweep's escalations open theirs (``LinkedOpenings``): its
    # rows written set-wise and its audit rows with the step's own, instead of an incident object flushed twice and
    # audit rows written one by one.
    openings = LinkedOpenings(actor=actor)
    entries = _run_step(session, registry, definition, incident, decision, actor=actor, now=now, openings=openings)
    audit.record_many(session, _audit_rows(entries, openings.open(session, registry)), at=now)
    session.flush()
    return incident


def _audit_rows(entries: list[audit.Entry | int], opened: list[list[audit.Entry]]) -> list[audit.Entry]:
    """A step's audit rows (``_run_step``) in order, with each linked opening's own rows (``LinkedOpenings.open``)
    in the place of its number."""
    return [row for entry in entries for row in (opened[entry] if isinstance(entry, int) else [entry])]


def take_transitions(
    session: Session,
    registry: WorkflowRegistry,
    moves: list[tuple[Incident, str | None]],
    transition_key: str,
    *,
    as_role: str,
) -> list[TransitionNotAllowed | None]:
    """The system (``actor`` None, acting ``as_role``) takes one transition on many incidents at once, each
    with its comment — the deadline sweep's escalations. The same rules, effects and audit rows as
    ``take_transition`` on each, written set-wise: one version-checked write for the lot, the linked
    incidents the effects open in one ``open_incidents`` call, the audit rows in one ``record_many``. Returns,
    per move, None or the refusal (a refused incident is left untouched). The incidents must be distinct.
    Raises IncidentChangedElsewhere if any was changed by someone else since it was loaded (roll back)."""
    from app.services.effects import LinkedOpenings

    if len({id(incident) for incident, _comment in moves}) != len(moves):
        raise ValueError("take_transitions moves each incident once; take a second step in a later call")
    outcome: list[TransitionNotAllowed | None] = []
    decided: list[tuple[Incident, WorkflowDef, Decision]] = []
    now = utcnow()
    for incident, comment in moves:
        try:
            definition, decision = _decide(session, registry, incident, transition_key, actor=None,
                                           as_role=as_role, values=None, comment=comment)
        except TransitionNotAllowed as refused:
            outcome.append(refused)
            continue
        outcome.append(None)
        _enter(incident, decision, now)
        decided.append((incident, definition, decision))
    if not decided:
        return outcome
    write_moves_version_checked(session, [incident for incident, _definition, _decision in decided],
                                "An incident the sweep escalates")
    # Their deadlines in one statement: the effects and the clocks read them, and a lazy load each (which also
    # flushed the previous incident's changes) was a third of a batch's time. (Read with the incidents again, by
    # selectinload, their rows came back whole for nothing: 26 ms a sweep of 445, alternately.)
    _DEADLINES.load_all(session, [incident for incident, _definition, _decision in decided])
    openings = LinkedOpenings(actor=None)
    steps = [_run_step(session, registry, definition, incident, decision, actor=None, now=now, openings=openings)
             for incident, definition, decision in decided]
    opened = openings.open(session, registry)
    audit.record_many(session, [row for entries in steps for row in _audit_rows(entries, opened)], at=now)
    session.flush()
    return outcome


def flush_version_checked(session: Session, reference: str) -> None:
    """Flush, turning a lost version check (someone else moved the incident first: the UPDATE … WHERE version = n
    found no row) into IncidentChangedElsewhere. The caller reads ``reference`` before: after a failed flush the
    row cannot be loaded."""
    try:
        session.flush()
    except StaleDataError:
        raise IncidentChangedElsewhere(reference) from None


def write_moves_version_checked(session: Session, incidents: list[Incident], reference: str) -> None:
    """Write ``incidents``, just moved by ``_enter``, as ``flush_version_checked`` would, but one executemany per set
    of changed columns, and without the unit of work: the ORM writes a versioned row by a statement of its own, to
    check each row count, and its flush was a fifth of a sweep's escalating transitions and a twentieth of a single
    transition. Every UPDATE names one row by id and the version it was read at, so the rows matched add up to the
    number of incidents unless someone else moved one first: IncidentChangedElsewhere (roll back). Other objects
    pending in the session are written by the next flush, still before the audit chain head is read (the order of
    locks, app.services.audit).

    The flush itself writes them all instead when this could not do as it would: an incident with anything but its
    own columns pending (a relationship changed) or not yet stored; inside a savepoint, whose rollback must take the
    objects back to what is stored, which SQLAlchemy arranges only for the objects its flush wrote; a driver that
    cannot count the rows an executemany matched."""
    by_columns: dict[tuple[str, ...], list[tuple[Incident, dict[str, Any]]]] = {}
    # The session's connection: asking for it also sends a savepoint begun but not yet sent, so that the connection
    # knows it is inside one (a scoped session has no in_nested_transaction of its own).
    connection = session.connection()
    plain = connection.dialect.supports_sane_multi_rowcount and not connection.in_nested_transaction()
    for incident in incidents:
        state = inspect(incident)
        changed = tuple(sorted(state.committed_state))
        if not plain or not state.persistent or "version" not in changed or not set(changed) <= _INCIDENT_COLUMNS:
            flush_version_checked(session, reference)
            return
        values = {f"new_{key}": getattr(incident, key) for key in changed}
        values |= {"old_id": incident.id, "old_version": state.committed_state["version"]}
        by_columns.setdefault(changed, []).append((incident, values))
    table = Incident.__table__
    for changed, rows in by_columns.items():
        statement = update(table).where(table.c.id == bindparam("old_id"), table.c.version == bindparam("old_version"))
        result = session.execute(statement.values({key: bindparam(f"new_{key}") for key in changed}),
                                 [values for _incident, values in rows])
        if result.rowcount != len(rows):
            raise IncidentChangedElsewhere(reference)
        for incident, _values in rows:
            # What the flush itself does once it has written a row (SQLAlchemy's own, private step): the object is
            # no longer modified, so later flushes pass it by. Setting each value as committed left it marked
            # modified, and the next flush spent as long finding nothing to write as this saved.
            state = inspect(incident)
            state._commit_all(state.dict, session.identity_map)


# The attributes of Incident that are its own columns under the same name (``write_moves_version_checked`` writes
# only these).
_INCIDENT_COLUMNS = frozenset(column.key for column in Incident.__table__.columns)


def _decide(session: Session, registry: WorkflowRegistry, incident: Incident, transition_key: str, *,
            actor: User | None, as_role: str | None, values: dict[str, Any] | None,
            comment: str | None) -> tuple[WorkflowDef, Decision]:
    """Whether ``transition_key`` may be taken now, with these values (TransitionNotAllowed says why not)."""
    role = as_role if actor is None else actor.role
    if role is None:
        raise ServiceError("A transition needs an actor or a system role.")
    definition = definition_for(session, registry, incident)
    decision = decide(definition, state=incident.state, transition_key=transition_key, role=role,
                      facts=lambda: facts_about(incident), raw_values=values or {}, comment=comment,
                      known_clause=registry.catalogues.known)
    for spec in decision.transition.fields:
        if spec.type == "person" and spec.key in decision.values and \
                session.get(Person, decision.values[spec.key]) is None:
            raise TransitionNotAllowed(f"Check the form: {spec.label}: no such person.",
                                       {spec.key: f"{spec.label}: no such person"})
    return definition, decision


def _enter(incident: Incident, decision: Decision, now: datetime) -> None:
    """The incident's own row moves to the decided state (the version goes up: a concurrent change loses), with the
    effects that set only its own columns (outcome, severity)."""
    from app.services.effects import apply_row_effects

    incident.bump_version()
    apply_row_effects(incident, decision.transition.effects, decision.values)
    incident.state = decision.to_state
    incident.state_entered_at = now
    if decision.values:
        incident.fields = {**(incident.fields or {}), **decision.values}
    incident.updated_at = now
    if incident.first_action_at is None:
        # The first action: the very time its audit row holds (the dashboards' time to first action).
        incident.first_action_at = now


_DEADLINES = Collections(Incident.deadlines)


def _run_step(session: Session, registry: WorkflowRegistry, definition: WorkflowDef, incident: Incident,
              decision: Decision, *, actor: User | None, now: datetime,
              openings: LinkedOpenings | None = None) -> list[audit.Entry | int]:
    """The rest of a transition once the incident's row has moved: the effects, the clocks the states pause,
    resume or end, and the audit rows still to write, in order. An int in the list stands for the rows of a
    linked incident ``openings`` will open (the effects' own rows are already written otherwise)."""
    from app.services.effects import run_effects

    leaving = definition.states[decision.from_state]
    entering = definition.states[decision.to_state]
    _DEADLINES.load(session, incident)  # by a statement built once; a lazy load builds its own at every step
    # Effects run before paused clocks resume, so an effect that knows the real dates of a pause
    # (stop_clock_between) can settle it itself instead of crediting the time it took to record it.
    running_before = [d for d in incident.deadlines if d.status == "running"]
    waiting = openings.waiting if openings is not None else 0
    run_effects(session, registry, definition, incident, decision.transition.effects, values=decision.values,
                actor=actor, openings=openings)
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
    entries: list[audit.Entry | int] = list(range(waiting, openings.waiting)) if openings is not None else []
    entries.append(audit.Entry(actor=actor, action="incident.transition", incident=incident,
                               from_state=decision.from_state, to_state=decision.to_state,
                               transition=decision.transition.key, comment=decision.comment,
                               data={"fields": decision.values}))
    return entries
