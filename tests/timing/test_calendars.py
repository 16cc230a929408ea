"""Working calendars: bank holidays per UK jurisdiction, closures, and working-day counting.

Every expected date below was worked out by hand from a printed calendar and the published
gov.uk bank holiday lists, not copied from the code's output.
"""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from app.timing import CALENDAR_NAMES, UnknownCalendar, WorkingCalendar, get_calendar
from app.timing import calendars as calendars_module

EW = "england-and-wales"
SC = "scotland"
NI = "northern-ireland"
D = date

# The Christmas shutdown used in several tests: Tue 29 - Thu 31 Dec 2026.
SHUTDOWN_2026 = (D(2026, 12, 29), D(2026, 12, 30), D(2026, 12, 31))


def test_calendar_names() -> None:
    assert CALENDAR_NAMES == ("england-and-wales", "scotland", "northern-ireland")
    for name in CALENDAR_NAMES:
        assert get_calendar(name).name == name


@pytest.mark.parametrize(
    ("calendar", "day", "working"),
    [
        # --- Christmas / Boxing Day on a weekend: substitute Mondays and Tuesdays -----------
        # 2021: Christmas Sat, Boxing Day Sun -> Mon 27 and Tue 28 Dec off everywhere.
        (EW, D(2021, 12, 24), True),
        (EW, D(2021, 12, 27), False),
        (EW, D(2021, 12, 28), False),
        (EW, D(2021, 12, 29), True),
        (SC, D(2021, 12, 27), False),
        (SC, D(2021, 12, 28), False),
        (NI, D(2021, 12, 28), False),
        # 2022: Christmas Sun, Boxing Day Mon -> Tue 27 Dec is Christmas's substitute.
        (EW, D(2022, 12, 26), False),
        (EW, D(2022, 12, 27), False),
        (EW, D(2022, 12, 28), True),
        (SC, D(2022, 12, 27), False),
        (NI, D(2022, 12, 27), False),
        # 1 Jan 2023 is a Sunday -> Mon 2 Jan 2023 is the substitute day.
        (EW, D(2023, 1, 2), False),
        (EW, D(2023, 1, 3), True),
        (NI, D(2023, 1, 2), False),
        # 2026: Christmas Fri, Boxing Day Sat -> Mon 28 Dec is Boxing Day's substitute.
        (EW, D(2026, 12, 24), True),
        (EW, D(2026, 12, 25), False),
        (EW, D(2026, 12, 26), False),  # Saturday anyway
        (EW, D(2026, 12, 27), False),  # Sunday
        (EW, D(2026, 12, 28), False),
        (EW, D(2026, 12, 29), True),
        (SC, D(2026, 12, 28), False),
        (NI, D(2026, 12, 28), False),
        # 2027: Christmas Sat, Boxing Day Sun -> Mon 27 and Tue 28 Dec.
        (EW, D(2027, 12, 27), False),
        (EW, D(2027, 12, 28), False),
        (EW, D(2027, 12, 29), True),
        (SC, D(2027, 12, 28), False),
        (NI, D(2027, 12, 27), False),
        # --- Easter: Good Friday everywhere, Easter Monday not in Scotland ------------------
        (EW, D(2026, 4, 3), False),
        (SC, D(2026, 4, 3), False),
        (NI, D(2026, 4, 3), False),
        (EW, D(2026, 4, 6), False),
        (SC, D(2026, 4, 6), True),
        (NI, D(2026, 4, 6), False),
        (EW, D(2026, 4, 7), True),
        (EW, D(2025, 4, 18), False),
        (SC, D(2025, 4, 21), True),
        (NI, D(2025, 4, 21), False),
        # --- Scotland: 2 January, and substitutes when New Year falls on a weekend ----------
        (SC, D(2026, 1, 2), False),
        (EW, D(2026, 1, 2), True),
        (NI, D(2026, 1, 2), True),
        (SC, D(2025, 1, 2), False),
        (SC, D(2021, 1, 4), False),  # 2 Jan 2021 was a Saturday
        (EW, D(2021, 1, 4), True),
        (SC, D(2021, 1, 5), True),
        (SC, D(2022, 1, 3), False),  # 1 Jan 2022 Sat, 2 Jan Sun -> Mon 3 and Tue 4
        (SC, D(2022, 1, 4), False),
        (EW, D(2022, 1, 3), False),
        (EW, D(2022, 1, 4), True),
        (SC, D(2023, 1, 3), False),  # 1 Jan 2023 Sun -> Mon 2 (2 Jan itself) and Tue 3
        (EW, D(2023, 1, 3), True),
        (SC, D(2027, 1, 4), False),  # 2 Jan 2027 is a Saturday
        (EW, D(2027, 1, 4), True),
        # --- Scotland: St Andrew's Day, 30 November -----------------------------------------
        (SC, D(2026, 11, 30), False),  # Monday
        (EW, D(2026, 11, 30), True),
        (SC, D(2025, 12, 1), False),  # 30 Nov 2025 is a Sunday -> Monday substitute
        (EW, D(2025, 12, 1), True),
        (NI, D(2025, 12, 1), True),
        (SC, D(2025, 12, 2), True),
        # Scotland's summer holiday is the first Monday in August, E&W's the last.
        (SC, D(2026, 8, 3), False),
        (EW, D(2026, 8, 3), True),
        (SC, D(2026, 8, 31), True),
        (EW, D(2026, 8, 31), False),
        # --- Northern Ireland: St Patrick's Day and the Battle of the Boyne -----------------
        (NI, D(2026, 3, 17), False),
        (EW, D(2026, 3, 17), True),
        (SC, D(2026, 3, 17), True),
        (NI, D(2024, 3, 18), False),  # 17 Mar 2024 was a Sunday
        (NI, D(2026, 7, 13), False),  # 12 Jul 2026 is a Sunday -> Monday substitute
        (EW, D(2026, 7, 13), True),
        (SC, D(2026, 7, 13), True),
        (NI, D(2026, 7, 14), True),
        (NI, D(2025, 7, 14), False),  # 12 Jul 2025 was a Saturday
        (NI, D(2027, 7, 12), False),  # Monday
        (EW, D(2027, 7, 12), True),
        # --- ordinary days -------------------------------------------------------------------
        (EW, D(2026, 3, 2), True),  # Monday
        (EW, D(2026, 3, 6), True),  # Friday
        (EW, D(2026, 3, 7), False),  # Saturday
        (EW, D(2026, 3, 8), False),  # Sunday
    ],
)
def test_is_working_day(calendar: str, day: date, working: bool) -> None:
    assert get_calendar(calendar).is_working_day(day) is working


def test_closures_are_not_working_days() -> None:
    plain = get_calendar(EW)
    shut = get_calendar(EW, closures=SHUTDOWN_2026)
    for day in SHUTDOWN_2026:
        assert plain.is_working_day(day)
        assert not shut.is_working_day(day)
    assert shut.is_working_day(D(2026, 12, 24))
    assert shut.is_working_day(D(2027, 1, 4))


def test_closures_accept_any_iterable_and_calendar_is_hashable() -> None:
    from_list = get_calendar(SC, [D(2026, 12, 29)])
    from_generator = get_calendar(SC, (d for d in [D(2026, 12, 29)]))
    direct = WorkingCalendar(SC, {D(2026, 12, 29)})  # type: ignore[arg-type]
    assert from_list == from_generator == direct
    assert isinstance(direct.closures, frozenset)
    assert len({from_list, from_generator, direct}) == 1
    assert get_calendar(SC) != from_list


@pytest.mark.parametrize(
    ("calendar", "closures", "start", "n", "expected"),
    [
        # D is day 0: the N working days AFTER D are counted.
        (EW, (), D(2026, 3, 2), 1, D(2026, 3, 3)),  # Mon -> Tue
        (EW, (), D(2026, 3, 2), 5, D(2026, 3, 9)),  # Mon -> next Mon
        (EW, (), D(2026, 3, 6), 1, D(2026, 3, 9)),  # Fri -> Mon
        (EW, (), D(2026, 3, 7), 1, D(2026, 3, 9)),  # Sat -> Mon
        (EW, (), D(2026, 3, 8), 1, D(2026, 3, 9)),  # Sun -> Mon
        (EW, (), D(2026, 3, 2), 20, D(2026, 3, 30)),  # four clear weeks, no holidays
        # n = 0: D itself if working, else the next working day.
        (EW, (), D(2026, 3, 2), 0, D(2026, 3, 2)),
        (EW, (), D(2026, 3, 7), 0, D(2026, 3, 9)),
        (EW, (), D(2026, 12, 25), 0, D(2026, 12, 29)),
        # Christmas 2026: Fri 25 and Mon 28 off; 1 Jan 2027 is a Friday.
        (EW, (), D(2026, 12, 24), 1, D(2026, 12, 29)),
        (EW, (), D(2026, 12, 24), 5, D(2027, 1, 5)),  # 29, 30, 31, 4, 5
        (SC, (), D(2026, 12, 24), 5, D(2027, 1, 6)),  # 29, 30, 31, (4 Jan off), 5, 6
        (NI, (), D(2026, 12, 24), 5, D(2027, 1, 5)),
        # Christmas 2021: Mon 27 and Tue 28 off; Scotland also off Mon 3 and Tue 4 Jan 2022.
        (EW, (), D(2021, 12, 24), 1, D(2021, 12, 29)),
        (SC, (), D(2021, 12, 24), 1, D(2021, 12, 29)),
        (NI, (), D(2021, 12, 24), 1, D(2021, 12, 29)),
        (EW, (), D(2021, 12, 24), 4, D(2022, 1, 4)),  # 29, 30, 31, (3 Jan off), 4
        (SC, (), D(2021, 12, 24), 4, D(2022, 1, 5)),  # 29, 30, 31, (3, 4 Jan off), 5
        # Christmas 2022: Mon 26 and Tue 27 off, then Mon 2 Jan 2023 (and Tue 3 in Scotland).
        (EW, (), D(2022, 12, 23), 1, D(2022, 12, 28)),
        (EW, (), D(2022, 12, 23), 4, D(2023, 1, 3)),
        (SC, (), D(2022, 12, 23), 4, D(2023, 1, 4)),
        (NI, (), D(2022, 12, 23), 4, D(2023, 1, 3)),
        # Christmas 2027: Mon 27 and Tue 28 off; 1 Jan 2028 Sat -> Mon 3 (and Tue 4 in Scotland).
        (EW, (), D(2027, 12, 24), 1, D(2027, 12, 29)),
        (EW, (), D(2027, 12, 24), 4, D(2028, 1, 4)),
        (SC, (), D(2027, 12, 24), 4, D(2028, 1, 5)),
        (NI, (), D(2027, 12, 24), 4, D(2028, 1, 4)),
        # Easter 2026 (Good Friday 3 Apr, Easter Monday 6 Apr).
        (EW, (), D(2026, 4, 2), 1, D(2026, 4, 7)),
        (SC, (), D(2026, 4, 2), 1, D(2026, 4, 6)),
        (NI, (), D(2026, 4, 2), 1, D(2026, 4, 7)),
        # Easter 2025 (Good Friday 18 Apr, Easter Monday 21 Apr).
        (EW, (), D(2025, 4, 17), 2, D(2025, 4, 23)),
        (SC, (), D(2025, 4, 17), 2, D(2025, 4, 22)),
        (NI, (), D(2025, 4, 17), 2, D(2025, 4, 23)),
        # New Year 2026: Scotland also has Fri 2 Jan.
        (EW, (), D(2025, 12, 31), 1, D(2026, 1, 2)),
        (SC, (), D(2025, 12, 31), 1, D(2026, 1, 5)),
        (NI, (), D(2025, 12, 31), 1, D(2026, 1, 2)),
        # New Year 2021: 2 Jan was a Saturday, so Scotland is off Mon 4 Jan.
        (EW, (), D(2020, 12, 31), 1, D(2021, 1, 4)),
        (SC, (), D(2020, 12, 31), 1, D(2021, 1, 5)),
        # St Andrew's Day: Sun 30 Nov 2025 -> Mon 1 Dec; Mon 30 Nov 2026.
        (SC, (), D(2025, 11, 28), 1, D(2025, 12, 2)),
        (EW, (), D(2025, 11, 28), 1, D(2025, 12, 1)),
        (NI, (), D(2025, 11, 28), 1, D(2025, 12, 1)),
        (SC, (), D(2026, 11, 27), 1, D(2026, 12, 1)),
        (EW, (), D(2026, 11, 27), 1, D(2026, 11, 30)),
        # St Patrick's Day: Tue 17 Mar 2026; Sun 17 Mar 2024 -> Mon 18 Mar.
        (NI, (), D(2026, 3, 16), 1, D(2026, 3, 18)),
        (EW, (), D(2026, 3, 16), 1, D(2026, 3, 17)),
        (SC, (), D(2026, 3, 16), 1, D(2026, 3, 17)),
        (NI, (), D(2024, 3, 15), 1, D(2024, 3, 19)),
        (EW, (), D(2024, 3, 15), 1, D(2024, 3, 18)),
        # Battle of the Boyne: Sun 12 Jul 2026 -> Mon 13; Sat 12 Jul 2025 -> Mon 14.
        (NI, (), D(2026, 7, 10), 1, D(2026, 7, 14)),
        (EW, (), D(2026, 7, 10), 1, D(2026, 7, 13)),
        (SC, (), D(2026, 7, 10), 1, D(2026, 7, 13)),
        (NI, (), D(2025, 7, 11), 1, D(2025, 7, 15)),
        # Organisation closure 29-31 Dec 2026 on top of the bank holidays.
        (EW, SHUTDOWN_2026, D(2026, 12, 24), 1, D(2027, 1, 4)),
        (EW, SHUTDOWN_2026, D(2026, 12, 24), 2, D(2027, 1, 5)),
        (NI, SHUTDOWN_2026, D(2026, 12, 24), 1, D(2027, 1, 4)),
        (SC, SHUTDOWN_2026, D(2026, 12, 24), 1, D(2027, 1, 5)),  # Mon 4 Jan is off in Scotland
        (EW, SHUTDOWN_2026, D(2026, 12, 29), 0, D(2027, 1, 4)),
        # Negative n counts back.
        (EW, (), D(2026, 12, 29), -1, D(2026, 12, 24)),
        (SC, (), D(2026, 1, 5), -1, D(2025, 12, 31)),
    ],
)
def test_add_working_days(calendar: str, closures: tuple[date, ...], start: date, n: int, expected: date) -> None:
    assert get_calendar(calendar, closures).add_working_days(start, n) == expected


@pytest.mark.parametrize(
    ("calendar", "a", "b", "expected"),
    [
        (EW, D(2026, 3, 2), D(2026, 3, 2), 0),
        (EW, D(2026, 3, 2), D(2026, 3, 3), 1),
        (EW, D(2026, 3, 6), D(2026, 3, 8), 0),  # Fri -> Sun: no working day after Friday yet
        (EW, D(2026, 3, 7), D(2026, 3, 9), 1),  # Sat -> Mon
        (EW, D(2026, 12, 24), D(2026, 12, 29), 1),
        (EW, D(2026, 12, 24), D(2027, 1, 5), 5),
        (SC, D(2026, 12, 24), D(2027, 1, 5), 4),  # Mon 4 Jan is off in Scotland
        (EW, D(2027, 1, 5), D(2026, 12, 24), -5),
        (SC, D(2025, 11, 28), D(2025, 12, 2), 1),
        (EW, D(2025, 11, 28), D(2025, 12, 2), 2),
        (NI, D(2026, 7, 10), D(2026, 7, 17), 4),  # 14, 15, 16, 17 (13th off)
        (EW, D(2026, 7, 10), D(2026, 7, 17), 5),
    ],
)
def test_working_days_between(calendar: str, a: date, b: date, expected: int) -> None:
    assert get_calendar(calendar).working_days_between(a, b) == expected


@pytest.mark.parametrize("calendar", CALENDAR_NAMES)
@pytest.mark.parametrize("start", [D(2021, 12, 24), D(2025, 11, 29), D(2026, 3, 27), D(2027, 12, 31)])
@pytest.mark.parametrize("n", [1, 2, 5, 10, 30])
def test_working_days_between_inverts_add_working_days(calendar: str, start: date, n: int) -> None:
    cal = get_calendar(calendar, closures=SHUTDOWN_2026)
    assert cal.working_days_between(start, cal.add_working_days(start, n)) == n


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (EW, D(2026, 3, 2), D(2026, 3, 3)),  # strictly after a working day
        (EW, D(2026, 3, 6), D(2026, 3, 9)),
        (EW, D(2021, 12, 24), D(2021, 12, 29)),
        (SC, D(2026, 12, 24), D(2026, 12, 29)),
        (SC, D(2025, 12, 31), D(2026, 1, 5)),
        (NI, D(2026, 7, 11), D(2026, 7, 14)),
    ],
)
def test_next_working_day(calendar: str, day: date, expected: date) -> None:
    assert get_calendar(calendar).next_working_day(day) == expected


@pytest.mark.parametrize(
    ("calendar", "year", "expected"),
    [
        (
            EW,
            2026,
            {
                D(2026, 1, 1), D(2026, 4, 3), D(2026, 4, 6), D(2026, 5, 4), D(2026, 5, 25),
                D(2026, 8, 31), D(2026, 12, 25), D(2026, 12, 26), D(2026, 12, 28),
            },
        ),
        (
            SC,
            2025,
            {
                D(2025, 1, 1), D(2025, 1, 2), D(2025, 4, 18), D(2025, 5, 5), D(2025, 5, 26),
                D(2025, 8, 4), D(2025, 11, 30), D(2025, 12, 1), D(2025, 12, 25), D(2025, 12, 26),
            },
        ),
        (
            NI,
            2025,
            {
                D(2025, 1, 1), D(2025, 3, 17), D(2025, 4, 18), D(2025, 4, 21), D(2025, 5, 5),
                D(2025, 5, 26), D(2025, 7, 12), D(2025, 7, 14), D(2025, 8, 25), D(2025, 12, 25),
                D(2025, 12, 26),
            },
        ),
    ],
)  # fmt: skip
def test_holidays_in_lists_the_years_bank_holidays(calendar: str, year: int, expected: set[date]) -> None:
    found = get_calendar(calendar).holidays_in(year)
    assert set(found) == expected
    assert list(found) == sorted(found)  # in date order, for display


def test_holidays_in_names_and_is_a_copy() -> None:
    cal = get_calendar(EW, closures=SHUTDOWN_2026)
    names = cal.holidays_in(2026)
    assert names[D(2026, 12, 25)] == "Christmas Day"
    assert "Boxing Day" in names[D(2026, 12, 28)]
    assert "observed" in names[D(2026, 12, 28)]
    assert D(2026, 12, 29) not in names  # closures are not bank holidays
    names.clear()
    assert cal.holidays_in(2026)  # the cache was not emptied through the returned dict


def test_scotland_names_st_andrews_substitute() -> None:
    names = get_calendar(SC).holidays_in(2025)
    assert "Andrew" in names[D(2025, 11, 30)]
    assert "Andrew" in names[D(2025, 12, 1)]


@pytest.mark.parametrize("bad", ["wales", "England-and-Wales", "", "ENG", "uk"])
def test_unknown_calendar_names_the_bad_name_and_lists_known(bad: str) -> None:
    with pytest.raises(UnknownCalendar) as info:
        get_calendar(bad)
    message = str(info.value)
    assert message == (f"unknown calendar {bad!r}; use one of: england-and-wales, scotland, northern-ireland")
    assert isinstance(info.value, ValueError)


def test_working_calendar_constructor_checks_the_name_too() -> None:
    with pytest.raises(UnknownCalendar, match="'narnia'"):
        WorkingCalendar("narnia")


def test_holiday_lookups_are_cached_per_region_and_year() -> None:
    cal = get_calendar(NI)
    cal.is_working_day(D(2031, 6, 2))  # warm (2031, NIR)
    caches = (calendars_module._holiday_dates, calendars_module._holiday_table)
    before = [cache.cache_info().misses for cache in caches]
    for day in range(1, 29):
        cal.is_working_day(D(2031, 2, day))
        get_calendar(NI).is_working_day(D(2031, 7, day))
    assert [cache.cache_info().misses for cache in caches] == before


def test_timing_package_imports_no_web_or_database_code() -> None:
    package = Path(calendars_module.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & {"flask", "sqlalchemy", "flask_sqlalchemy"}, source.name
