"""Content removal from triage: the request records who was asked (and how), and "Verify removal" needs a fresh
capture (something captured after removal was requested) showing the post gone. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import frozen_at
from app.models import Incident, User
from app.services.evidence import capture_file
from app.services.incidents import OpenRequest, PostInput, open_incident, take_transition
from app.workflow import TransitionNotAllowed
from tests.conftest import csrf_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def _requested(app, db, actor: User) -> Incident:
    """A content removal with its post captured at opening, removal requested an hour later."""
    registry = app.extensions["breachdesk.workflows"]
    with frozen_at(START):
        incident = open_incident(db, registry, OpenRequest(
            workflow_key="content-removal", title="Story shows a patient label",
            post=PostInput(platform="instagram", url="https://www.instagram.com/p/AbC123/", text="Look at this")),
            actor=actor)
        # A screenshot taken before the request is not proof of removal either.
        capture_file(db, incident, actor=actor, filename="before.png", stream=io.BytesIO(PNG + b"before"),
                     folder=app.config["BREACHDESK"].evidence_path)
    with frozen_at(START + timedelta(hours=1)):
        take_transition(db, registry, incident, "request_removal", actor=actor,
                        values={"requested_via": "email", "asked_who": "Dr Sam Rads, the author"})
    db.commit()
    return incident


def test_verifying_without_a_fresh_capture_is_refused_and_allowed_after_one(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    incident = _requested(app, db, comms)
    with frozen_at(START + timedelta(hours=2)), pytest.raises(TransitionNotAllowed) as refused:
        take_transition(db, registry, incident, "verify_removed", actor=comms)
    assert "Add a fresh capture first" in refused.value.reason
    db.rollback()
    assert db.get(Incident, incident.id).state == "awaiting_compliance"

    with frozen_at(START + timedelta(hours=3)):
        capture_file(db, incident, actor=comms, filename="gone.png", stream=io.BytesIO(PNG + b"gone"),
                     folder=app.config["BREACHDESK"].evidence_path, description="The post's page says it is gone")
        take_transition(db, registry, incident, "verify_removed", actor=comms)
    db.commit()
    assert db.get(Incident, incident.id).state == "verified_removed"


def test_the_web_form_refuses_verifying_without_a_fresh_capture_with_the_reason(app, db, client, signed_in):
    comms = db.get(User, signed_in("comms", team="communications").id)
    incident = _requested(app, db, comms)
    response = client.post(f"/incidents/{incident.id}/transitions/verify_removed", data={
        "verify_removed-csrf_token": csrf_token(client, f"/incidents/{incident.id}"),
        "verify_removed-version": str(incident.version), "verify_removed-comment": "Looks gone."},
        follow_redirects=True)
    assert "Add a fresh capture first" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, incident.id).state == "awaiting_compliance"


def test_a_removal_request_records_who_was_asked_and_shows_it(app, db, client, signed_in):
    comms = db.get(User, signed_in("comms", team="communications").id)
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(
        workflow_key="content-removal", title="Story shows a patient label",
        post=PostInput(platform="instagram", url="https://www.instagram.com/p/XyZ789/", text="Look at this")),
        actor=comms)
    db.commit()
    page = f"/incidents/{incident.id}"
    form = {"request_removal-csrf_token": csrf_token(client, page),
            "request_removal-version": str(incident.version), "request_removal-f_requested_via": "email"}
    refused = client.post(f"{page}/transitions/request_removal", data=form)
    assert "Who was asked" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, incident.id).state == "evidence_captured"

    response = client.post(f"{page}/transitions/request_removal",
                           data={**form, "request_removal-f_asked_who": "Dr Sam Rads (samrads), the author"})
    assert response.status_code == 302
    db.expire_all()
    stored = db.get(Incident, incident.id)
    assert stored.state == "awaiting_compliance"
    assert stored.fields["asked_who"] == "Dr Sam Rads (samrads), the author"
    html = client.get(page).get_data(as_text=True)
    assert "Who was asked" in html and "Dr Sam Rads (samrads), the author" in html
