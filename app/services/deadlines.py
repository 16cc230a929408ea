"""Starting, stopping, pausing and extending the named deadlines workflows put on incidents.

The lengths come from the workflow files; the counting from ``app.timing``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import ClosureDay, Deadline, DeadlineExtension, Incident, User
from app.services import ServiceError
from app.timing import LONDON, WorkingCalendar, due_at, get_calendar, parse_duration
from app.workflow.definition import DeadlineDef

# Built once: run by every deadline started or moved. Without autoflush: no service writes closure days in the
# transaction that reads them, and a flush here (of the step's changes so far) was one more of a transition's flushes.
_CLOSURE_DAYS = select(ClosureDay.day).execution_options(autoflush=False)


def calendar_for(session: Session, name: str) -> WorkingCalendar:
    closures = session.scalars(_CLOSURE_DAYS).all()
    return get_calendar(name, closures)


def live(incident: Incident, key: str | None = None) -> list[Deadline]:
    return [d for d in incident.deadlines if d.is_live and (key is None or d.key == key)]


def start(
    session: Session,
    incident: Incident,
    spec: DeadlineDef,
    *,
    start_at: datetime | None = None,
    duration: str | None = None,
) -> Deadline:
    """Start (or restart) a deadline. A deadline already running under the same name is replaced."""
    now = utcnow()
    for old in live(incident, spec.key):
        old.status = "cancelled"
        old.finished_at = now
    length = duration or spec.duration
    parsed = parse_duration(length)
    if parsed.unit == "hours" and spec.business_hours:
        parsed = parse_duration(f"{parsed.amount} business hours")
    begin = start_at or now
    deadline = Deadline(
        key=spec.key,
        title=spec.title,
        why=spec.why,
        duration=str(parsed),
        calendar=incident.calendar,
        started_at=begin,
        due_at=due_at(begin, parsed, calendar_for(session, incident.calendar)),
        status="running",
        reminders=list(spec.reminders),
        on_breach=dict(spec.on_breach) if spec.on_breach else None,
    )
    incident.deadlines.append(deadline)
    return deadline


def stop(incident: Incident, key: str) -> list[Deadline]:
    now = utcnow()
    stopped = live(incident, key)
    for deadline in stopped:
        _settle_pause(deadline, now)
        deadline.status = "met"
        deadline.finished_at = now
    return stopped


def extend(session: Session, incident: Incident, key: str, by: str) -> list[Deadline]:
    calendar = calendar_for(session, incident.calendar)
    moved = live(incident, key)
    for deadline in moved:
        deadline.due_at = due_at(deadline.due_at, parse_duration(by), calendar)
    return moved


def stop_clock_between(session: Session, incident: Incident, key: str, day_a: date, day_b: date,
                       at_least: str) -> list[Deadline]:
    """The clock stops from Day A to Day B: the due date moves on by the days in between, and at least
    ``at_least`` (e.g. one month) remains after Day B. The claim is due by whichever is later."""
    if day_b < day_a:
        raise ServiceError("Day B (the certificate) cannot be before Day A (the notification).")
    calendar = calendar_for(session, incident.calendar)
    floor = due_at(datetime.combine(day_b, time(12, 0), LONDON), parse_duration(at_least), calendar)
    now = utcnow()
    moved = live(incident, key)
    for deadline in moved:
        # A clock paused while conciliation ran is settled here from the real dates, not the pause.
        deadline.status, deadline.paused_at = "running", None
        deadline.paused_seconds += (day_b - day_a).days * 86400
        deadline.due_at = max(deadline.due_at + timedelta(days=(day_b - day_a).days), floor)
        _clear_breach_if_future(deadline, now)
    return moved


def _clear_breach_if_future(deadline: Deadline, now: datetime) -> None:
    """A deadline moved past now can be missed again, and that must be reported again."""
    if deadline.breached_at is not None and deadline.due_at > now:
        deadline.breached_at = None


def pause_all(incident: Incident, only: list[Deadline] | None = None) -> None:
    now = utcnow()
    for deadline in incident.deadlines if only is None else only:
        if deadline.status == "running":
            deadline.status = "paused"
            deadline.paused_at = now


def _settle_pause(deadline: Deadline, now: datetime) -> None:
    """Close a pause: the due time moves later by exactly the paused time."""
    if deadline.status == "paused" and deadline.paused_at is not None:
        paused_for = now - deadline.paused_at
        deadline.due_at = deadline.due_at + paused_for
        deadline.paused_seconds += int(paused_for.total_seconds())
        deadline.paused_at = None
        deadline.status = "running"
        _clear_breach_if_future(deadline, now)


def resume_all(incident: Incident) -> None:
    now = utcnow()
    for deadline in incident.deadlines:
        _settle_pause(deadline, now)


def cancel_all(incident: Incident) -> None:
    now = utcnow()
    for deadline in live(incident):
        _settle_pause(deadline, now)
        deadline.status = "cancelled"
        deadline.finished_at = now


def agree_extension(
    session: Session,
    incident: Incident,
    deadline: Deadline,
    *,
    actor: User,
    reason: str,
    agreed_by: str,
    new_due: datetime | None = None,
    by: str | None = None,
) -> DeadlineExtension:
    """Record an agreed extension: moves the due time later, with the reason and who agreed it."""
    from app.services import audit

    if deadline.incident_id != incident.id or not deadline.is_live:
        raise ServiceError("That deadline is not running on this incident any more; reload the page.")
    reason, agreed_by = reason.strip(), agreed_by.strip()
    if not reason:
        raise ServiceError("Say why the extension was agreed.")
    if not agreed_by:
        raise ServiceError("Say who agreed the extension (for example the employer's HR adviser).")
    if (new_due is None) == (by is None):
        raise ServiceError("Give either a new due date or a length to extend by, not both.")
    if by is not None:
        new_due = due_at(deadline.due_at, parse_duration(by), calendar_for(session, incident.calendar))
    assert new_due is not None
    if new_due <= deadline.due_at:
        raise ServiceError("An extension must move the deadline later than it is now.")
    extension = DeadlineExtension(previous_due_at=deadline.due_at, new_due_at=new_due, reason=reason,
                                  agreed_by=agreed_by, recorded_by_id=actor.id)
    deadline.extensions.append(extension)
    deadline.due_at = new_due
    deadline.breached_at = None
    incident.bump_version()
    session.flush()
    audit.record(session, actor=actor, action="deadline.extended", incident=incident, object_type="deadline",
                 object_id=deadline.id, comment=reason,
                 data={"deadline": deadline.key, "from": extension.previous_due_at.isoformat(),
                       "to": new_due.isoformat(), "agreed_by": agreed_by})
    return extension
