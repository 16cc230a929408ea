"""Starting, stopping, pausing and extending the named deadlines workflows put on incidents.

The lengths come from the workflow files; the counting from ``app.timing``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import ClosureDay, Deadline, Incident
from app.timing import WorkingCalendar, due_at, get_calendar, parse_duration
from app.workflow.definition import DeadlineDef


def calendar_for(session: Session, name: str) -> WorkingCalendar:
    closures = session.scalars(select(ClosureDay.day)).all()
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


def pause_all(incident: Incident) -> None:
    now = utcnow()
    for deadline in incident.deadlines:
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


def time_left(deadline: Deadline, now: datetime) -> timedelta:
    return deadline.due_at - now
