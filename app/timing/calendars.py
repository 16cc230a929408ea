"""UK working-day calendars.

A deadline such as "5 working days" means different dates in different parts of the UK because
each jurisdiction has its own bank holidays, and an organisation may also close on days that are
not bank holidays (a Christmas shutdown, say).  :class:`WorkingCalendar` combines the two.

Bank holidays come from the ``holidays`` library (``holidays.UnitedKingdom``), including the
substitute ("observed") days that apply when a holiday falls on a weekend, so Mon 27 Dec 2022 and
Mon 2 Jan 2023 are non-working in England and Wales.  Lookups are cached per (region, year)
because :meth:`WorkingCalendar.is_working_day` sits in the innermost loop of every deadline
calculation.

This module is deliberately free of Flask and SQLAlchemy so it can be used (and tested) anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import holidays

__all__ = ["CALENDAR_NAMES", "UnknownCalendar", "WorkingCalendar", "get_calendar"]

#: The calendars we know, in the order they should be offered to users.
CALENDAR_NAMES: tuple[str, ...] = ("england-and-wales", "scotland", "northern-ireland")

# Our calendar names -> ISO 3166-2 subdivision codes used by holidays.UnitedKingdom.
_SUBDIVISIONS: dict[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}

_ONE_DAY = timedelta(days=1)


class UnknownCalendar(ValueError):
    """Raised for a calendar name we do not know; the message lists the ones we do."""

    def __init__(self, name: object) -> None:
        self.name = name
        known = ", ".join(CALENDAR_NAMES)
        super().__init__(f"unknown calendar {name!r}; use one of: {known}")


@cache
def _holiday_table(subdivision: str, year: int) -> tuple[tuple[date, str], ...]:
    """Bank holidays (including substitute days) for one region and year, sorted by date.

    Cached because building a ``holidays`` object costs far more than a set lookup, and the
    answer for a given (region, year) never changes while the process runs.
    """
    table = holidays.UnitedKingdom(subdiv=subdivision, years=year)
    # Filter on the year: we cache per year, so a day from a neighbouring year must not leak in.
    return tuple(sorted((day, name) for day, name in table.items() if day.year == year))


@cache
def _holiday_dates(subdivision: str, year: int) -> frozenset[date]:
    """Just the dates of :func:`_holiday_table`, as a frozenset for O(1) membership tests."""
    return frozenset(day for day, _ in _holiday_table(subdivision, year))


@dataclass(frozen=True)
class WorkingCalendar:
    """A UK jurisdiction's bank holidays plus the organisation's own closure days.

    ``name`` is one of :data:`CALENDAR_NAMES`.  ``closures`` are extra non-working days (e.g. the
    days between Christmas and New Year when the office shuts); they matter only if they fall on
    a weekday that is not already a bank holiday.
    """

    name: str
    closures: frozenset[date] = frozenset()
    _subdivision: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        subdivision = _SUBDIVISIONS.get(self.name) if isinstance(self.name, str) else None
        if subdivision is None:
            raise UnknownCalendar(self.name)
        object.__setattr__(self, "_subdivision", subdivision)
        # Accept any iterable of dates from callers but store an immutable, hashable set.
        if not isinstance(self.closures, frozenset):
            object.__setattr__(self, "closures", frozenset(self.closures))

    def is_working_day(self, d: date) -> bool:
        """True for Monday to Friday, unless it is a bank holiday or an organisation closure."""
        return d.weekday() < 5 and d not in _holiday_dates(self._subdivision, d.year) and d not in self.closures

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d`` (``d`` itself never counts)."""
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The date ``n`` working days from ``d``.

        "N working days from D" counts the N working days *after* D: D itself is day 0, whether
        or not it is a working day, so a request made on a Friday with 1 working day to answer is
        due on Monday (given no bank holiday).  ``n == 0`` means "by the end of the working day":
        D if D is a working day, otherwise the next working day.  A negative ``n`` counts back:
        the |n|-th working day before D.
        """
        if n == 0:
            return d if self.is_working_day(d) else self.next_working_day(d)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b``; negative if ``b`` is before ``a``.

        This is the inverse of :meth:`add_working_days` for ``n >= 1``:
        ``working_days_between(d, add_working_days(d, n)) == n``.  Both ends are therefore
        treated the way "N working days from D" treats them: ``a`` is day 0 and is not counted.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        d = a
        while d < b:
            d += _ONE_DAY
            if self.is_working_day(d):
                count += 1
        return count

    def holidays_in(self, year: int) -> dict[date, str]:
        """Bank holidays in ``year`` with their names, in date order, for display.

        Includes holidays that fall on a weekend alongside their substitute days (named
        "... (observed)").  Organisation closures are not bank holidays and are not included; see
        :attr:`closures`.
        """
        return dict(_holiday_table(self._subdivision, year))


def get_calendar(name: str, closures: Iterable[date] = ()) -> WorkingCalendar:
    """The working calendar called ``name`` with the organisation's ``closures`` added.

    Raises :class:`UnknownCalendar` (a ``ValueError``) naming the bad name and the known ones.
    """
    return WorkingCalendar(name=name, closures=frozenset(closures))
