"""The press fast lane: a press referral opened any way (the new-incident form, the API, Escalate, mail-in) tells
the press office at once, and outside office hours only the on-call press officer; the 'forward' deadline's breach
follows the rota too. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.clock import frozen_at
from app.models import AuditEvent, Deadline, Incident, OnCallShift, OutboxMessage
from app.services.sweep import run_sweep
from tests.api.conftest import Api, token_for
from tests.conftest import csrf_token, login

# A Tuesday in January (UK time is UTC): 11:00 is inside office hours, 22:00 outside.
TUESDAY_11 = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)
TUESDAY_22 = datetime(2027, 1, 12, 22, 0, tzinfo=UTC)
APPROACH = {"workflow": "press-referral", "title": "The Courier asks about waiting-list figures",
            "summary": "Jo Reporter rang the switchboard; deadline 18:00."}


def _outbox(db) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(OutboxMessage.to_address)).all())


def _press_office(db, make):
    on_call, other = make.user("press_office", name="On Call"), make.user("press_office", name="Off Duty")
    db.add(OnCallShift(duty="press", user_id=on_call.id, starts_at=TUESDAY_22 - timedelta(hours=6),
                       ends_at=TUESDAY_22 + timedelta(hours=10)))
    make.user("director_of_comms")
    db.commit()
    return on_call, other


def _api(app, db, make, role: str) -> Api:
    user = make.user(role, team="communications")
    return Api(app.test_client(), user, token_for(db, user))


def test_an_approach_opened_through_the_api_out_of_hours_tells_only_the_on_call_press_officer(app, db, make):
    on_call, other = _press_office(db, make)
    with frozen_at(TUESDAY_22):
        api = _api(app, db, make, "comms")
        response = api.post("/api/v1/incidents", json=APPROACH)
        assert response.status_code == 201, response.get_json()
    assert _outbox(db) == [on_call.email]
    told = db.scalar(select(AuditEvent).where(AuditEvent.action == "press.notified"))
    assert told.incident_id == response.get_json()["id"] and "on-call press officer (On Call)" in told.data["why"]


def test_an_approach_opened_through_the_api_in_office_hours_tells_the_whole_press_office(app, db, make):
    on_call, other = _press_office(db, make)
    with frozen_at(TUESDAY_11):
        response = _api(app, db, make, "comms").post("/api/v1/incidents", json=APPROACH)
        assert response.status_code == 201, response.get_json()
    assert _outbox(db) == sorted([on_call.email, other.email])


def test_an_approach_opened_on_the_new_incident_page_tells_the_press_office_at_once(app, db, make):
    on_call, other = _press_office(db, make)
    client = app.test_client()
    with frozen_at(TUESDAY_22):
        login(client, make.user("comms", team="communications"))
        response = client.post("/incidents/new", data={
            "csrf_token": csrf_token(client, "/incidents/new"), **APPROACH, "severity": "medium",
            "calendar": "england-and-wales"})
        assert response.status_code == 302, response.get_data(as_text=True)
    incident = db.scalar(select(Incident).where(Incident.workflow_key == "press-referral"))
    assert incident is not None
    assert _outbox(db) == [on_call.email]


def test_a_missed_forward_deadline_out_of_hours_tells_the_on_call_press_officer(app, db, make):
    """The 'forward' deadline (end of the working day) passes at 17:00; at 17:30 the office is shut, so its
    breach rule (notify: press_office) reaches the on-call press officer, not the whole press office."""
    on_call, other = _press_office(db, make)
    registry = app.extensions["breachdesk.workflows"]
    with frozen_at(TUESDAY_11):
        response = _api(app, db, make, "comms").post("/api/v1/incidents", json=APPROACH)
        assert response.status_code == 201
    db.execute(OutboxMessage.__table__.delete())
    db.commit()
    forward = db.scalar(select(Deadline).where(Deadline.key == "forward"))
    assert forward.due_at == datetime(2027, 1, 12, 17, 0, tzinfo=UTC)
    after = datetime(2027, 1, 12, 17, 30, tzinfo=UTC)
    with frozen_at(after):
        run_sweep(db, registry, after)
        db.commit()
    # The assignee (the comms user who opened it) hears it is overdue; of the press office only the one on call.
    press = {on_call.email, other.email}
    assert [address for address in _outbox(db) if address in press] == [on_call.email]
