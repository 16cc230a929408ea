"""The deadline sweep: reminders before a deadline, escalation when it passes, warnings that expire.

Safe to run from several workers at once on PostgreSQL: rows are claimed with
``FOR UPDATE SKIP LOCKED`` and every e-mail carries a unique dedupe key, so a reminder is queued
exactly once. On SQLite, write transactions are serialised (BEGIN IMMEDIATE), so a second worker is
harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple, cast

from sqlalchemy import Select, Text, select, tuple_, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.identity import IdentityMap
from sqlalchemy.orm.util import identity_key

from app.clock import utcnow
from app.models import CaseFile, Deadline, Incident, IncidentShare, User, Warning
from app.models.base import among
from app.models.deadlines import NO_MORE_REMINDERS, unbreached
from app.permissions import Readers
from app.services import audit, notifications, rota
from app.services.deadlines import calendar_for
from app.timing import Duration, WorkingCalendar, parse_duration
from app.workflow import TransitionNotAllowed, WorkflowRegistry

# Deadlines claimed at a time, by the breach pass and the reminder pass. A breach batch costs a few statements and
# one set-wise escalation whatever its size: at 500 a sweep of 10,000 passed deadlines took 10-15 % longer than at
# 2,000 (bench/RESULTS.md run 27). Its ids go into IN lists: 2,000 parameters is within SQLite's limit from 3.32 (the
# app needs 3.35 already, for RETURNING).
BATCH = 2000
LONDON_MORNING = time(9, 0)


@dataclass
class SweepReport:
    reminders: int = 0
    breaches: int = 0
    escalations: list[str] = field(default_factory=list)
    expired_warnings: int = 0

    def summary(self) -> str:
        return (f"{self.reminders} reminder(s) queued, {self.breaches} deadline(s) passed, "
                f"{len(self.escalations)} escalation(s), {self.expired_warnings} warning(s) expired")


def remind_at(session: Session, deadline: Deadline, reminder: Duration,
              calendars: dict[str, WorkingCalendar] | None = None) -> datetime:
    """When a reminder "N before the due time" falls. Day-based reminders go out at 09:00 UK time.
    ``calendars`` caches working calendars across calls (they read the closure days)."""
    from app.timing import LONDON

    if reminder.is_hours:
        return deadline.due_at - timedelta(hours=reminder.amount)
    due_day = deadline.due_at.astimezone(LONDON).date()
    if reminder.unit == "working_days":
        if calendars is None:
            calendars = {}
        if deadline.calendar not in calendars:
            calendars[deadline.calendar] = calendar_for(session, deadline.calendar)
        day = calendars[deadline.calendar].add_working_days(due_day, -reminder.amount)
    elif reminder.unit in ("days", "weeks"):
        day = due_day - timedelta(days=reminder.amount * (7 if reminder.unit == "weeks" else 1))
    else:
        from dateutil.relativedelta import relativedelta

        day = due_day - relativedelta(months=reminder.amount)
    return datetime.combine(day, LONDON_MORNING, LONDON)


class Recipients:
    """Who hears about an incident, with the team, role and rota look-ups made once per sweep rather than
    once per deadline (a sweep can handle thousands of deadlines of the same few teams)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self._teams: dict[int, Readers] = {}
        self._roles: dict[str, Readers] = {}
        self._rota = rota.RotaAt(session, now)
        self._users: dict[int, User] = {}
        # Each assignee as Readers of one: whether they may read an incident is then worked out once per group of
        # incidents they are assigned (a sweep asks it of ten thousand incidents and a few hundred assignees).
        self._assignees: dict[int, Readers] = {}

    def load_users(self, ids: Iterable[int | None]) -> None:
        """Read the users among ``ids`` not read yet, in one statement (a batch's assignees: one query each, or
        joined to every claimed row, read the same few hundred users again and again)."""
        missing = {user_id for user_id in ids if user_id is not None and user_id not in self._users}
        if missing:
            self._users.update((u.id, u) for u in self.session.scalars(
                select(User).where(among(self.session, User.id, missing))))

    def for_incident(self, incident: Incident | PassedIncident) -> list[User]:
        """The assignee; if nobody is assigned (or they left), everyone in the owning team who may see it."""
        if (assignee_id := incident.assignee_id) is not None:
            assignee = self._assignees.get(assignee_id)
            if assignee is None:
                if assignee_id not in self._users:  # the claim has read a batch's assignees already
                    self.load_users([assignee_id])
                assignee = self._assignees[assignee_id] = Readers([self._users[assignee_id]])
            if told := assignee.of(incident):  # active, and may read it (can_view)
                return told
        if incident.team_id is None:
            return []
        if incident.team_id not in self._teams:
            self._teams[incident.team_id] = Readers(self.session.scalars(
                select(User).where(User.team_id == incident.team_id, User.active.is_(True)).order_by(User.id)))
        return self._teams[incident.team_id].of(incident)

    def with_role(self, incident: Incident | PassedIncident, role: str) -> list[User]:
        if role not in self._roles:
            self._roles[role] = Readers(notifications.active_users_with_role(self.session, role))
        return self._roles[role].of(incident)

    def on_duty(self, incident: Incident | PassedIncident, role: str) -> list[User]:
        """Those with ``role`` who may see the incident, narrowed by the rota (the on-call press officer at night)."""
        return self._rota.narrow(role, self.with_role(incident, role))


def overdue_key(deadline: Deadline | PassedDeadline) -> str:
    """Each person is told once per deadline and due time: a deadline missed again after an extension is told
    again, and someone who is both in the team and in the escalation role hears once."""
    return f"deadline:{deadline.id}:due:{deadline.due_at.isoformat()}:overdue"


class OverdueNotices:
    """Who is told which deadlines passed, gathered over a whole breach pass so that each person gets one e-mail
    a sweep: the deadline's own notice when only one of theirs passed, a digest when several did (a worker that was
    down for an hour must not send everyone in a team a message per deadline; at a million incidents one sweep
    used to queue 134,000).

    The deadlines are filed by audience, the list of people told of them, not person by person: an incident nobody
    is assigned goes to everyone in its team who may read it, and a thousand such deadlines filed under each of a
    hundred people were most of the notices' cost. People told of exactly the same deadlines share one wording."""

    def __init__(self) -> None:
        self._by_audience: dict[tuple[User, ...], dict[str, notifications.Overdue]] = {}  # audience -> key -> item

    def add(self, users: list[User], deadline: Deadline | PassedDeadline) -> None:
        if not users:
            return
        audience = tuple(users)
        told = self._by_audience.get(audience)
        if told is None:
            told = self._by_audience[audience] = {}
        key = overdue_key(deadline)
        if key not in told:
            told[key] = notifications.Overdue(deadline.incident, deadline.title, deadline.due_at)

    def messages(self) -> list[notifications.Message]:
        told_by: dict[int, tuple[User, list[dict[str, notifications.Overdue]]]] = {}  # user id -> (user, filings)
        for audience, told in self._by_audience.items():
            for user in audience:
                entry = told_by.get(user.id)
                if entry is None:
                    told_by[user.id] = (user, [told])
                else:
                    entry[1].append(told)
        worded: dict[tuple[int, ...], _Wording] = {}  # the filings' identities -> their wording
        messages = []
        for user, filings in told_by.values():
            filings_told = tuple(map(id, filings))
            wording = worded.get(filings_told)
            if wording is None:
                wording = worded[filings_told] = _Wording.of(_merged(filings))
            messages.append(notifications.Message(user, wording.incident, wording.subject, wording.body,
                                                  f"{wording.key}:user:{user.id}"))
        return messages


def _merged(filings: list[dict[str, notifications.Overdue]]) -> dict[str, notifications.Overdue]:
    if len(filings) == 1:
        return filings[0]
    merged: dict[str, notifications.Overdue] = {}
    for told in filings:
        merged.update(told)  # one deadline's items are alike, whichever audience filed them
    return merged


@dataclass(frozen=True)
class _Wording:
    """One overdue e-mail's text and dedupe key (without its recipient)."""

    incident: notifications.Notifiable | None
    subject: str
    body: str
    key: str

    @classmethod
    def of(cls, told: dict[str, notifications.Overdue]) -> _Wording:
        if len(told) == 1:
            [(key, overdue)] = told.items()
            subject, body = notifications.overdue_message(overdue)
            return cls(overdue.incident, subject, body, key)
        subject, body = notifications.overdue_digest(list(told.values()))
        # The same deadlines and due times make the same key: a digest is queued once, whichever worker writes it.
        digest = hashlib.sha256("\n".join(sorted(told)).encode()).hexdigest()
        return cls(None, subject, body, f"overdue-digest:{digest}")


@dataclass(slots=True)
class PassedIncident:
    """An incident as the breach pass reads it when none of its passed deadlines moves or reassigns it: the
    columns that decide who may read it (``permissions.ReadableIncident``, with its shares and case file loaded
    per batch) and what an e-mail names. Loading ten thousand whole incidents and deadlines as ORM objects was a
    third of a sweep's time at a million incidents; only the incidents a deadline moves or reassigns are loaded
    whole (``MOVES_INCIDENT``)."""

    id: int
    reference: str
    state: str  # kept up to date if a later batch of the sweep moves the incident (``_handle_breaches``)
    workflow_version: str
    restricted: bool
    side: str
    team_id: int | None
    case_file_id: int | None
    assignee_id: int | None
    created_by_id: int | None
    case_file: CaseFile | None = None
    shares: list[IncidentShare] = field(default_factory=list)


class PassedDeadline(NamedTuple):
    """A claimed deadline, as a plain row, with its incident: a ``PassedIncident``, or the ``Incident`` itself
    when one of the batch's deadlines moves or reassigns it (``MOVES_INCIDENT``), so that the escalation works on
    the ORM object and an e-mail names the step it was moved to."""

    id: int
    key: str
    title: str
    due_at: datetime
    on_breach: Mapping[str, Any] | None  # shared between deadlines of the same rule: read only
    incident: PassedIncident | Incident


# The breach rules (``on_breach`` in a workflow file) that change the incident itself.
MOVES_INCIDENT = ("transition", "reassign")


@lru_cache(maxsize=1024)
def _breach_rule(stored: str | None) -> Mapping[str, Any] | None:
    """A deadline's ``on_breach`` as stored, decoded once per distinct text: a sweep reads the same few rules on
    ten thousand deadlines, and decoding each row's copy was a tenth of the claim. Read-only, since it is shared
    (at its top level: a rule's values are strings). Anything but an object (JSON null, as the ORM stores None) is
    no rule."""
    rule = None if stored is None else json.loads(stored)
    return MappingProxyType(rule) if isinstance(rule, dict) else None


# The incident's columns a PassedIncident is made of: its fields after the id without a default (those with one, the
# claim fills in afterwards). The claim selects them in this order after the deadline's and passes them by position,
# not by name through a dict built per row.
_PASSED_INCIDENT = tuple(f.name for f in fields(PassedIncident)
                         if f.name != "id" and f.default is MISSING and f.default_factory is MISSING)
# The deadline's columns: a PassedDeadline's first fields, in its order, then the rule as text (decoded by
# _breach_rule: of a JSON column, each row's copy would be decoded on its own) and the incident's id.
_RULE_AT = PassedDeadline._fields.index("on_breach")
_PASSED_DEADLINE = (*(getattr(Deadline, name) for name in PassedDeadline._fields[:_RULE_AT]),
                    sql_cast(Deadline.on_breach, Text).label("on_breach"), Deadline.incident_id)
_INCIDENT_ID_AT = _RULE_AT + 1
_INCIDENT_AT = len(_PASSED_DEADLINE)


def passed_unmarked(now: datetime) -> Select[Any]:
    """The running deadlines due by ``now`` and not yet marked breached, as plain rows with their incidents' columns,
    in the order the breach pass takes them (through the partial index ix_deadlines_unbreached_due, which
    ``unbreached()`` reaches). Of ORM attributes, so that running it flushes the session first."""
    return (select(*_PASSED_DEADLINE, *(getattr(Incident, column) for column in _PASSED_INCIDENT))
            .join_from(Deadline, Incident, Incident.id == Deadline.incident_id)
            .where(unbreached(), Deadline.due_at <= now).order_by(Deadline.due_at, Deadline.id))


def _claim_passed(session: Session, now: datetime, recipients: Recipients, busy: set[int],
                  after: tuple[datetime, int] | None) -> list[PassedDeadline] | None:
    """The next batch of passed deadlines, locked (``SKIP LOCKED``: another worker takes the next ones); None when
    none is left. The incidents a deadline moves or reassigns are loaded whole and locked too (FOR NO KEY UPDATE, which
    rows added elsewhere that point at the incident do not wait for), skipping any that someone is changing right now:
    such an incident is added to ``busy`` and left, with all its deadlines, to the next sweep, and the claim is taken
    again without it, in a savepoint rolled back so as to let go of the deadlines it had locked (whoever holds the
    incident may be about to change them). Waiting for such an incident while holding the audit chain head could
    deadlock with its holder, who will want the head (PostgreSQL; see app.services.audit on the order of locks). The
    other incidents come with the shares and case files that decide who may read them, each kind in one
    statement.

    ``after``: the (due time, id) of the last deadline claimed so far this sweep; the claim starts past it. The pass
    takes them in that order, so what lies before it this sweep has marked, or leaves to the next sweep: a deadline
    another worker holds (SKIP LOCKED), one of a ``busy`` incident, one whose due time comes to lie before it during
    the sweep (started or resumed already due by this sweep's escalations, or changed by someone else meanwhile), and
    those between the old and new due times of a last deadline someone else moved later as it was claimed. On
    PostgreSQL the rows marked earlier in the transaction keep their entries in the partial index until the
    transaction ends, and a claim from the start read past all of them again (a million incidents, 10,000 due,
    batches of 2,000: the first claim took 68-113 ms, the fifth 92-150 ms, and the sixth, which finds none, 32-79 ms;
    the sixth started past the fifth's last deadline took 2-3 ms; bench/RESULTS.md run 32)."""
    while True:
        claim = passed_unmarked(now)
        if after is not None:
            # Compared to a plain tuple, each value is bound as its column's type (the due time as SQLite stores it).
            claim = claim.where(tuple_(Deadline.due_at, Deadline.id) > after)
        if busy:
            claim = claim.where(Deadline.incident_id.not_in(busy))
        savepoint = session.begin_nested()
        rows = session.execute(_next_batch(claim)).all()
        if not rows:
            savepoint.commit()
            return None
        # A claimed row's values are read by position: by name, each read is a look-up in the row's keys (a batch's
        # 2,000 reads of one column took 0.8 ms against 0.05, and the claim reads four).
        rules = [_breach_rule(row[_RULE_AT]) for row in rows]
        changing = {row[_INCIDENT_ID_AT] for row, rule in zip(rows, rules, strict=True)
                    if rule is not None and any(step in rule for step in MOVES_INCIDENT)}
        whole: dict[int, Incident] = {}
        if changing:
            whole = {i.id: i for i in session.scalars(
                select(Incident).where(among(session, Incident.id, changing)).options(selectinload(Incident.shares))
                .with_for_update(skip_locked=True, key_share=True, of=Incident))}
        if taken := changing - whole.keys():
            savepoint.rollback()
            busy.update(taken)
            continue
        savepoint.commit()
        break
    incidents: dict[int, PassedIncident | Incident] = dict(whole)
    plain: dict[int, PassedIncident] = {}
    for row in rows:
        if (incident_id := row[_INCIDENT_ID_AT]) not in incidents:
            incidents[incident_id] = plain[incident_id] = PassedIncident(incident_id, *row[_INCIDENT_AT:])
    if plain:
        for share in session.scalars(select(IncidentShare).where(among(session, IncidentShare.incident_id, plain))):
            plain[share.incident_id].shares.append(share)
    in_case_files = {i.case_file_id for i in plain.values() if i.case_file_id is not None}
    if in_case_files:
        case_files = {c.id: c for c in session.scalars(
            select(CaseFile).where(among(session, CaseFile.id, in_case_files)).options(selectinload(CaseFile.reps)))}
        for incident in plain.values():
            if incident.case_file_id is not None:
                incident.case_file = case_files[incident.case_file_id]
    recipients.load_users(incident.assignee_id for incident in incidents.values())
    return [PassedDeadline(*row[:_RULE_AT], rule, incidents[row[_INCIDENT_ID_AT]])
            for row, rule in zip(rows, rules, strict=True)]


def _next_batch(query: Select[Any]) -> Select[Any]:
    """The next ``BATCH`` rows of a claim, locked: ``SKIP LOCKED`` leaves those another worker holds to it."""
    return query.with_for_update(skip_locked=True, of=Deadline).limit(BATCH)


def _claim(session: Session, query, recipients: Recipients):  # type: ignore[no-untyped-def]
    batch = session.scalars(
        _next_batch(query.options(joinedload(Deadline.incident).selectinload(Incident.shares)))).unique().all()
    recipients.load_users(d.incident.assignee_id for d in batch)
    return batch


def _queue_reminders(session: Session, now: datetime, report: SweepReport,
                     recipients: Recipients | None = None) -> None:
    """Send the reminders that have fallen due, and record when each deadline's next one falls
    (``Deadline.next_remind_at``), so a sweep reads only the deadlines with a reminder to send or to work out,
    not every running deadline (at a million incidents that was 178,000 deadlines and 32 s a sweep)."""
    recipients = recipients or Recipients(session, now)
    calendars: dict[str, WorkingCalendar] = {}
    for to_look_at in (Deadline.next_remind_at.is_(None), Deadline.next_remind_at <= now):
        while True:
            # Each deadline handled gets a next reminder after now, so it leaves the query; no cursor needed.
            # In the index's own order: by id alone, PostgreSQL (which does not see that few running deadlines
            # lack a reminder time) walked all 1.2M deadlines by primary key, 0.5 s a sweep at a million incidents.
            batch = _claim(session, select(Deadline).where(Deadline.status == "running", to_look_at)
                           .order_by(Deadline.next_remind_at, Deadline.id), recipients)
            if not batch:
                break
            for deadline in batch:
                _remind(session, deadline, now, report, recipients, calendars)
            session.flush()


def _remind(session: Session, deadline: Deadline, now: datetime, report: SweepReport, recipients: Recipients,
            calendars: dict[str, WorkingCalendar]) -> None:
    later: list[datetime] = []
    for text in deadline.reminders or []:
        at = remind_at(session, deadline, parse_duration(text), calendars)
        if now < at:
            later.append(at)
            continue
        if deadline.due_at <= now:
            continue  # past due: the breach pass tells people now, not a reminder
        incident = deadline.incident
        headline = f"Reminder: '{deadline.title}' is due soon"
        subject, body = notifications.incident_message(incident, headline, due=notifications.when(deadline.due_at))
        # The key makes a reminder go once per due time and person, whichever sweep or worker gets there first.
        report.reminders += notifications.queue_many(session, [
            notifications.Message(user, incident, subject, body,
                                  f"deadline:{deadline.id}:due:{deadline.due_at.isoformat()}:remind:{text}:user:{user.id}")
            for user in recipients.for_incident(incident)])
    deadline.next_remind_at = min(later, default=NO_MORE_REMINDERS)


def _because(deadline: PassedDeadline) -> str:
    return f"Taken automatically: '{deadline.title}' was due {notifications.when(deadline.due_at)}."


def _skipped(deadline: PassedDeadline, refused: TransitionNotAllowed) -> audit.Entry:
    return audit.Entry(actor=None, action="deadline.escalation_skipped", incident=deadline.incident,
                       object_type="deadline", object_id=deadline.id, data={"reason": refused.reason})


def _escalate_batch(session: Session, registry: WorkflowRegistry, batch: list[PassedDeadline],
                    report: SweepReport, recipients: Recipients, notices: OverdueNotices) -> None:
    """Escalate a batch's passed deadlines as their files say. The transitions go first and together, one
    ``take_transitions`` per workflow version and step (each a full workflow transition, written set-wise:
    one at a time they were most of a sweep's time); then the rest in order, skipping a deadline that a
    transition has just stopped. An incident with two deadlines that each move it is moved by the second
    on its own, after the first."""
    from app.services.incidents import definition_for, take_transitions

    moving: dict[tuple[str, str, str], list[PassedDeadline]] = {}
    moved: set[int] = set()
    rest: list[PassedDeadline] = []
    for deadline in batch:
        if not deadline.on_breach:
            continue
        incident = deadline.incident
        if "transition" in deadline.on_breach and incident.id not in moved:
            moved.add(incident.id)
            key = (incident.workflow_key, incident.workflow_version, deadline.on_breach["transition"])
            moving.setdefault(key, []).append(deadline)
        else:
            rest.append(deadline)
    skipped: list[audit.Entry] = []
    for (_workflow, _version, step), deadlines in moving.items():
        incidents = [cast(Incident, d.incident) for d in deadlines]  # MOVES_INCIDENT: the claim loaded them whole
        transition = definition_for(session, registry, incidents[0]).transitions[step]
        refusals = take_transitions(session, registry, list(zip(incidents, map(_because, deadlines), strict=True)),
                                    step, as_role=transition.roles[0])
        for deadline, refused in zip(deadlines, refusals, strict=True):
            if refused is None:
                report.escalations.append(f"{deadline.incident.reference}: {transition.title}")
            else:
                skipped.append(_skipped(deadline, refused))
    audit.record_many(session, skipped)
    for deadline in rest:
        if not _stopped_meanwhile(session, deadline):
            _escalate(session, registry, deadline, report, recipients, notices)


# A deadline's key in the session's identity map is this with its id in the middle (as identity_key() makes it, which
# inspects the class each time: a tenth of the marks' loop over ten thousand deadlines).
_DEADLINE_KEY = identity_key(Deadline, 0)


def _held_deadline(identity_map: IdentityMap, deadline_id: int) -> Deadline | None:
    """The session's own copy of a deadline, if it holds one."""
    return cast(Deadline | None, identity_map.get((_DEADLINE_KEY[0], (deadline_id,), _DEADLINE_KEY[2])))


def _stopped_meanwhile(session: Session, deadline: PassedDeadline) -> bool:
    """Whether a transition of this batch has just stopped the deadline (met, cancelled or paused it). A transition
    works on its incident's ``deadlines`` collection (``take_transitions`` loads it, ``_run_step`` changes it), and the
    whole incident, held by the batch, holds that collection: so the session holds the deadline's row if it did. (A
    transition that changed deadlines it loaded some other way and dropped would escape this check.)"""
    held = _held_deadline(session.identity_map, deadline.id)
    return held is not None and held.status != "running"


def _escalate(session: Session, registry: WorkflowRegistry, deadline: PassedDeadline, report: SweepReport,
              recipients: Recipients, notices: OverdueNotices) -> None:
    """Do what the deadline's file says on a breach; the people a role is notified of it are added to ``notices``."""
    from app.services.incidents import definition_for, flush_version_checked, take_transition

    incident = deadline.incident
    rule = deadline.on_breach or {}
    if "transition" in rule:
        assert isinstance(incident, Incident)  # MOVES_INCIDENT: the claim loaded it whole
        definition = definition_for(session, registry, incident)
        transition = definition.transitions[rule["transition"]]
        try:
            take_transition(session, registry, incident, transition.key, actor=None, as_role=transition.roles[0],
                            comment=_because(deadline))
        except TransitionNotAllowed as refused:
            audit.record_many(session, [_skipped(deadline, refused)])
            return
        report.escalations.append(f"{incident.reference}: {transition.title}")
    elif "notify" in rule:
        # A role with an on-call duty (the press office) is reached through the rota outside office hours.
        notices.add(recipients.on_duty(incident, rule["notify"]), deadline)
        report.escalations.append(f"{incident.reference}: notified {rule['notify']}")
    elif "reassign" in rule:
        assert isinstance(incident, Incident)  # MOVES_INCIDENT: the claim loaded it whole
        candidates = recipients.with_role(incident, rule["reassign"])
        if candidates:
            previous = incident.assignee.email if incident.assignee else None
            incident.assignee = candidates[0]
            incident.bump_version()
            flush_version_checked(session, incident.reference)  # a race undoes the sweep, as for a transition
            audit.record(session, actor=None, action="incident.reassigned", incident=incident,
                         data={"from": previous, "to": candidates[0].email, "because": deadline.title})
            report.escalations.append(f"{incident.reference}: reassigned to {candidates[0].email}")


def _handle_breaches(session: Session, registry: WorkflowRegistry, now: datetime, report: SweepReport,
                     recipients: Recipients | None = None) -> None:
    """Mark each passed deadline breached, then escalate as its file says, and tell the people on each: all the
    e-mails of the pass in one outbox statement at its end (``OverdueNotices``). The marks and audit rows of a
    batch are written together (one chain extension), and so are its escalating transitions
    (``_escalate_batch``)."""
    recipients = recipients or Recipients(session, now)
    notices = OverdueNotices()
    # The plain rows told about so far: an e-mail names the incident's step when the pass ends, so one that a later
    # batch moves must not name the step it was read in.
    told_plain: dict[int, PassedIncident] = {}
    busy: set[int] = set()  # incidents someone else was changing: the next sweep's
    after: tuple[datetime, int] | None = None
    while (batch := _claim_passed(session, now, recipients, busy, after)) is not None:
        # The last, as the claim read them. (On PostgreSQL a row that someone else changed and committed while the claim
        # waited for its lock comes back changed, where its old values were sorted: if it is the last and its due time
        # moved later, the deadlines in between wait for the next sweep. The greatest would be no safer: any row of
        # the batch that moved would carry the cursor past them.)
        last = batch[-1]
        after = (last.due_at, last.id)
        # The batch's marks in one statement; a deadline the session holds is told the value is stored, so a
        # later flush does not write it again and whoever holds it reads it.
        session.execute(update(Deadline.__table__).where(among(session, Deadline.__table__.c.id, [d.id for d in batch]))
                        .values(breached_at=now))
        entries: list[audit.Entry] = []
        identity_map = session.identity_map
        for deadline in batch:
            held = _held_deadline(identity_map, deadline.id)
            if held is not None:
                set_committed_value(held, "breached_at", now)
            incident = deadline.incident
            entries.append(audit.Entry(actor=None, action="deadline.breached", incident_id=incident.id,
                                       workflow_version=incident.workflow_version, object_type="deadline",
                                       object_id=deadline.id,
                                       data={"deadline": deadline.key, "due_at": deadline.due_at.isoformat()}))
            notices.add(recipients.for_incident(incident), deadline)
        report.breaches += len(batch)
        audit.record_many(session, entries)
        _escalate_batch(session, registry, batch, report, recipients, notices)
        for deadline in batch:
            incident = deadline.incident
            if isinstance(incident, PassedIncident):
                told_plain[incident.id] = incident
            elif incident.id in told_plain:
                told_plain[incident.id].state = incident.state
        session.flush()
    notifications.queue_uncounted(session, notices.messages())


def _expire_warnings(session: Session, now: datetime, report: SweepReport) -> None:
    from app.timing import LONDON

    today = now.astimezone(LONDON).date()
    expired = session.scalars(select(Warning).where(Warning.status == "live", Warning.expires_on <= today)
                              .with_for_update(skip_locked=True).limit(5000)).all()
    for warning in expired:
        warning.status = "expired"
        audit.record(session, actor=None, action="warning.expired", object_type="warning", object_id=warning.id,
                     data={"person_id": warning.person_id, "level": warning.level,
                           "expires_on": warning.expires_on.isoformat()})
        report.expired_warnings += 1


def run_sweep(session: Session, registry: WorkflowRegistry, now: datetime | None = None) -> SweepReport:
    """One pass as of ``now`` (default: the clock). Flushes; the caller commits."""
    now = now or utcnow()
    report = SweepReport()
    recipients = Recipients(session, now)
    _handle_breaches(session, registry, now, report, recipients)
    _queue_reminders(session, now, report, recipients)
    _expire_warnings(session, now, report)
    session.flush()
    return report
