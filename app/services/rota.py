"""Office hours and the on-call rota: who is told about an urgent press approach, and the rota's upkeep.

The rule (pure, over a given ``now`` so tests can fix the clock): inside office hours — a working day
of the organisation's calendar (weekends, bank holidays and closure days are not), from ``office_opens``
to ``working_day_ends`` local time — the whole press office is told. Outside them, the press officer on
call (an ``OnCallShift`` of duty "press" covering ``now``) is told instead; with nobody on call the
press office is told after all, and the audit trail says nobody was on call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, OnCallShift, OrganisationSettings, User
from app.roles import Role
from app.services import InvalidInput, NotFound, audit, notifications
from app.services.deadlines import calendar_for
from app.timing import WorkingCalendar

log = logging.getLogger(__name__)

PRESS_DUTY = "press"
# Duties the rota knows, and the roles that may hold a shift of each.
DUTIES: dict[str, tuple[str, ...]] = {PRESS_DUTY: (Role.PRESS_OFFICE,)}
DUTY_TITLES: dict[str, str] = {PRESS_DUTY: "On-call press officer"}
MAX_SHIFT_DAYS = 31


@dataclass(frozen=True)
class OfficeHours:
    opens: time
    closes: time
    zone: ZoneInfo
    calendar: WorkingCalendar


def parse_clock(text: str, default: time) -> time:
    """'HH:MM' as stored in the settings; the default when it is missing or unreadable."""
    try:
        hours, minutes = (int(part) for part in (text or "").split(":"))
        return time(hours, minutes)
    except ValueError:
        return default


def office_hours(session: Session) -> OfficeHours:
    """The organisation's office hours and calendar (defaults when no settings row exists yet)."""
    settings = session.get(OrganisationSettings, 1)
    opens = parse_clock(settings.office_opens if settings else "", time(9, 0))
    closes = parse_clock(settings.working_day_ends if settings else "", time(17, 0))
    zone = ZoneInfo(settings.timezone if settings else "Europe/London")
    calendar = calendar_for(session, settings.default_calendar if settings else "england-and-wales")
    return OfficeHours(opens=opens, closes=closes, zone=zone, calendar=calendar)


def in_office_hours(now: datetime, hours: OfficeHours) -> bool:
    """Is ``now`` (aware) inside office hours on a working day?"""
    local = now.astimezone(hours.zone)
    if not hours.calendar.is_working_day(local.date()):
        return False
    return hours.opens <= local.time().replace(tzinfo=None) < hours.closes


def covering(shifts: Iterable[OnCallShift], duty: str, now: datetime) -> list[OnCallShift]:
    """The shifts of ``duty`` that cover ``now`` (starts inclusive, ends exclusive), earliest start first."""
    return sorted((s for s in shifts if s.duty == duty and _aware(s.starts_at) <= now < _aware(s.ends_at)),
                  key=lambda s: (_aware(s.starts_at), s.id or 0))


@dataclass(frozen=True)
class Recipients:
    users: list[User]
    # Why these people: shown in the audit trail.
    reason: str
    on_call: bool


def press_recipients(now: datetime, hours: OfficeHours, shifts: Sequence[OnCallShift],
                     press_office: Sequence[User]) -> Recipients:
    """Who to tell about a press approach at ``now``: the press office in office hours, else whoever is
    on call (active accounts only), else the press office with a note that nobody was on call."""
    if in_office_hours(now, hours):
        return Recipients(list(press_office), "office hours: the press office was told", on_call=False)
    on_call = [s.user for s in covering(shifts, PRESS_DUTY, now)
               if s.user is not None and s.user.active and s.user.role in DUTIES[PRESS_DUTY]]
    if on_call:
        names = ", ".join(u.name for u in on_call)
        return Recipients(on_call, f"outside office hours: the on-call press officer ({names}) was told",
                          on_call=True)
    return Recipients(list(press_office), "outside office hours and nobody on call: the whole press office was "
                                          "told instead", on_call=False)


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def shifts_covering(session: Session, duty: str, now: datetime) -> list[OnCallShift]:
    return list(session.scalars(select(OnCallShift).where(
        OnCallShift.duty == duty, OnCallShift.starts_at <= now, OnCallShift.ends_at > now)))


def press_recipients_now(session: Session, incident: Incident, now: datetime) -> Recipients:
    """Who to tell about this press approach at ``now`` (nothing queued)."""
    team = notifications.users_with_role_who_can_see(session, incident, Role.PRESS_OFFICE)
    return press_recipients(now, office_hours(session), shifts_covering(session, PRESS_DUTY, now), team)


class RotaAt:
    """The rota as of one moment, read when first needed and then reused: the deadline sweep narrows thousands of
    breach notices by it in one pass, and neither office hours nor the shifts on call change within it (read once
    per notice, they were half a second of a 10,000-deadline sweep)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self._hours: OfficeHours | None = None
        self._shifts: dict[str, list[OnCallShift]] = {}

    def narrow(self, role: str, users: Sequence[User]) -> list[User]:
        """``users`` (everyone with ``role`` who may see an incident) narrowed by the rota: for a role that holds
        an on-call duty (the press office), outside office hours only whoever is on call (all of them when
        nobody is). Other roles are told as they are. The sweep tells a breach's ``notify`` role through this."""
        duties = [duty for duty, roles in DUTIES.items() if role in roles]
        if not duties:
            return list(users)
        if self._hours is None:
            self._hours = office_hours(self.session)
        if duties[0] not in self._shifts:
            self._shifts[duties[0]] = shifts_covering(self.session, duties[0], self.now)
        return press_recipients(self.now, self._hours, self._shifts[duties[0]], users).users


def notify_press(session: Session, incident: Incident, headline: str, *, actor: User | None,
                 now: datetime | None = None) -> Recipients:
    """Queue the e-mail about a press approach to the right people (in the caller's transaction) and
    audit who was told and why. Every press referral gets this when it opens (the workflow's
    ``notify_press_office`` effect), however it was opened."""
    moment = now or utcnow()
    chosen = press_recipients_now(session, incident, moment)
    if not chosen.users:
        log.warning("press approach %s: nobody in the press office to tell", incident.reference)
    elif "nobody on call" in chosen.reason:
        log.warning("press approach %s: %s", incident.reference, chosen.reason)
    subject, body = notifications.incident_message(incident, headline)
    for user in chosen.users:
        notifications.queue(session, to=user, incident=incident, subject=subject, body=body)
    audit.record(session, actor=actor, action="press.notified", incident=incident,
                 data={"to": [u.email for u in chosen.users], "why": chosen.reason,
                       "on_call": chosen.on_call})
    return chosen


# --- the rota itself ---------------------------------------------------------------------------


def upcoming(session: Session, now: datetime, limit: int = 200) -> list[OnCallShift]:
    """Shifts not yet over, soonest first."""
    return list(session.scalars(select(OnCallShift).where(OnCallShift.ends_at > now)
                                .order_by(OnCallShift.starts_at, OnCallShift.id).limit(limit)))


def add_shift(session: Session, *, actor: User, duty: str, user_id: int | None, starts_at: datetime | None,
              ends_at: datetime | None, note: str | None = None, now: datetime | None = None) -> OnCallShift:
    """Add a shift, or InvalidInput saying what to fix (nothing stored)."""
    moment = now or utcnow()
    fields: dict[str, str] = {}
    if duty not in DUTIES:
        fields["duty"] = f"choose one of {', '.join(DUTIES)}"
    person = session.get(User, user_id) if user_id else None
    if person is None or not person.active:
        fields["user"] = "choose an active account"
    elif duty in DUTIES and person.role not in DUTIES[duty]:
        fields["user"] = f"{person.name} is not in the press office, so cannot be on call for it"
    if starts_at is None:
        fields["starts_at"] = "give the date and time the shift starts"
    if ends_at is None:
        fields["ends_at"] = "give the date and time the shift ends"
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            fields["ends_at"] = "must be after the start"
        elif (ends_at - starts_at).days >= MAX_SHIFT_DAYS:
            fields["ends_at"] = f"a shift is at most {MAX_SHIFT_DAYS} days long; add several"
        elif ends_at <= moment:
            fields["ends_at"] = "is in the past; the rota is for shifts still to come"
    clean_note = " ".join((note or "").split())
    if len(clean_note) > 200:
        fields["note"] = "keep it under 200 characters"
    if fields:
        raise InvalidInput("Check the shift: " + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items())
                           + ".", fields)
    assert starts_at is not None and ends_at is not None and person is not None
    clash = session.scalars(select(OnCallShift).where(OnCallShift.duty == duty, OnCallShift.starts_at < ends_at,
                                                      OnCallShift.ends_at > starts_at).limit(1)).first()
    if clash is not None:
        other = f"{clash.user.name}'s shift ({_local(clash.starts_at)} to {_local(clash.ends_at)})"
        raise InvalidInput(f"That shift overlaps {other}; one person is on call at a time. Change the times or "
                           "remove the other shift first.", {"starts_at": f"overlaps {other}"})
    shift = OnCallShift(duty=duty, user_id=person.id, starts_at=starts_at, ends_at=ends_at, note=clean_note or None)
    session.add(shift)
    session.flush()
    audit.record(session, actor=actor, action="rota.shift_added", object_type="on_call_shift", object_id=shift.id,
                 data={"duty": duty, "user": person.email, "starts_at": starts_at.isoformat(),
                       "ends_at": ends_at.isoformat()})
    return shift


def remove_shift(session: Session, *, actor: User, shift_id: int, now: datetime | None = None) -> None:
    """Remove a shift that has not started yet (the record of past cover is kept)."""
    moment = now or utcnow()
    shift = session.get(OnCallShift, shift_id)
    if shift is None:
        raise NotFound("No such shift; it may have been removed already.")
    if _aware(shift.starts_at) <= moment:
        raise InvalidInput("That shift has already started, so it stays on the record.", {"shift": "started"})
    audit.record(session, actor=actor, action="rota.shift_removed", object_type="on_call_shift", object_id=shift.id,
                 data={"duty": shift.duty, "user": shift.user.email, "starts_at": _aware(shift.starts_at).isoformat(),
                       "ends_at": _aware(shift.ends_at).isoformat()})
    session.delete(shift)
    session.flush()


def _local(moment: datetime) -> str:
    return _aware(moment).astimezone(ZoneInfo("Europe/London")).strftime("%a %d %b %Y %H:%M")
