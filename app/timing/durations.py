"""Deadline durations ("5 working days", "3 months less 1 day") and when they fall due.

Workflow files state time limits as short English phrases (see docs/workflow-format.md,
"Durations").  :func:`parse_duration` turns the phrase into a :class:`Duration`, and
:func:`due_at` / :func:`due_date` turn a start moment plus a duration into a due moment using a
:class:`~app.timing.calendars.WorkingCalendar` for the jurisdiction.

Day-based deadlines fall due at the end of the working day (17:00 Europe/London by default),
because "within 5 working days" means "by close of business on the fifth working day".  Due
moments are returned in UTC so they can be stored and compared without ambiguity; zoneinfo takes
care of BST/GMT, so 17:00 London is 16:00Z in summer and 17:00Z in winter.

Pure Python: no Flask or SQLAlchemy, so the CLI, the web app and the tests share one rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from app.timing.calendars import WorkingCalendar

__all__ = [
    "DEFAULT_HOURS",
    "LONDON",
    "MAX_AMOUNT",
    "Duration",
    "DurationError",
    "DurationUnit",
    "WhenError",
    "WorkingHours",
    "due_at",
    "due_date",
    "parse_duration",
    "parse_when",
]

LONDON = ZoneInfo("Europe/London")

DurationUnit = Literal["working_days", "hours", "business_hours", "days", "weeks", "months"]
_UNITS: tuple[str, ...] = get_args(DurationUnit)
_HOUR_UNITS = frozenset({"hours", "business_hours"})

#: Largest amount accepted.  Far beyond any real time limit, but small enough that a typo like
#: "50000000 working days" is rejected instead of looping for minutes or overflowing the calendar.
MAX_AMOUNT = 10_000

# Words accepted for each unit (singular and plural are both accepted whatever the amount).
_UNIT_WORDS: dict[str, str] = {
    "working day": "working_days",
    "working days": "working_days",
    "hour": "hours",
    "hours": "hours",
    "business hour": "business_hours",
    "business hours": "business_hours",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
}
# Canonical (singular, plural) wording for __str__.
_UNIT_TEXT: dict[str, tuple[str, str]] = {
    "working_days": ("working day", "working days"),
    "hours": ("hour", "hours"),
    "business_hours": ("business hour", "business hours"),
    "days": ("day", "days"),
    "weeks": ("week", "weeks"),
    "months": ("month", "months"),
}
_UNITS_HELP = "use working days, hours, business hours, days, weeks, months or 'N months less 1 day'"
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_LESS = re.compile(r"\s+less\s+|^less\s+|\s+less$|^less$")


class DurationError(ValueError):
    """A duration phrase (or a duration used where it cannot apply) is wrong.

    The message quotes the offending text and names the bad part, so it can be shown as-is to
    whoever wrote the workflow file.
    """


class WhenError(ValueError):
    """A start date/time given as text is not ISO 8601; the message quotes the bad text."""


def _plural(amount: int, unit: str) -> str:
    singular, plural = _UNIT_TEXT[unit]
    return f"{amount} {singular if amount == 1 else plural}"


@dataclass(frozen=True)
class Duration:
    """A parsed time limit: ``amount`` of ``unit``, optionally less ``less_days`` days.

    ``less_days`` exists for limits such as the employment tribunal's "3 months less 1 day" and
    is only allowed with months.  ``str()`` gives the canonical phrase, which parses back to an
    equal Duration.
    """

    amount: int
    unit: DurationUnit
    less_days: int = 0

    def __post_init__(self) -> None:
        # Validated here too, so a Duration built in code is as trustworthy as a parsed one.
        if self.unit not in _UNITS:
            raise DurationError(f"unknown unit {self.unit!r}; expected one of {', '.join(_UNITS)}")
        for label, value in (("amount", self.amount), ("less_days", self.less_days)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
                raise DurationError(f"{label} must be a whole number from 0 to {MAX_AMOUNT}, not {value!r}")
        if self.less_days and self.unit != "months":
            raise DurationError("'less N days' only applies to months, e.g. '3 months less 1 day'")

    def __str__(self) -> str:
        text = _plural(self.amount, self.unit)
        if self.less_days:
            text += f" less {_plural(self.less_days, 'days')}"
        return text

    @property
    def is_hours(self) -> bool:
        """True for clock-based units (hours, business hours), which have no date-only answer."""
        return self.unit in _HOUR_UNITS


def _parse_amount(text: str, word: str, what: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(word):
        if re.fullmatch(r"[-+]?[0-9]*[.,]?[0-9]+", word):
            raise DurationError(f"{text!r}: {what} must be a whole number of 0 or more, not {word!r}")
        raise DurationError(f"{text!r}: {what} {word!r} is not a whole number")
    value = int(word)
    if value > MAX_AMOUNT:
        raise DurationError(f"{text!r}: {what} {value} is too large (at most {MAX_AMOUNT})")
    return value


def parse_duration(text: str) -> Duration:
    """Parse a duration phrase such as "5 working days" or "3 months less 1 day".

    Accepted: "N working day(s)", "N hour(s)", "N business hour(s)", "N day(s)", "N week(s)",
    "N month(s)" and "N month(s) less M day(s)", where N and M are whole numbers written in
    digits (0 allowed).  Case and extra spaces are ignored.  Anything else raises
    :class:`DurationError` naming the bad part: empty text, a negative or decimal amount, an
    unknown unit, or "less" followed by something other than "M day(s)".
    """
    if not isinstance(text, str):
        raise DurationError(f"duration must be text such as '5 working days', not {text!r}")
    normalised = " ".join(text.split()).lower()
    if not normalised:
        raise DurationError(f"{text!r}: duration is empty; expected e.g. '5 working days'")

    parts = _LESS.split(normalised)
    if len(parts) > 2:
        raise DurationError(f"{text!r}: 'less' may appear only once, e.g. '3 months less 1 day'")
    main, less = parts[0], (parts[1] if len(parts) == 2 else None)

    words = main.split(" ", 1)
    if not words[0]:
        raise DurationError(f"{text!r}: missing amount; expected e.g. '3 months less 1 day'")
    amount = _parse_amount(text, words[0], "amount")
    if len(words) == 1:
        raise DurationError(f"{text!r}: missing unit; {_UNITS_HELP}")
    unit = _UNIT_WORDS.get(words[1])
    if unit is None:
        raise DurationError(f"{text!r}: unknown unit {words[1]!r}; {_UNITS_HELP}")

    less_days = 0
    if less is not None:
        less_words = less.split(" ")
        if not less:
            raise DurationError(f"{text!r}: 'less' must be followed by a number of days, e.g. 'less 1 day'")
        if len(less_words) != 2 or less_words[1] not in ("day", "days"):
            raise DurationError(
                f"{text!r}: 'less' must be followed by a number of days, e.g. 'less 1 day', not {less!r}"
            )
        if unit != "months":
            raise DurationError(f"{text!r}: 'less N days' only applies to months, e.g. '3 months less 1 day'")
        less_days = _parse_amount(text, less_words[0], "days after 'less'")

    return Duration(amount=amount, unit=unit, less_days=less_days)  # type: ignore[arg-type]


@dataclass(frozen=True)
class WorkingHours:
    """When the working day starts and ends, in the organisation's time zone.

    ``end_of_day`` is when day-based deadlines fall due; ``start_of_day``..``end_of_day`` is the
    window that business hours are counted in.  Both are local wall-clock times in ``tz``.
    """

    end_of_day: time = time(17, 0)
    start_of_day: time = time(9, 0)
    tz: ZoneInfo = LONDON

    def __post_init__(self) -> None:
        if not self.start_of_day < self.end_of_day:
            raise ValueError(f"start_of_day {self.start_of_day} must be before end_of_day {self.end_of_day}")

    def local(self, d: date, t: time) -> datetime:
        """Wall-clock time ``t`` on ``d`` in this time zone, as an aware datetime."""
        return datetime.combine(d, t, tzinfo=self.tz)


#: 09:00-17:00 Europe/London.
DEFAULT_HOURS = WorkingHours()


def due_date(start: date, duration: Duration, calendar: WorkingCalendar) -> date:
    """The date a day-based ``duration`` counted from ``start`` falls due.

    * working days: ``start`` is day 0 and the N working days after it are counted (see
      :meth:`WorkingCalendar.add_working_days`; 0 means ``start`` or, if that is not a working
      day, the next working day).
    * days / weeks: ``start`` + N (or 7N) calendar days.  Not moved off weekends or holidays.
    * months: ``start`` + N calendar months, then minus ``less_days`` days.  Adding months keeps
      the day of the month but clamps it to the last day of a shorter month (dateutil's
      relativedelta), and "less 1 day" is subtracted *after* clamping.  So "3 months less 1
      day" from 31 May 2026 is 31 Aug 2026 - 1 = 30 Aug 2026, and from 30 Nov 2026 it is
      28 Feb 2027 (30 Feb does not exist) - 1 = 27 Feb 2027.  Like days, not moved off weekends.

    Hour-based units have no date-only answer and raise :class:`DurationError`; use
    :func:`due_at`.
    """
    if isinstance(start, datetime):
        raise TypeError("due_date() takes a date; use due_at() for a datetime")
    if duration.is_hours:
        raise DurationError(f"{str(duration)!r} is measured in hours; it needs a start time, not just a date")
    try:
        if duration.unit == "working_days":
            return calendar.add_working_days(start, duration.amount)
        if duration.unit == "days":
            return start + timedelta(days=duration.amount)
        if duration.unit == "weeks":
            return start + timedelta(weeks=duration.amount)
        # months
        return start + relativedelta(months=duration.amount) - timedelta(days=duration.less_days)
    except (OverflowError, ValueError) as exc:
        raise DurationError(f"{str(duration)!r} from {start.isoformat()} is beyond the supported dates") from exc


def _add_business_hours(
    start_utc: datetime, hours_needed: int, calendar: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Count ``hours_needed`` elapsed hours inside working windows on working days."""
    remaining = timedelta(hours=hours_needed)
    current = start_utc
    day = start_utc.astimezone(hours.tz).date()
    while True:
        if calendar.is_working_day(day):
            window_start = hours.local(day, hours.start_of_day).astimezone(UTC)
            window_end = hours.local(day, hours.end_of_day).astimezone(UTC)
            if current < window_start:
                current = window_start
            # "<=" so that 0 hours from exactly end of day is end of day, and a count that uses
            # up the window exactly ends at end of day rather than the next morning.
            if current <= window_end:
                available = window_end - current
                if remaining <= available:
                    return current + remaining
                remaining -= available
        day += timedelta(days=1)


def due_at(
    start: datetime,
    duration: Duration,
    calendar: WorkingCalendar,
    hours: WorkingHours = DEFAULT_HOURS,
) -> datetime:
    """The moment ``duration`` counted from ``start`` falls due, as an aware UTC datetime.

    ``start`` must be timezone-aware (a naive datetime is ambiguous across BST/GMT), otherwise
    ``ValueError``.

    * working days, days, weeks, months: the local (``hours.tz``) date of ``start`` is day 0;
      the date is found as in :func:`due_date` (including its month-end handling: "3 months
      less 1 day" from 31 May 2026 is 30 Aug 2026, from 30 Nov 2026 is 27 Feb 2027) and the
      deadline is ``hours.end_of_day`` local time on that date.
    * hours: ``start`` + N elapsed hours (so 24 hours across the clocks changing is still 24
      real hours, not the same wall-clock time next day).
    * business hours: N hours counted only between ``start_of_day`` and ``end_of_day`` on
      working days; a start outside those hours begins at the next working period.  0 business
      hours is the first moment at or after ``start`` that is inside working hours.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    start_utc = start.astimezone(UTC)
    if duration.unit == "hours":
        return start_utc + timedelta(hours=duration.amount)
    if duration.unit == "business_hours":
        return _add_business_hours(start_utc, duration.amount, calendar, hours)
    local_day = start_utc.astimezone(hours.tz).date()
    return hours.local(due_date(local_day, duration, calendar), hours.end_of_day).astimezone(UTC)


def parse_when(text: str, tz: ZoneInfo = LONDON) -> date | datetime:
    """Parse an ISO 8601 start: a date ("2026-12-24") or a date and time.

    A date and time with an offset ("2026-12-24T10:30+00:00", "...Z") keeps it; one without
    ("2026-12-24T10:30") is local time in ``tz``.  A local time that does not exist because the
    clocks went forward (e.g. 01:30 on 29 Mar 2026 in London) is rejected; one that happens twice
    when they go back takes the first (summer-time) occurrence.  Anything else raises
    :class:`WhenError` quoting the text.

    Compare or store the result via ``.astimezone(UTC)``: Python deems an ambiguous local time
    unequal to any datetime in another zone, even the same instant.
    """
    if not isinstance(text, str) or not text.strip():
        raise WhenError(f"{text!r}: expected an ISO 8601 date such as 2026-12-24 or 2026-12-24T10:30")
    cleaned = text.strip()
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise WhenError(f"{text!r} is not an ISO 8601 date or date-time, e.g. 2026-12-24 or 2026-12-24T10:30") from None
    if parsed.tzinfo is not None:
        return parsed
    local = parsed.replace(tzinfo=tz)
    # A wall-clock time in the spring-forward gap does not survive a round trip through UTC.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
        raise WhenError(f"{text!r} does not exist in {tz.key}: the clocks went forward then")
    return local
