"""Duration phrases and due moments across bank holidays, closures and BST/GMT.

Expected values were worked out by hand from printed calendars and the gov.uk bank holiday
lists.  London is on GMT (UTC+0) until 29 Mar 2026 01:00 UTC and from 25 Oct 2026 01:00 UTC, and
on BST (UTC+1) in between, so 17:00 London is 17:00Z in winter and 16:00Z in summer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.timing import (
    DEFAULT_HOURS,
    MAX_AMOUNT,
    Duration,
    DurationError,
    WhenError,
    WorkingHours,
    due_at,
    due_date,
    get_calendar,
    parse_duration,
    parse_when,
)

EW = "england-and-wales"
SC = "scotland"
NI = "northern-ireland"
LONDON = ZoneInfo("Europe/London")
SHUTDOWN_2026 = (date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31))
NO_CLOSURES: tuple[date, ...] = ()
D = date
PLUS_2 = timezone(timedelta(hours=2))
NOT_ISO = "is not an ISO 8601 date or date-time, e.g. 2026-12-24 or 2026-12-24T10:30"
UNITS_HELP = "use working days, hours, business hours, days, weeks, months or 'N months less 1 day'"


def L(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:  # London wall-clock time
    return datetime(y, m, d, h, mi, tzinfo=LONDON)


def Z(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# parse_duration / Duration
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("5 working days", Duration(5, "working_days"), "5 working days"),
        ("1 working day", Duration(1, "working_days"), "1 working day"),
        ("1 working days", Duration(1, "working_days"), "1 working day"),
        ("0 working days", Duration(0, "working_days"), "0 working days"),
        ("24 hours", Duration(24, "hours"), "24 hours"),
        ("1 hour", Duration(1, "hours"), "1 hour"),
        ("8 business hours", Duration(8, "business_hours"), "8 business hours"),
        ("1 business hour", Duration(1, "business_hours"), "1 business hour"),
        ("28 days", Duration(28, "days"), "28 days"),
        ("1 day", Duration(1, "days"), "1 day"),
        ("6 weeks", Duration(6, "weeks"), "6 weeks"),
        ("1 week", Duration(1, "weeks"), "1 week"),
        ("1 month", Duration(1, "months"), "1 month"),
        ("12 months", Duration(12, "months"), "12 months"),
        ("3 months less 1 day", Duration(3, "months", 1), "3 months less 1 day"),
        ("1 month less 1 days", Duration(1, "months", 1), "1 month less 1 day"),
        ("3 Months Less 2 Days", Duration(3, "months", 2), "3 months less 2 days"),
        ("  5   WORKING   days  ", Duration(5, "working_days"), "5 working days"),
        ("5\tworking\ndays", Duration(5, "working_days"), "5 working days"),
        ("007 days", Duration(7, "days"), "7 days"),
        (f"{MAX_AMOUNT} hours", Duration(MAX_AMOUNT, "hours"), f"{MAX_AMOUNT} hours"),
    ],
)
def test_parse_duration_accepts(text: str, expected: Duration, canonical: str) -> None:
    parsed = parse_duration(text)
    assert parsed == expected
    assert str(parsed) == canonical
    assert parse_duration(str(parsed)) == parsed  # the canonical text round-trips


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5 fortnights", f"'5 fortnights': unknown unit 'fortnights'; {UNITS_HELP}"),
        ("5 working", f"'5 working': unknown unit 'working'; {UNITS_HELP}"),
        ("5 business days", f"'5 business days': unknown unit 'business days'; {UNITS_HELP}"),
        ("5", f"'5': missing unit; {UNITS_HELP}"),
        ("", "'': duration is empty; expected e.g. '5 working days'"),
        ("   ", "'   ': duration is empty; expected e.g. '5 working days'"),
        ("-5 days", "'-5 days': amount must be a whole number of 0 or more, not '-5'"),
        ("2.5 hours", "'2.5 hours': amount must be a whole number of 0 or more, not '2.5'"),
        ("+5 days", "'+5 days': amount must be a whole number of 0 or more, not '+5'"),
        ("five days", "'five days': amount 'five' is not a whole number"),
        ("1e3 days", "'1e3 days': amount '1e3' is not a whole number"),
        ("10001 days", "'10001 days': amount 10001 is too large (at most 10000)"),
        (
            "3 months less 1 week",
            "'3 months less 1 week': 'less' must be followed by a number of days, e.g. 'less 1 day', not '1 week'",
        ),
        (
            "3 months less 1 working day",
            "'3 months less 1 working day': 'less' must be followed by a number of days, "
            "e.g. 'less 1 day', not '1 working day'",
        ),
        ("3 months less", "'3 months less': 'less' must be followed by a number of days, e.g. 'less 1 day'"),
        ("3 months less one day", "'3 months less one day': days after 'less' 'one' is not a whole number"),
        (
            "3 months less -1 day",
            "'3 months less -1 day': days after 'less' must be a whole number of 0 or more, not '-1'",
        ),
        (
            "3 months less 1 day less 1 day",
            "'3 months less 1 day less 1 day': 'less' may appear only once, e.g. '3 months less 1 day'",
        ),
        (
            "28 days less 1 day",
            "'28 days less 1 day': 'less N days' only applies to months, e.g. '3 months less 1 day'",
        ),
        ("less 1 day", "'less 1 day': missing amount; expected e.g. '3 months less 1 day'"),
    ],
)
def test_parse_duration_rejects_with_a_message_naming_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_parse_duration_rejects_non_text() -> None:
    with pytest.raises(DurationError, match="must be text"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"amount": -1, "unit": "days"}, "amount must be a whole number"),
        ({"amount": True, "unit": "days"}, "amount must be a whole number"),
        ({"amount": 1.5, "unit": "days"}, "amount must be a whole number"),
        ({"amount": MAX_AMOUNT + 1, "unit": "days"}, "amount must be a whole number"),
        ({"amount": 1, "unit": "fortnights"}, "unknown unit 'fortnights'"),
        ({"amount": 1, "unit": "days", "less_days": 1}, "only applies to months"),
        ({"amount": 3, "unit": "months", "less_days": -1}, "less_days must be a whole number"),
    ],
)
def test_duration_validates_when_built_in_code(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(DurationError, match=fragment):
        Duration(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(5, "working_days"), "5 working days"),
        (Duration(1, "working_days"), "1 working day"),
        (Duration(1, "business_hours"), "1 business hour"),
        (Duration(3, "months", 1), "3 months less 1 day"),
        (Duration(3, "months", 2), "3 months less 2 days"),
        (Duration(1, "months"), "1 month"),
    ],
)
def test_duration_str_is_canonical(duration: Duration, text: str) -> None:
    assert str(duration) == text


# ---------------------------------------------------------------------------------------------
# due_at: every unit, every calendar
# ---------------------------------------------------------------------------------------------

DUE_AT_CASES = [
    # --- working days: local date of start is day 0, due 17:00 London ------------------------
    # Christmas 2026: Fri 25 and Mon 28 off, Fri 1 Jan 2027 off; Scotland also Mon 4 Jan.
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "1 working day", Z(2026, 12, 29, 17)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "5 working days", Z(2027, 1, 5, 17)),
    (SC, NO_CLOSURES, L(2026, 12, 24, 10), "5 working days", Z(2027, 1, 6, 17)),
    (NI, NO_CLOSURES, L(2026, 12, 24, 10), "5 working days", Z(2027, 1, 5, 17)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "0 working days", Z(2026, 12, 24, 17)),
    (EW, NO_CLOSURES, L(2026, 12, 26, 10), "0 working days", Z(2026, 12, 29, 17)),  # Sat
    # Christmas 2021 (Mon 27, Tue 28 off everywhere).
    (EW, NO_CLOSURES, L(2021, 12, 24), "1 working day", Z(2021, 12, 29, 17)),
    (SC, NO_CLOSURES, L(2021, 12, 24), "1 working day", Z(2021, 12, 29, 17)),
    (NI, NO_CLOSURES, L(2021, 12, 24), "1 working day", Z(2021, 12, 29, 17)),
    # Christmas 2022 (Mon 26, Tue 27 off; Mon 2 Jan 2023 off; Scotland also Tue 3 Jan).
    (EW, NO_CLOSURES, L(2022, 12, 23), "4 working days", Z(2023, 1, 3, 17)),
    (SC, NO_CLOSURES, L(2022, 12, 23), "4 working days", Z(2023, 1, 4, 17)),
    (NI, NO_CLOSURES, L(2022, 12, 23), "4 working days", Z(2023, 1, 3, 17)),
    # Christmas 2027 (Mon 27, Tue 28 off; Mon 3 Jan 2028 off; Scotland also Tue 4 Jan).
    (EW, NO_CLOSURES, L(2027, 12, 24), "4 working days", Z(2028, 1, 4, 17)),
    (SC, NO_CLOSURES, L(2027, 12, 24), "4 working days", Z(2028, 1, 5, 17)),
    # Easter 2026 (BST): Good Friday 3 Apr everywhere, Easter Monday 6 Apr not in Scotland.
    (EW, NO_CLOSURES, L(2026, 4, 2), "1 working day", Z(2026, 4, 7, 16)),
    (SC, NO_CLOSURES, L(2026, 4, 2), "1 working day", Z(2026, 4, 6, 16)),
    (NI, NO_CLOSURES, L(2026, 4, 2), "1 working day", Z(2026, 4, 7, 16)),
    # Scotland's 2 January (Fri 2 Jan 2026).
    (SC, NO_CLOSURES, L(2025, 12, 31), "1 working day", Z(2026, 1, 5, 17)),
    (EW, NO_CLOSURES, L(2025, 12, 31), "1 working day", Z(2026, 1, 2, 17)),
    # St Andrew's Day, Sun 30 Nov 2025 -> Mon 1 Dec substitute in Scotland.
    (SC, NO_CLOSURES, L(2025, 11, 28), "1 working day", Z(2025, 12, 2, 17)),
    (EW, NO_CLOSURES, L(2025, 11, 28), "1 working day", Z(2025, 12, 1, 17)),
    # St Patrick's Day, Tue 17 Mar 2026 (NI only).
    (NI, NO_CLOSURES, L(2026, 3, 16), "1 working day", Z(2026, 3, 18, 17)),
    (EW, NO_CLOSURES, L(2026, 3, 16), "1 working day", Z(2026, 3, 17, 17)),
    # Battle of the Boyne, Sun 12 Jul 2026 -> Mon 13 Jul in NI (BST).
    (NI, NO_CLOSURES, L(2026, 7, 6, 9), "5 working days", Z(2026, 7, 14, 16)),
    (EW, NO_CLOSURES, L(2026, 7, 6, 9), "5 working days", Z(2026, 7, 13, 16)),
    (SC, NO_CLOSURES, L(2026, 7, 6, 9), "5 working days", Z(2026, 7, 13, 16)),
    # Day 0 is the London date: 23:30Z Thu 9 Jul is 00:30 BST Fri 10 Jul.
    (EW, NO_CLOSURES, Z(2026, 7, 9, 23, 30), "1 working day", Z(2026, 7, 13, 16)),
    # Clocks change between start and due.
    (EW, NO_CLOSURES, L(2026, 3, 27, 10), "1 working day", Z(2026, 3, 30, 16)),  # GMT -> BST
    (EW, NO_CLOSURES, L(2026, 10, 23, 10), "1 working day", Z(2026, 10, 26, 17)),  # BST -> GMT
    # Organisation closure 29-31 Dec 2026.
    (EW, SHUTDOWN_2026, L(2026, 12, 24, 10), "1 working day", Z(2027, 1, 4, 17)),
    (SC, SHUTDOWN_2026, L(2026, 12, 24, 10), "1 working day", Z(2027, 1, 5, 17)),
    (NI, SHUTDOWN_2026, L(2026, 12, 24, 10), "2 working days", Z(2027, 1, 5, 17)),
    # --- hours: elapsed clock hours, holidays irrelevant -----------------------------------------
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "24 hours", Z(2026, 12, 25, 10)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "72 hours", Z(2026, 12, 27, 10)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "0 hours", Z(2026, 12, 24, 10)),
    (SC, NO_CLOSURES, L(2026, 3, 28, 12), "24 hours", Z(2026, 3, 29, 12)),  # 13:00 BST next day
    (NI, NO_CLOSURES, L(2026, 10, 24, 12), "24 hours", Z(2026, 10, 25, 11)),  # 11:00 GMT next day
    (EW, NO_CLOSURES, datetime(2026, 7, 1, 10, tzinfo=PLUS_2), "1 hour", Z(2026, 7, 1, 9)),
    # --- business hours: 09:00-17:00 London on working days ------------------------------------
    (EW, NO_CLOSURES, L(2026, 3, 6, 15), "4 business hours", Z(2026, 3, 9, 11)),  # Fri 2h + Mon 2h
    (EW, NO_CLOSURES, L(2026, 3, 7, 10), "8 business hours", Z(2026, 3, 9, 17)),  # Sat: Mon whole day
    (EW, NO_CLOSURES, L(2026, 3, 6, 18), "1 business hour", Z(2026, 3, 9, 10)),  # after hours Fri
    (EW, NO_CLOSURES, L(2026, 3, 6, 8), "1 business hour", Z(2026, 3, 6, 10)),  # before hours
    (EW, NO_CLOSURES, L(2026, 3, 2, 9), "16 business hours", Z(2026, 3, 3, 17)),
    (EW, NO_CLOSURES, L(2026, 3, 2, 9), "17 business hours", Z(2026, 3, 4, 10)),
    (EW, NO_CLOSURES, L(2026, 3, 7, 10), "0 business hours", Z(2026, 3, 9, 9)),
    (EW, NO_CLOSURES, L(2026, 3, 4, 11), "0 business hours", Z(2026, 3, 4, 11)),
    (EW, NO_CLOSURES, L(2026, 3, 6, 17), "0 business hours", Z(2026, 3, 6, 17)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 16), "2 business hours", Z(2026, 12, 29, 10)),
    (SC, NO_CLOSURES, L(2026, 12, 24, 16), "2 business hours", Z(2026, 12, 29, 10)),
    (NI, NO_CLOSURES, L(2026, 12, 24, 16), "2 business hours", Z(2026, 12, 29, 10)),
    (EW, SHUTDOWN_2026, L(2026, 12, 24, 16), "2 business hours", Z(2027, 1, 4, 10)),
    (SC, SHUTDOWN_2026, L(2026, 12, 24, 16), "2 business hours", Z(2027, 1, 5, 10)),
    (EW, NO_CLOSURES, L(2021, 12, 24), "8 business hours", Z(2021, 12, 29, 12)),
    (EW, NO_CLOSURES, L(2022, 12, 23), "8 business hours", Z(2022, 12, 28, 12)),
    (EW, NO_CLOSURES, L(2027, 12, 24), "8 business hours", Z(2027, 12, 29, 12)),
    (SC, NO_CLOSURES, L(2025, 12, 31, 16), "2 business hours", Z(2026, 1, 5, 10)),
    (EW, NO_CLOSURES, L(2025, 12, 31, 16), "2 business hours", Z(2026, 1, 2, 10)),
    (SC, NO_CLOSURES, L(2025, 11, 28, 16), "2 business hours", Z(2025, 12, 2, 10)),
    (NI, NO_CLOSURES, L(2024, 3, 15, 16), "9 business hours", Z(2024, 3, 19, 17)),  # Mon 18 off
    (NI, NO_CLOSURES, L(2026, 7, 10, 16), "2 business hours", Z(2026, 7, 14, 9)),  # 10:00 BST
    (EW, NO_CLOSURES, L(2026, 7, 10, 16), "2 business hours", Z(2026, 7, 13, 9)),
    (EW, NO_CLOSURES, L(2026, 3, 27, 16), "2 business hours", Z(2026, 3, 30, 9)),  # over the change
    (SC, NO_CLOSURES, L(2026, 4, 2, 16), "2 business hours", Z(2026, 4, 6, 9)),
    (EW, NO_CLOSURES, L(2026, 4, 2, 16), "2 business hours", Z(2026, 4, 7, 9)),
    (NI, NO_CLOSURES, L(2026, 4, 2, 16), "2 business hours", Z(2026, 4, 7, 9)),
    # --- days / weeks: calendar days, due 17:00 London, not moved off holidays ------------------
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "28 days", Z(2027, 1, 21, 17)),
    (SC, NO_CLOSURES, L(2026, 12, 24, 10), "28 days", Z(2027, 1, 21, 17)),
    (NI, SHUTDOWN_2026, L(2026, 12, 24, 10), "28 days", Z(2027, 1, 21, 17)),
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "1 day", Z(2026, 12, 25, 17)),  # Christmas Day itself
    (EW, NO_CLOSURES, L(2026, 12, 24, 10), "0 days", Z(2026, 12, 24, 17)),
    (SC, NO_CLOSURES, L(2025, 11, 28, 10), "2 days", Z(2025, 11, 30, 17)),  # a Sunday
    (EW, NO_CLOSURES, Z(2026, 7, 31, 23, 30), "1 day", Z(2026, 8, 2, 16)),  # day 0 is Sat 1 Aug
    (EW, NO_CLOSURES, L(2026, 3, 2, 10), "6 weeks", Z(2026, 4, 13, 16)),  # GMT start, BST due
    (NI, NO_CLOSURES, L(2026, 10, 20, 10), "1 week", Z(2026, 10, 27, 17)),  # BST start, GMT due
    (EW, NO_CLOSURES, L(2021, 12, 21, 10), "1 week", Z(2021, 12, 28, 17)),  # a substitute day
    # --- months: relativedelta clamps to month end, then "less N days" -------------------------
    (EW, NO_CLOSURES, L(2026, 5, 31), "3 months less 1 day", Z(2026, 8, 30, 16)),
    (EW, NO_CLOSURES, L(2026, 5, 31), "3 months less 2 days", Z(2026, 8, 29, 16)),
    (EW, NO_CLOSURES, L(2026, 11, 30), "3 months less 1 day", Z(2027, 2, 27, 17)),
    (SC, NO_CLOSURES, L(2026, 11, 28), "3 months less 1 day", Z(2027, 2, 27, 17)),
    (NI, NO_CLOSURES, L(2026, 12, 1), "3 months less 1 day", Z(2027, 2, 28, 17)),
    (EW, NO_CLOSURES, L(2026, 1, 15), "3 months less 1 day", Z(2026, 4, 14, 16)),
    (EW, NO_CLOSURES, L(2026, 3, 31), "1 month less 1 day", Z(2026, 4, 29, 16)),
    (EW, NO_CLOSURES, L(2026, 1, 31), "1 month", Z(2026, 2, 28, 17)),
    (EW, NO_CLOSURES, L(2024, 1, 31), "1 month", Z(2024, 2, 29, 17)),  # leap year
    (EW, NO_CLOSURES, L(2024, 2, 29), "12 months", Z(2025, 2, 28, 17)),
    (EW, NO_CLOSURES, L(2026, 8, 31), "6 months", Z(2027, 2, 28, 17)),
    (EW, NO_CLOSURES, L(2026, 9, 30), "1 month", Z(2026, 10, 30, 17)),  # after clocks go back
    (SC, NO_CLOSURES, L(2026, 12, 24, 10), "1 month", Z(2027, 1, 24, 17)),  # a Sunday, not moved
]


@pytest.mark.parametrize(("calendar", "closures", "start", "text", "expected"), DUE_AT_CASES)
def test_due_at(calendar: str, closures: tuple[date, ...], start: datetime, text: str, expected: datetime) -> None:
    result = due_at(start, parse_duration(text), get_calendar(calendar, closures))
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("hours", "start", "text", "expected"),
    [
        # 08:00-18:00: Fri 17-18 is one hour, Mon 08-09 the second.
        (WorkingHours(end_of_day=time(18), start_of_day=time(8)), L(2026, 3, 6, 17), "2 business hours",
         Z(2026, 3, 9, 9)),
        (WorkingHours(end_of_day=time(16, 30)), L(2026, 3, 6, 10), "1 working day", Z(2026, 3, 9, 16, 30)),
        (WorkingHours(end_of_day=time(16, 30)), L(2026, 7, 6, 10), "1 working day", Z(2026, 7, 7, 15, 30)),
        # A UTC working day: 23:30Z on 1 Jul is still 1 Jul (in London it is already 2 Jul).
        (WorkingHours(tz=ZoneInfo("UTC")), Z(2026, 7, 1, 23, 30), "0 working days", Z(2026, 7, 1, 17)),
        (DEFAULT_HOURS, Z(2026, 7, 1, 23, 30), "0 working days", Z(2026, 7, 2, 16)),
    ],
)  # fmt: skip
def test_due_at_with_other_working_hours(hours: WorkingHours, start: datetime, text: str, expected: datetime) -> None:
    assert due_at(start, parse_duration(text), get_calendar(EW), hours) == expected


def test_due_at_rejects_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 12, 24, 10), parse_duration("1 working day"), get_calendar(EW))


def test_working_hours_must_start_before_they_end() -> None:
    with pytest.raises(ValueError, match="must be before"):
        WorkingHours(end_of_day=time(9), start_of_day=time(17))


# ---------------------------------------------------------------------------------------------
# due_date: date-only starts (the CLI)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "closures", "start", "text", "expected"),
    [
        (EW, NO_CLOSURES, D(2026, 12, 24), "5 working days", D(2027, 1, 5)),
        (SC, NO_CLOSURES, D(2026, 12, 24), "5 working days", D(2027, 1, 6)),
        (EW, SHUTDOWN_2026, D(2026, 12, 24), "1 working day", D(2027, 1, 4)),
        (NI, NO_CLOSURES, D(2026, 7, 10), "1 working day", D(2026, 7, 14)),
        (SC, NO_CLOSURES, D(2025, 12, 31), "0 working days", D(2025, 12, 31)),
        (SC, NO_CLOSURES, D(2026, 1, 1), "0 working days", D(2026, 1, 5)),
        (SC, NO_CLOSURES, D(2026, 4, 2), "1 working day", D(2026, 4, 6)),
        (EW, NO_CLOSURES, D(2026, 4, 2), "1 working day", D(2026, 4, 7)),
        (EW, NO_CLOSURES, D(2026, 12, 24), "28 days", D(2027, 1, 21)),
        (EW, NO_CLOSURES, D(2026, 3, 2), "6 weeks", D(2026, 4, 13)),
        (EW, NO_CLOSURES, D(2026, 5, 31), "3 months less 1 day", D(2026, 8, 30)),
        (EW, NO_CLOSURES, D(2026, 11, 30), "3 months less 1 day", D(2027, 2, 27)),
        (NI, NO_CLOSURES, D(2026, 1, 31), "1 month", D(2026, 2, 28)),
    ],
)
def test_due_date(calendar: str, closures: tuple[date, ...], start: date, text: str, expected: date) -> None:
    assert due_date(start, parse_duration(text), get_calendar(calendar, closures)) == expected


@pytest.mark.parametrize(
    ("calendar", "closures", "start", "text", "expected"),
    [case for case in DUE_AT_CASES if "hour" not in case[3]],
)
def test_due_date_agrees_with_due_at_for_day_units(
    calendar: str, closures: tuple[date, ...], start: datetime, text: str, expected: datetime
) -> None:
    duration = parse_duration(text)
    cal = get_calendar(calendar, closures)
    local_start = start.astimezone(LONDON).date()
    assert due_date(local_start, duration, cal) == expected.astimezone(LONDON).date()


@pytest.mark.parametrize("text", ["24 hours", "8 business hours"])
def test_due_date_refuses_hour_units(text: str) -> None:
    with pytest.raises(DurationError) as info:
        due_date(D(2026, 12, 24), parse_duration(text), get_calendar(EW))
    assert str(info.value) == f"{text!r} is measured in hours; it needs a start time, not just a date"


def test_due_date_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match="due_at"):
        due_date(L(2026, 12, 24), parse_duration("1 day"), get_calendar(EW))


def test_due_date_beyond_the_calendar_is_a_duration_error() -> None:
    with pytest.raises(DurationError, match="beyond the supported dates"):
        due_date(D(9999, 12, 31), parse_duration("1 day"), get_calendar(EW))


# ---------------------------------------------------------------------------------------------
# parse_when
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24", D(2026, 12, 24)),
        ("  2026-12-24 ", D(2026, 12, 24)),
    ],
)
def test_parse_when_date(text: str, expected: date) -> None:
    parsed = parse_when(text)
    assert type(parsed) is date
    assert parsed == expected


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-24T10:30", Z(2026, 12, 24, 10, 30)),  # naive = London, GMT
        ("2026-07-01T10:30", Z(2026, 7, 1, 9, 30)),  # naive = London, BST
        ("2026-07-01T10:30+00:00", Z(2026, 7, 1, 10, 30)),
        ("2026-07-01T10:30Z", Z(2026, 7, 1, 10, 30)),
        ("2026-07-01T10:30:00+02:00", Z(2026, 7, 1, 8, 30)),
        ("2026-10-25T01:30", Z(2026, 10, 25, 0, 30)),  # happens twice: first (BST) occurrence
    ],
)
def test_parse_when_datetime(text: str, utc: datetime) -> None:
    parsed = parse_when(text)
    assert isinstance(parsed, datetime)
    assert parsed.tzinfo is not None
    # Compare in UTC: Python treats an ambiguous local time as unequal to every other zone's.
    assert parsed.astimezone(UTC) == utc


def test_parse_when_naive_datetime_uses_the_given_zone() -> None:
    parsed = parse_when("2026-07-01T10:30", tz=ZoneInfo("UTC"))
    assert parsed == Z(2026, 7, 1, 10, 30)
    naive_london = parse_when("2026-07-01T10:30")
    assert isinstance(naive_london, datetime)
    assert naive_london.tzinfo == LONDON


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'': expected an ISO 8601 date such as 2026-12-24 or 2026-12-24T10:30"),
        ("tomorrow", f"'tomorrow' {NOT_ISO}"),
        ("24/12/2026", f"'24/12/2026' {NOT_ISO}"),
        ("2026-02-30", f"'2026-02-30' {NOT_ISO}"),
        (
            "2026-03-29T01:30",
            "'2026-03-29T01:30' does not exist in Europe/London: the clocks went forward then",
        ),
    ],
)
def test_parse_when_rejects(text: str, message: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_when(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_ambiguous_local_start_counts_from_the_first_occurrence() -> None:
    # 01:30 on 25 Oct 2026 happens at 00:30Z (BST) and again at 01:30Z (GMT); we take the first.
    start = parse_when("2026-10-25T01:30")
    assert isinstance(start, datetime)
    assert due_at(start, parse_duration("1 hour"), get_calendar(EW)) == Z(2026, 10, 25, 1, 30)


def test_cli_style_round_trip() -> None:
    """What the CLI does: parse the start and the duration, then pick due_date or due_at."""
    cal = get_calendar(SC, closures=SHUTDOWN_2026)
    start = parse_when("2026-12-24")
    assert isinstance(start, date) and not isinstance(start, datetime)
    assert due_date(start, parse_duration("1 working day"), cal) == D(2027, 1, 5)
    moment = parse_when("2026-12-24T16:00")
    assert isinstance(moment, datetime)
    assert due_at(moment, parse_duration("2 business hours"), cal) == Z(2027, 1, 5, 10)
