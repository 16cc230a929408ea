"""POST /api/v1/incidents/{id}/transitions: through take_transition, with optimistic locking."""

from __future__ import annotations

from sqlalchemy import select

from app.models import AuditEvent, Incident
from tests.api.conftest import audit_count


def _setup(api_as, open_case, db):  # type: ignore[no-untyped-def]
    comms = api_as("comms", team="communications")
    incident = open_case("problem-solving", comms.user, team=comms.user.team)
    return comms, incident.id


def test_take_a_transition(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    response = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "triage", "version": 1, "comment": "Looks like 2.8",
        "data": {"clauses": ["rcr:2.8"], "severity": "high", "deliberate": True}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "triaged" and body["version"] == 2 and body["severity"] == "high"
    assert body["clauses"] == ["rcr:2.8"]
    assert body["field_values"]["severity"] == "high" and body["field_values"]["deliberate"] is True
    assert "start_informal_discussion" in body["available_transitions"]
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "incident.transition")).one()
    assert (event.actor_id, event.from_state, event.to_state, event.transition, event.comment) == (
        comms.user.id, "reported", "triaged", "triage", "Looks like 2.8")


def test_a_stale_version_gets_409_and_nothing_is_written(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    ok = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "triage", "version": 1, "data": {"clauses": ["rcr:2.8"], "severity": "low"}})
    assert ok.status_code == 200
    before = audit_count(db)
    stale = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "close_no_breach", "version": 1, "comment": "Someone else already triaged"})
    assert stale.status_code == 409
    assert stale.get_json()["error"] == "version_conflict" and "version 2" in stale.get_json()["message"]
    assert audit_count(db) == before
    fresh = db.get(Incident, iid)
    assert (fresh.state, fresh.version, fresh.closed_at) == ("triaged", 2, None)


def test_not_possible_now_is_422(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    response = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "resolve_informally", "version": 1, "comment": "done"})
    assert response.status_code == 422
    assert response.get_json()["error"] == "transition_not_allowed"
    assert "cannot be taken now" in response.get_json()["message"]
    assert db.get(Incident, iid).state == "reported"
    refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "authorisation.refused")).all()
    assert len(refused) == 1  # as the web app records it


def test_invalid_fields_are_422_with_fields(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    before = audit_count(db)
    response = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "triage", "version": 1, "data": {"clauses": ["rcr:99"], "severity": "enormous", "mood": "x"}})
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {"clauses", "severity", "mood"}
    assert "unknown clause" in fields["clauses"] and "choose one of" in fields["severity"]
    missing = comms.post(f"/api/v1/incidents/{iid}/transitions", json={"transition": "triage", "version": 1})
    assert missing.status_code == 422 and set(missing.get_json()["fields"]) == {"clauses", "severity"}
    no_comment = comms.post(f"/api/v1/incidents/{iid}/transitions",
                            json={"transition": "close_no_breach", "version": 1})
    assert no_comment.status_code == 422 and no_comment.get_json()["fields"] == {"comment": "required"}
    assert audit_count(db) == before and db.get(Incident, iid).version == 1


def test_guard_failure_is_422(db, api_as, open_case):
    director = api_as("director_of_comms", team="communications")
    iid = open_case("problem-solving", director.user, team=director.user.team).id
    director.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "triage", "version": 1, "data": {"clauses": ["rcr:2.8"], "severity": "low"}})
    # a fresh incident with no clauses cannot be escalated (guard has_clauses)
    bare = open_case("problem-solving", director.user, team=director.user.team).id
    db.get(Incident, bare).state = "triaged"
    db.commit()
    response = director.post(f"/api/v1/incidents/{bare}/transitions", json={
        "transition": "escalate_to_formal", "version": 1, "comment": "serious"})
    assert response.status_code == 422 and "not possible yet" in response.get_json()["message"]


def test_unknown_transition_is_422(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    response = comms.post(f"/api/v1/incidents/{iid}/transitions", json={"transition": "fly", "version": 1})
    assert response.status_code == 422 and response.get_json()["fields"] == {"transition": "not a step of this workflow"}


def test_a_role_the_transition_is_not_for_gets_403_and_is_audited(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    db.get(Incident, iid).state = "triaged"
    db.commit()
    response = comms.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "escalate_to_formal", "version": 1, "comment": "serious"})
    assert response.status_code == 403 and "may not take" in response.get_json()["message"]
    refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "authorisation.refused")).one()
    assert refused.actor_id == comms.user.id and refused.transition == "escalate_to_formal"
    assert db.get(Incident, iid).state == "triaged"


def test_unknowable_incident_is_404_and_restricted_is_403_for_admin(db, api_as, make, open_case):
    comms, iid = _setup(api_as, open_case, db)
    rep = api_as("rep", team="reps-north")
    assert rep.post(f"/api/v1/incidents/{iid}/transitions",
                    json={"transition": "triage", "version": 1}).status_code == 404
    assert rep.post("/api/v1/incidents/424242/transitions", json={"transition": "triage", "version": 1}
                    ).status_code == 404
    director = make.user("director_of_comms", team="communications")
    restricted = open_case("problem-solving", director, restricted=True).id
    admin = api_as("admin")
    response = admin.post(f"/api/v1/incidents/{restricted}/transitions",
                          json={"transition": "close_no_breach", "version": 1, "comment": "x"})
    assert response.status_code == 403 and response.get_json()["error"] == "break_glass_required"
    assert db.get(Incident, restricted).state == "reported"


def test_body_problems_are_400(db, api_as, open_case):
    comms, iid = _setup(api_as, open_case, db)
    path = f"/api/v1/incidents/{iid}/transitions"
    for body, field in (({"transition": "triage"}, "version"), ({"version": 1}, "transition"),
                        ({"transition": "triage", "version": "1"}, "version"),
                        ({"transition": "triage", "version": 0}, "version"),
                        ({"transition": "triage", "version": True}, "version"),
                        ({"transition": "triage", "version": 1, "state": "closed"}, "state"),
                        ({"transition": "triage", "version": 1, "data": {"severity": {"a": 1}}}, "data.severity"),
                        ({"transition": "triage", "version": 1, "data": []}, "data")):
        response = comms.post(path, json=body)
        assert response.status_code == 400 and field in response.get_json()["fields"], (body, response.get_json())
    assert db.get(Incident, iid).version == 1



def test_a_date_that_puts_a_deadline_beyond_the_calendar_is_422_not_500(db, api_as, open_case):
    rep = api_as("rep", team="reps-north")
    iid = open_case("employment-tribunal", rep.user, assignee=rep.user, team=rep.user.team).id
    response = rep.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "record_trigger", "version": 1, "data": {"effective_date_of_termination": "9999-12-31"}})
    assert response.status_code == 422 and "between 1900 and 2100" in response.get_json()["message"]
    assert db.get(Incident, iid).version == 1
    ok = rep.post(f"/api/v1/incidents/{iid}/transitions", json={
        "transition": "record_trigger", "version": 1, "data": {"effective_date_of_termination": "2026-10-30"}})
    assert ok.status_code == 200 and ok.get_json()["state"] == "limitation_running"
    assert "limitation" in [d["key"] for d in ok.get_json()["deadlines"]]
