"""The contributor role: may escalate (an antagonistic tag, a press approach) and read what they passed on,
nothing else. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.models import Incident, OutboxMessage, User
from app.services.incidents import OpenRequest, PostInput, open_incident
from tests.conftest import csrf_token

LONDON = ZoneInfo("Europe/London")
TAG_URL = "https://x.com/angry_registrar/status/1860000000000000002"


def _outbox(db) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(OutboxMessage.to_address)).all())


def test_a_contributor_escalates_a_tag_and_the_director_is_told(client, db, make, signed_in):
    director = make.user("director_of_comms")
    contributor = signed_in("contributor")
    page = client.get("/escalate")
    assert page.status_code == 200 and 'href="/escalate">Escalate</a>' in page.get_data(as_text=True)
    response = client.post("/escalate", data={
        "csrf_token": csrf_token(client, "/escalate"), "kind": "tag", "link": TAG_URL,
        "text": "Tagged in a pile-on about the exam results", "platform": "x"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/escalate/sent")
    incident = db.scalar(select(Incident))
    assert incident.workflow_key == "antagonistic-tag" and incident.created_by_id == contributor.id
    assert _outbox(db) == [director.email]
    # They may read what they passed on, but take none of its steps.
    shown = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert incident.reference in shown and 'class="transition' not in shown


def test_a_contributor_reports_a_press_approach_and_the_press_office_is_told(client, db, make, signed_in):
    press = make.user("press_office")
    signed_in("contributor")
    due = (datetime.now(LONDON) + timedelta(days=2)).replace(hour=16, minute=30, second=0, microsecond=0)
    response = client.post("/escalate", data={
        "csrf_token": csrf_token(client, "/escalate?kind=press"), "kind": "press", "outlet": "The Evening Courier",
        "journalist": "Jo Reporter", "deadline": due.strftime("%Y-%m-%dT%H:%M"), "contact_method": "email",
        "asked": "A comment on exam fees?"})
    assert response.status_code == 302, response.get_data(as_text=True)
    incident = db.scalar(select(Incident))
    assert incident.workflow_key == "press-referral" and incident.fields["journalist"] == "Jo Reporter"
    assert _outbox(db) == [press.email]


def test_a_contributor_sees_only_what_they_passed_on_and_opens_nothing_else(app, client, db, make, signed_in):
    registry = app.extensions["breachdesk.workflows"]
    signed_in("contributor")
    someone_elses = open_incident(db, registry, OpenRequest(
        workflow_key="antagonistic-tag", title="Another officer's tag",
        post=PostInput(platform="x", url="https://x.com/someone/status/42", text="nasty")),
        actor=make.user("officer"))
    breach = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A reported post"),
                           actor=db.get(User, make.user("comms", team="communications").id))
    db.commit()
    for incident in (someone_elses, breach):
        assert client.get(f"/incidents/{incident.id}").status_code == 404
    listing = client.get("/incidents?status=all").get_data(as_text=True)
    assert "Another officer's tag" not in listing and "A reported post" not in listing
    offered = client.get("/incidents/new").get_data(as_text=True)
    assert 'value="antagonistic-tag"' in offered and 'value="press-referral"' in offered
    assert 'value="problem-solving"' not in offered
    refused = client.post("/incidents/new", data={"csrf_token": csrf_token(client, "/incidents/new"),
                                                  "workflow": "problem-solving", "title": "Trying it on",
                                                  "severity": "medium", "calendar": "england-and-wales"})
    assert refused.status_code in (400, 403)
    assert db.scalar(select(Incident).where(Incident.title == "Trying it on")) is None
    assert client.get("/posts/new").status_code == 403
    assert client.get("/referrals").status_code in (403, 404)
