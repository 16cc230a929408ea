"""Mass assignment and injection: forms take only what they declare; filters treat input as data."""

import re

import pytest

from app.models import Incident, User
from app.services.incidents import OpenRequest, open_incident
from tests.conftest import csrf_token

INJECTIONS = ["' OR 1=1 --", '" OR ""="', "%", "_", "*", "\\", "'; DROP TABLE incidents; --", "NEAR(a b)",
              "-excluded", '"phrase', "a OR b", "a AND NOT b", "()", "$$", "/* comment */", "\x00", "日本語",
              "' UNION SELECT password_hash FROM users --"]


@pytest.fixture
def some_incidents(app, db, signed_in):
    user = db.get(User, signed_in("comms", team="communications").id)
    registry = app.extensions["breachdesk.workflows"]
    for title in ("Alpha post", "Beta post", "100% rude"):
        open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title=title), actor=user)
    db.commit()
    return user


@pytest.mark.parametrize("value", INJECTIONS)
def test_filter_and_search_input_is_only_ever_data(client, some_incidents, value):
    for name in ("q", "state", "workflow", "status", "before"):
        response = client.get("/incidents", query_string={name: value, **({"status": "all"} if name != "status" else {})})
        assert response.status_code == 200, (name, value)
        html = response.get_data(as_text=True)
        if name == "q":
            # Search is by words: punctuation alone ("%", "*", "()") is never a wildcard and finds nothing;
            # a lone NUL is dropped, leaving an empty search that lists all three.
            expected = {"\x00": 3}.get(value, 0)
            assert len(re.findall(r'href="/incidents/\d+"', html)) == expected, value
    assert client.get("/incidents/export.csv", query_string={"q": value}).status_code == 200


def test_opening_an_incident_ignores_fields_the_form_does_not_declare(client, db, signed_in, make):
    signed_in("comms", team="communications")
    other = make.user("admin")
    token = csrf_token(client, "/incidents/new")
    response = client.post("/incidents/new", data={
        "csrf_token": token, "workflow": "problem-solving", "title": "Ordinary", "severity": "low",
        "calendar": "england-and-wales", "state": "resolved_informally", "assignee_id": other.id,
        "created_by_id": other.id, "version": "99", "reference": "BD-1999-99999", "side": "union",
        "closed_at": "2020-01-01", "workflow_version": "deadbeef",
    })
    assert response.status_code == 302
    incident = db.query(Incident).one()
    assert incident.state == "reported" and incident.version == 1 and incident.side == "college"
    assert incident.reference != "BD-1999-99999" and incident.closed_at is None
    assert incident.created_by_id != other.id and incident.assignee_id != other.id


def test_a_transition_ignores_undeclared_form_fields(client, app, db, signed_in):
    user = db.get(User, signed_in("comms", team="communications").id)
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="x"), actor=user)
    db.commit()
    token = csrf_token(client, f"/incidents/{incident.id}")
    client.post(f"/incidents/{incident.id}/transitions/triage", data={
        "triage-csrf_token": token, "triage-version": "1", "triage-f_severity": "low",
        "triage-f_clauses": "rcr:2.9", "triage-state": "resolved_informally", "state": "resolved_informally",
        "triage-f_restricted": "y", "restricted": "y", "assignee_id": "1"})
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    assert fresh.state == "triaged" and fresh.restricted is False
    assert "state" not in (fresh.fields or {}) and "restricted" not in (fresh.fields or {})


def test_an_unexpected_error_shows_no_stack_trace_or_configuration(tmp_path, database_url):
    from app import create_app

    app = create_app(instance_path=tmp_path, database_url=database_url, secret_key="do-not-show-me")

    @app.get("/boom")
    def boom():  # pragma: no cover - the handler is what is tested
        raise RuntimeError("internal detail: password=hunter2")

    response = app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong" in body
    for leak in ("Traceback", "RuntimeError", "hunter2", "do-not-show-me", database_url):
        assert leak not in body


def test_a_refused_transition_is_audited(client, app, db, signed_in, make):
    from app.models import AuditEvent

    comms = make.user("comms", team="communications")
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="x"), actor=comms)
    db.commit()
    director = signed_in("director_of_comms")
    token = csrf_token(client, f"/incidents/{incident.id}")
    client.post(f"/incidents/{incident.id}/transitions/escalate_to_formal",
                data={"escalate_to_formal-csrf_token": token, "escalate_to_formal-version": "1"})
    refused = db.query(AuditEvent).filter_by(action="authorisation.refused").one()
    assert refused.actor_id == director.id and refused.transition == "escalate_to_formal"
