"""The on-call rule (pure, with fixed clocks) and the administrators' rota page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, OnCallShift, User
from app.services.rota import OfficeHours, covering, in_office_hours, press_recipients
from app.timing import get_calendar
from tests.conftest import csrf_token

LONDON = ZoneInfo("Europe/London")
HOURS = OfficeHours(opens=time(9, 0), closes=time(17, 0), zone=LONDON,
                    calendar=get_calendar("england-and-wales", closures=[date(2026, 12, 29)]))


def uk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


def _user(name: str, *, active: bool = True) -> User:
    return User(email=f"{name}@example.org", name=name, role="press_office", password_hash="x", active=active)


def _shift(user: User, starts: datetime, ends: datetime, duty: str = "press") -> OnCallShift:
    return OnCallShift(duty=duty, user=user, user_id=1, starts_at=starts, ends_at=ends)


PRESS = [_user("press-a"), _user("press-b")]
ON_CALL = _user("on-call")
WEEKEND_SHIFT = _shift(ON_CALL, uk(2026, 11, 27, 17, 0), uk(2026, 11, 30, 9, 0))


@pytest.mark.parametrize(("moment", "inside"), [
    (uk(2026, 11, 24, 9, 0), True),     # Tuesday, opening time
    (uk(2026, 11, 24, 16, 59), True),
    (uk(2026, 11, 24, 17, 0), False),   # closing time is outside
    (uk(2026, 11, 24, 8, 59), False),
    (uk(2026, 11, 28, 11, 0), False),   # Saturday
    (uk(2026, 12, 25, 11, 0), False),   # Christmas Day
    (uk(2026, 12, 28, 11, 0), False),   # Boxing Day (substitute Monday)
    (uk(2026, 12, 29, 11, 0), False),   # the organisation's closure day
    (uk(2026, 7, 1, 8, 30), False),     # summer time: 08:30 BST is 07:30 UTC
    (uk(2026, 7, 1, 16, 30), True),
])
def test_office_hours(moment, inside):
    assert in_office_hours(moment, HOURS) is inside
    assert in_office_hours(moment.astimezone(UTC), HOURS) is inside  # whatever zone the clock gives


def test_inside_office_hours_the_press_office_is_told_even_with_someone_on_call():
    weekday_shift = _shift(ON_CALL, uk(2026, 11, 24, 8, 0), uk(2026, 11, 24, 20, 0))
    chosen = press_recipients(uk(2026, 11, 24, 11, 0), HOURS, [weekday_shift], PRESS)
    assert chosen.users == PRESS and not chosen.on_call


def test_on_a_weekend_the_on_call_press_officer_is_told_instead():
    chosen = press_recipients(uk(2026, 11, 28, 11, 0), HOURS, [WEEKEND_SHIFT], PRESS)
    assert chosen.users == [ON_CALL] and chosen.on_call
    assert "on-call" in chosen.reason


def test_on_a_weekday_evening_the_on_call_press_officer_is_told():
    evening = _shift(ON_CALL, uk(2026, 11, 24, 17, 0), uk(2026, 11, 25, 9, 0))
    assert press_recipients(uk(2026, 11, 24, 23, 30), HOURS, [evening], PRESS).users == [ON_CALL]


def test_on_a_bank_holiday_with_nobody_on_call_the_press_office_is_told_and_the_reason_says_so():
    chosen = press_recipients(uk(2026, 12, 25, 11, 0), HOURS, [WEEKEND_SHIFT], PRESS)  # shift is another day
    assert chosen.users == PRESS and not chosen.on_call
    assert "nobody on call" in chosen.reason


def test_a_shift_covers_from_its_start_up_to_but_not_including_its_end():
    assert covering([WEEKEND_SHIFT], "press", uk(2026, 11, 27, 17, 0)) == [WEEKEND_SHIFT]
    assert covering([WEEKEND_SHIFT], "press", uk(2026, 11, 30, 9, 0)) == []
    assert covering([WEEKEND_SHIFT], "other-duty", uk(2026, 11, 28, 12, 0)) == []


def test_a_disabled_account_on_call_is_passed_over():
    gone = _shift(_user("left", active=False), uk(2026, 11, 27, 17, 0), uk(2026, 11, 30, 9, 0))
    chosen = press_recipients(uk(2026, 11, 28, 11, 0), HOURS, [gone], PRESS)
    assert chosen.users == PRESS and "nobody on call" in chosen.reason


# --- the rota page ------------------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def _shifts(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(OnCallShift))


def test_admin_adds_lists_and_removes_a_shift(app, client, db, make, signed_in):
    press = make.user("press_office", name="Pat Press")
    signed_in("admin")
    start = datetime.now(UTC) + timedelta(days=3)
    token = csrf_token(client, "/admin/rota")
    response = client.post("/admin/rota", data={"csrf_token": token, "duty": "press", "user": str(press.id),
                                                "starts_at": _local(start), "ends_at": _local(start + timedelta(hours=14)),
                                                "note": "Mobile 07700 900123"})
    assert response.status_code == 302
    html = client.get("/admin/rota").get_data(as_text=True)
    assert "Pat Press" in html and "Mobile 07700 900123" in html
    shift = db.scalar(select(OnCallShift))
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "rota.shift_added")) is not None
    response = client.post("/admin/rota/remove", data={"csrf_token": token, "shift_id": str(shift.id)})
    assert response.status_code == 302
    assert _shifts(db) == 0
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "rota.shift_removed")) is not None


@pytest.mark.parametrize(("case", "message"), [
    ("ends_before_start", "Must be after the start"),
    ("overlap", "overlaps Pat Press"),
    ("not_press", "is not in the press office"),
    ("no_times", "Give the date and time the shift starts"),
    ("past", "is in the past"),
])
def test_the_rota_page_refuses_bad_shifts_saying_why(app, client, db, make, signed_in, case, message):
    press = make.user("press_office", name="Pat Press")
    other_press = make.user("press_office", name="Sam Second")
    officer = make.user("officer")
    signed_in("admin")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    db.add(OnCallShift(duty="press", user_id=press.id, starts_at=start, ends_at=start + timedelta(hours=12)))
    db.commit()
    data = {"duty": "press", "user": str(other_press.id), "starts_at": _local(start + timedelta(hours=20)),
            "ends_at": _local(start + timedelta(hours=30))}
    if case == "ends_before_start":
        data["ends_at"] = _local(start + timedelta(hours=19))
    elif case == "overlap":
        data["starts_at"] = _local(start + timedelta(hours=6))
    elif case == "not_press":
        data["user"] = str(officer.id)
    elif case == "no_times":
        data["starts_at"] = ""
    elif case == "past":
        data["starts_at"], data["ends_at"] = _local(start - timedelta(days=10)), _local(start - timedelta(days=9))
    response = client.post("/admin/rota", data={"csrf_token": csrf_token(client, "/admin/rota"), **data})
    assert response.status_code in (400, 422)
    assert message in response.get_data(as_text=True)
    assert _shifts(db) == 1


def test_a_shift_that_has_started_cannot_be_removed(app, client, db, make, signed_in):
    press = make.user("press_office")
    signed_in("admin")
    now = datetime.now(UTC)
    db.add(OnCallShift(duty="press", user_id=press.id, starts_at=now - timedelta(hours=1),
                       ends_at=now + timedelta(hours=5)))
    db.commit()
    shift_id = db.scalar(select(OnCallShift.id))
    response = client.post("/admin/rota/remove", data={"csrf_token": csrf_token(client, "/admin/rota"),
                                                       "shift_id": str(shift_id)})
    assert response.status_code == 422
    assert "already started" in response.get_data(as_text=True)
    assert _shifts(db) == 1


def test_only_administrators_see_the_rota(app, client, signed_in):
    signed_in("press_office")
    assert client.get("/admin/rota").status_code == 404


def test_someone_on_call_who_has_left_the_press_office_is_passed_over():
    moved = _user("moved")
    moved.role = "comms"
    shift = _shift(moved, uk(2026, 11, 27, 17, 0), uk(2026, 11, 30, 9, 0))
    chosen = press_recipients(uk(2026, 11, 28, 11, 0), HOURS, [shift], PRESS)
    assert chosen.users == PRESS and "nobody on call" in chosen.reason
