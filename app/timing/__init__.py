"""UK deadline arithmetic: working-day calendars and duration phrases.

Pure Python (no Flask, no SQLAlchemy).  Typical use::

    from app.timing import due_at, get_calendar, parse_duration

    due = due_at(opened_at, parse_duration("5 working days"), get_calendar("scotland"))
"""

from app.timing.calendars import CALENDAR_NAMES, UnknownCalendar, WorkingCalendar, get_calendar
from app.timing.durations import (
    DEFAULT_HOURS,
    LONDON,
    MAX_AMOUNT,
    Duration,
    DurationError,
    DurationUnit,
    WhenError,
    WorkingHours,
    due_at,
    due_date,
    parse_duration,
    parse_when,
)

__all__ = [
    "CALENDAR_NAMES",
    "DEFAULT_HOURS",
    "LONDON",
    "MAX_AMOUNT",
    "Duration",
    "DurationError",
    "DurationUnit",
    "UnknownCalendar",
    "WhenError",
    "WorkingCalendar",
    "WorkingHours",
    "due_at",
    "due_date",
    "get_calendar",
    "parse_duration",
    "parse_when",
]
