"""The deadline sweep: reminders before a deadline, escalation when it passes, warnings that expire.

Safe to run from several workers at once on PostgreSQL: rows are claimed with
``FOR UPDATE SKIP LOCKED`` and every e-mail carries a unique dedupe key, so a reminder is queued
exactly once. On SQLite, write transactions are serialised (BEGIN IMMEDIATE), so a second worker is
harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, joinedload

from app.clock import utcnow
from app.models import Deadline, Incident, User, Warning
from app.services import audit, notifications
from app.services.deadlines import calendar_for
from app.timing import Duration, parse_duration
from app.workflow import TransitionNotAllowed, WorkflowRegistry

BATCH = 500
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


def reminder_horizon(duration: Duration) -> timedelta:
    """An upper bound on how long before the due time a reminder can fall (for the candidate query)."""
    days = {"working_days": duration.amount * 2 + 14, "days": duration.amount, "weeks": 7 * duration.amount,
            "months": 31 * duration.amount}.get(duration.unit)
    return timedelta(days=days + 1) if days is not None else timedelta(hours=duration.amount + 1)


def remind_at(session: Session, deadline: Deadline, reminder: Duration) -> datetime:
    """When a reminder "N before the due time" falls. Day-based reminders go out at 09:00 UK time."""
    from app.timing import LONDON

    if reminder.is_hours:
        return deadline.due_at - timedelta(hours=reminder.amount)
    due_day = deadline.due_at.astimezone(LONDON).date()
    if reminder.unit == "working_days":
        day = calendar_for(session, deadline.calendar).add_working_days(due_day, -reminder.amount)
    elif reminder.unit in ("days", "weeks"):
        day = due_day - timedelta(days=reminder.amount * (7 if reminder.unit == "weeks" else 1))
    else:
        from dateutil.relativedelta import relativedelta

        day = due_day - relativedelta(months=reminder.amount)
    return datetime.combine(day, LONDON_MORNING, LONDON)


def _recipients(session: Session, incident: Incident) -> list[User]:
    """The assignee; if nobody is assigned (or they left), everyone in the owning team who may see it."""
    from app.permissions import can_view

    if incident.assignee is not None and incident.assignee.active and can_view(incident.assignee, incident):
        return [incident.assignee]
    if incident.team_id is None:
        return []
    team = session.scalars(select(User).where(User.team_id == incident.team_id, User.active.is_(True)))
    return [u for u in team if can_view(u, incident)]


def overdue_key(deadline: Deadline) -> str:
    """One "overdue" e-mail per person per due time: a deadline missed again after an extension is told
    again, and someone who is both in the team and in the escalation role hears once."""
    return f"deadline:{deadline.id}:due:{deadline.due_at.isoformat()}:overdue"


def _claim(session: Session, query):  # type: ignore[no-untyped-def]
    return session.scalars(
        query.options(joinedload(Deadline.incident)).with_for_update(skip_locked=True, of=Deadline).limit(BATCH)
    ).unique().all()


def _queue_reminders(session: Session, now: datetime, horizon: timedelta, report: SweepReport) -> None:
    # Page along (due_at, id), the order of ix_deadlines_status_due_at, so each batch is an index range
    # rather than a re-sort of every candidate (which grew quadratically at a million incidents).
    after: tuple[datetime, int] = (now, 0)
    while True:
        batch = _claim(session, select(Deadline).where(
            Deadline.status == "running", Deadline.due_at <= now + horizon,
            tuple_(Deadline.due_at, Deadline.id) > tuple_(*after)).order_by(Deadline.due_at, Deadline.id))
        if not batch:
            return
        for deadline in batch:
            for text in deadline.reminders or []:
                if now < remind_at(session, deadline, parse_duration(text)):
                    continue
                incident = deadline.incident
                headline = f"Reminder: '{deadline.title}' is due soon"
                subject, body = notifications.incident_message(incident, headline,
                                                               due=notifications.when(deadline.due_at))
                for user in _recipients(session, incident):
                    key = f"deadline:{deadline.id}:due:{deadline.due_at.isoformat()}:remind:{text}:user:{user.id}"
                    report.reminders += notifications.queue(session, to=user, incident=incident, subject=subject,
                                                            body=body, dedupe_key=key)
        after = (batch[-1].due_at, batch[-1].id)


def _escalate(session: Session, registry: WorkflowRegistry, deadline: Deadline, now: datetime,
              report: SweepReport) -> None:
    from app.services.incidents import definition_for, take_transition

    incident = deadline.incident
    rule = deadline.on_breach or {}
    if "transition" in rule:
        definition = definition_for(session, registry, incident)
        transition = definition.transitions[rule["transition"]]
        because = f"Taken automatically: '{deadline.title}' was due {notifications.when(deadline.due_at)}."
        try:
            take_transition(session, registry, incident, transition.key, actor=None, as_role=transition.roles[0],
                            comment=because)
        except TransitionNotAllowed as refused:
            audit.record(session, actor=None, action="deadline.escalation_skipped", incident=incident,
                         object_type="deadline", object_id=deadline.id, data={"reason": refused.reason})
            return
        report.escalations.append(f"{incident.reference}: {transition.title}")
    elif "notify" in rule:
        notifications.notify_role(session, incident, rule["notify"], f"Overdue: '{deadline.title}'",
                                  dedupe_prefix=overdue_key(deadline))
        report.escalations.append(f"{incident.reference}: notified {rule['notify']}")
    elif "reassign" in rule:
        candidates = notifications.users_with_role_who_can_see(session, incident, rule["reassign"])
        if candidates:
            previous = incident.assignee.email if incident.assignee else None
            incident.assignee = candidates[0]
            incident.bump_version()
            session.flush()
            audit.record(session, actor=None, action="incident.reassigned", incident=incident,
                         data={"from": previous, "to": candidates[0].email, "because": deadline.title})
            report.escalations.append(f"{incident.reference}: reassigned to {candidates[0].email}")


def _handle_breaches(session: Session, registry: WorkflowRegistry, now: datetime, report: SweepReport) -> None:
    while True:
        batch = _claim(session, select(Deadline).where(
            Deadline.status == "running", Deadline.due_at <= now, Deadline.breached_at.is_(None)
        ).order_by(Deadline.due_at, Deadline.id))
        if not batch:
            return
        for deadline in batch:
            deadline.breached_at = now
            incident = deadline.incident
            report.breaches += 1
            audit.record(session, actor=None, action="deadline.breached", incident=incident,
                         object_type="deadline", object_id=deadline.id,
                         data={"deadline": deadline.key, "due_at": deadline.due_at.isoformat()})
            subject, body = notifications.incident_message(
                incident, f"Overdue: '{deadline.title}'", due=notifications.when(deadline.due_at))
            for user in _recipients(session, incident):
                notifications.queue(session, to=user, incident=incident, subject=subject, body=body,
                                    dedupe_key=f"{overdue_key(deadline)}:user:{user.id}")
            if deadline.status == "running":
                _escalate(session, registry, deadline, now, report)
        session.flush()


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
    horizon = max((reminder_horizon(parse_duration(r)) for wf in registry.current.values()
                   for d in wf.deadlines.values() for r in d.reminders), default=timedelta(days=1))
    _handle_breaches(session, registry, now, report)
    _queue_reminders(session, now, horizon, report)
    _expire_warnings(session, now, report)
    session.flush()
    return report
