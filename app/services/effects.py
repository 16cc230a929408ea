"""Carrying out the effects a workflow file names. Each one touches only the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, IncidentLink, Meeting, PersonFlag, User, Warning
from app.services import audit, bulk, notifications
from app.services import deadlines as deadline_service
from app.workflow import TransitionNotAllowed, WorkflowDef, WorkflowRegistry
from app.workflow.definition import Ref
from app.workflow.effects import EFFECTS
from app.workflow.engine import LONDON

if TYPE_CHECKING:
    from app.services.incidents import OpenRequest


@dataclass
class EffectContext:
    session: Session
    registry: WorkflowRegistry
    definition: WorkflowDef
    incident: Incident
    values: dict[str, Any]
    actor: User | None
    params: dict[str, Any]
    # Set by a step (``take_transition``) or a batch of them (``take_transitions``): ``open_linked`` leaves its
    # opening to them, made once the effects have run.
    openings: LinkedOpenings | None = None


def _start_deadline(ctx: EffectContext) -> None:
    spec = ctx.definition.deadlines[ctx.params["deadline"]]
    start_at = None
    if field := ctx.params.get("from_field"):
        raw = ctx.values.get(field)
        if not raw:
            return  # counted from a date nobody gave (an optional field left empty): nothing to start
        if len(str(raw)) > 10:  # a datetime field: count from that exact moment
            start_at = datetime.fromisoformat(str(raw))
        else:
            start_at = datetime.combine(date.fromisoformat(str(raw)), time(12, 0), LONDON)
    duration = _employer_duration(ctx.incident, spec.key) if spec.employer_may_change else None
    if (when := ctx.params.get("when_field")) and ctx.values.get(when) is True:
        duration = ctx.params.get("shorten_to")
    deadline_service.start(ctx.session, ctx.incident, spec, start_at=start_at, duration=duration)


def _employer_duration(incident: Incident, deadline_key: str) -> str | None:
    """The length the member's employer's own policy sets for this deadline, if it sets one."""
    case_file = incident.case_file
    employer = case_file.member.employer if case_file is not None else None
    return (employer.policy_durations or {}).get(deadline_key) if employer is not None else None


def _stop_deadline(ctx: EffectContext) -> None:
    deadline_service.stop(ctx.incident, ctx.params["deadline"])


def _recorded(ctx: EffectContext, field: str) -> Any:
    value = ctx.values.get(field)
    return value if value not in (None, "") else (ctx.incident.fields or {}).get(field)


def _stop_clock_between(ctx: EffectContext) -> None:
    start, end = _recorded(ctx, ctx.params["start_field"]), _recorded(ctx, ctx.params["end_field"])
    if not start or not end:
        return
    deadline_service.stop_clock_between(
        ctx.session, ctx.incident, ctx.params["deadline"], date.fromisoformat(str(start)[:10]),
        date.fromisoformat(str(end)[:10]), ctx.params["at_least"],
    )


def _extend_deadline(ctx: EffectContext) -> None:
    deadline_service.extend(ctx.session, ctx.incident, ctx.params["deadline"], ctx.params["by"])


def _record_outcome(ctx: EffectContext) -> None:
    _set_outcome(ctx.incident, ctx.values, ctx.params)


def _set_outcome(incident: Incident, values: dict[str, Any], params: dict[str, Any]) -> None:
    value = values.get(params["field"])
    if value is not None:
        incident.outcome = str(value)[:64]


def _set_severity(ctx: EffectContext) -> None:
    _set_severity_to(ctx.incident, ctx.values, ctx.params)


def _set_severity_to(incident: Incident, values: dict[str, Any], params: dict[str, Any]) -> None:
    value = values.get(params["field"])
    if value in ("low", "medium", "high", "critical"):
        incident.severity = value


def _cite_clauses(ctx: EffectContext) -> None:
    from app.services.incidents import cite

    keys = ctx.values.get(ctx.params["field"]) or []
    posted = next((p.posted_at for p in ctx.incident.posts if p.posted_at), None)
    cite(ctx.session, ctx.registry.catalogues, ctx.incident, list(keys), actor=ctx.actor,
         on=(posted or utcnow()).date())


def _open_linked(ctx: EffectContext) -> None:
    from app.services.incidents import OpenRequest, open_incident

    target = ctx.registry.get(ctx.params["workflow"])
    source, relation, step = ctx.incident, ctx.params["relation"], ctx.params.get("then")
    # Reading who holds the source and where it sits needs none of the step's writes so far: no flush for them.
    with ctx.session.no_autoflush:
        request = OpenRequest(workflow_key=target.key, title=f"{target.title}: {source.title}"[:200],
                              summary=f"Opened from {source.reference}.", subject_id=source.subject_id,
                              assignee=source.assignee, severity=source.severity, calendar=source.calendar,
                              restricted=source.restricted, case_file=source.case_file,
                              team=source.team if target.side == source.side else None)
    if ctx.openings is not None and not step:
        ctx.openings.add(source, request, relation)
        return
    linked = open_incident(ctx.session, ctx.registry, request, actor=ctx.actor, check_role=False)
    ctx.session.add(IncidentLink(from_id=source.id, to_id=linked.id, relation=relation))
    audit.record_many(ctx.session, [_linked_entry(ctx.actor, source, linked.id, linked.reference, relation)])
    if step:
        from app.services.incidents import take_opening_step

        then = target.transitions[step]
        declared = {f.key for f in then.fields}
        take_opening_step(ctx.session, ctx.registry, linked, step, actor=ctx.actor, as_role=then.roles[0],
                          values={k: v for k, v in ctx.values.items() if k in declared},
                          comment=f"Started from {source.reference}.")


def _linked_entry(actor: User | None, source: Incident, linked_id: int, linked_reference: str,
                  relation: str) -> audit.Entry:
    return audit.Entry(actor=actor, action="incident.linked", incident=source, object_type="incident",
                       object_id=linked_id, data={"relation": relation, "to": linked_reference})


class LinkedOpenings:
    """The linked incidents a step opens (``take_transition``), or a batch of steps (the sweep's escalations), opened
    together by one ``open_incidents`` call after the effects have run instead of one ``open_incident`` each, their
    audit rows left for the caller to write with the step's own (each "incident.opened" at its incident's own
    time). So a step's rows come in this order: those its effects write as they run, then per opening the case
    opened and the link, then the step. A case ``open_incidents`` cannot open set-wise (one in a members' case
    file) is opened by ``open_incident``, which writes its "incident.opened" at once. An ``open_linked`` with a
    follow-up step (``then``) needs the incident at once and opens it straight away, writing its rows as it goes."""

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        self._wanted: list[tuple[Incident, OpenRequest, str]] = []

    @property
    def waiting(self) -> int:
        """How many openings were asked for so far; the n-th one's rows are ``open()[n]``."""
        return len(self._wanted)

    def add(self, source: Incident, request: OpenRequest, relation: str) -> None:
        self._wanted.append((source, request, relation))

    def open(self, session: Session, registry: WorkflowRegistry) -> list[list[audit.Entry]]:
        """Open them all and link each to its source; per opening, the audit rows still to write, in order
        (the new incident's "incident.opened", then its source's "incident.linked")."""
        from app.services.incidents import open_incidents

        if not self._wanted:
            return []
        opened = open_incidents(session, registry, [request for _source, request, _relation in self._wanted],
                                actor=self.actor, check_role=False, write_audit=False)
        rows = []
        links = []
        for (source, _request, relation), linked in zip(self._wanted, opened, strict=True):
            links.append({"from_id": source.id, "to_id": linked.id, "relation": relation})
            rows.append([*([linked.entry] if linked.entry is not None else []),
                         _linked_entry(self.actor, source, linked.id, linked.reference, relation)])
        # The links in one statement: as ORM objects each was an INSERT … RETURNING of its own, for an id nothing here
        # reads (an incident holds no collection of its links for these rows to be missing from).
        bulk.executemany(session, IncidentLink.__table__, links)
        return rows


def _flag_subject(ctx: EffectContext) -> None:
    if ctx.incident.subject_id is not None:
        ctx.session.add(PersonFlag(person_id=ctx.incident.subject_id, incident_id=ctx.incident.id,
                                   flag=ctx.params["flag"]))


def _given_date(ctx: EffectContext, param: str) -> date | None:
    raw = ctx.values.get(ctx.params[param]) if param in ctx.params else None
    return date.fromisoformat(str(raw)[:10]) if raw else None


def _record_warning(ctx: EffectContext) -> None:
    if ctx.incident.subject_id is None:
        return
    issued = _given_date(ctx, "starts_field") or utcnow().astimezone(LONDON).date()
    expires = _given_date(ctx, "expires_field") or issued + relativedelta(months=int(ctx.params["months"]))
    if expires <= issued:  # a file that pairs the two fields checks this with later_than; never store it
        raise TransitionNotAllowed("Check the form: the warning must expire after it starts.")
    ctx.session.add(Warning(
        person_id=ctx.incident.subject_id, incident_id=ctx.incident.id,
        level=str(ctx.values.get(ctx.params["level_field"]) or "warning"), issued_on=issued, expires_on=expires,
    ))


def _scheduled(ctx: EffectContext) -> list[Meeting]:
    return [m for m in ctx.session.scalars(
        select(Meeting).where(Meeting.incident_id == ctx.incident.id, Meeting.kind == ctx.params["kind"],
                              Meeting.status == "scheduled")
    )]


def _text(ctx: EffectContext, param: str, limit: int) -> str | None:
    raw = ctx.values.get(ctx.params[param]) if param in ctx.params else None
    return str(raw)[:limit] if raw not in (None, "") else None


def _schedule_meeting(ctx: EffectContext) -> None:
    for earlier in _scheduled(ctx):
        earlier.status = "rescheduled"
    raw = str(ctx.values[ctx.params["at_field"]])
    at = datetime.fromisoformat(raw) if len(raw) > 10 else datetime.combine(date.fromisoformat(raw), time(9), LONDON)
    ctx.session.add(Meeting(
        incident_id=ctx.incident.id, kind=ctx.params["kind"], scheduled_at=at,
        place=_text(ctx, "place_field", 200), companion=_text(ctx, "companion_field", 200),
        invitation_received_on=_given_date(ctx, "invitation_field"),
        documents_received=_text(ctx, "documents_field", 20000), status="scheduled",
    ))


def _meeting_moved(ctx: EffectContext) -> None:
    for meeting in _scheduled(ctx):
        meeting.status = "rescheduled"


def _meeting_held(ctx: EffectContext) -> None:
    for meeting in _scheduled(ctx):
        meeting.status = "held"
        meeting.notes = _text(ctx, "notes_field", 50000) or meeting.notes


def _prompt_regulator_check(ctx: EffectContext) -> None:
    case_file = ctx.incident.case_file
    if case_file is not None and case_file.regulator_check is None:
        case_file.regulator_check = "pending"


def _notify_role(ctx: EffectContext) -> None:
    headline = f"{ctx.definition.title}: your attention is needed"
    notifications.notify_role(ctx.session, ctx.incident, ctx.params["role"], headline)


def _notify_press_office(ctx: EffectContext) -> None:
    from app.services import rota

    rota.notify_press(ctx.session, ctx.incident, f"{ctx.definition.title}: the press office needs to see this now",
                      actor=ctx.actor)


EFFECT_HANDLERS: dict[str, Callable[[EffectContext], None]] = {
    "start_deadline": _start_deadline,
    "stop_deadline": _stop_deadline,
    "stop_clock_between": _stop_clock_between,
    "extend_deadline": _extend_deadline,
    "record_outcome": _record_outcome,
    "set_severity": _set_severity,
    "cite_clauses": _cite_clauses,
    "open_linked": _open_linked,
    "flag_subject": _flag_subject,
    "record_warning": _record_warning,
    "notify_role": _notify_role,
    "notify_press_office": _notify_press_office,
    "schedule_meeting": _schedule_meeting,
    "meeting_moved": _meeting_moved,
    "meeting_held": _meeting_held,
    "prompt_regulator_check": _prompt_regulator_check,
}
assert set(EFFECT_HANDLERS) == set(EFFECTS), "every registered effect needs a handler"


# Effects that set only the incident's own columns. Those at the head of a transition's list go with its move
# (``apply_row_effects``), before the version-checked UPDATE, so the row is written once and not again just after;
# run_effects runs them again in their place, which sets the same values and writes nothing more. Only the head of
# the list: a later one must not change what an effect before it reads (open_linked copies the severity).
ROW_EFFECTS: dict[str, Callable[[Incident, dict[str, Any], dict[str, Any]], None]] = {
    "record_outcome": _set_outcome,
    "set_severity": _set_severity_to,
}


def apply_row_effects(incident: Incident, effects: tuple[Ref, ...], values: dict[str, Any]) -> None:
    for ref in effects:
        apply = ROW_EFFECTS.get(ref.name)
        if apply is None:
            return
        apply(incident, values, ref.params)


def run_effects(
    session: Session,
    registry: WorkflowRegistry,
    definition: WorkflowDef,
    incident: Incident,
    effects: tuple[Ref, ...],
    *,
    values: dict[str, Any],
    actor: User | None,
    openings: LinkedOpenings | None = None,
) -> None:
    for ref in effects:
        EFFECT_HANDLERS[ref.name](EffectContext(session, registry, definition, incident, values, actor, ref.params,
                                                openings))
