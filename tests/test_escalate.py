"""Officers' one-step escalation: the service and the Escalate page, the referral and press queues."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.clock import frozen_at
from app.models import AuditEvent, Deadline, EvidenceFile, Incident, OnCallShift, OutboxMessage, Report
from app.services import InvalidInput, ServiceError
from app.services.escalation import Attachment, PressReport, TagReport, escalate_press, escalate_tag
from app.timing import LONDON
from tests.conftest import csrf_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TAG_URL = "https://x.com/angry_registrar/status/1860000000000000001?s=20"
# A Tuesday in term time, 11:00 UK time: office hours.
TUESDAY_11 = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
# The same Tuesday at 22:00 UK time: outside office hours.
TUESDAY_22 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _registry(app):  # type: ignore[no-untyped-def]
    return app.extensions["breachdesk.workflows"]


def _folder(app):  # type: ignore[no-untyped-def]
    return app.config["BREACHDESK"].evidence_path


def _outbox(db) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(db.scalars(select(OutboxMessage.to_address)).all())


def _counts(db) -> tuple[int, int, int, int, int]:  # type: ignore[no-untyped-def]
    return tuple(db.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                 for model in (Incident, Report, EvidenceFile, OutboxMessage, AuditEvent))


# --- the service --------------------------------------------------------------------------------


def test_tag_opens_refers_to_the_director_and_tells_them_at_once(app, db, make):
    officer = make.user("officer")
    director = make.user("director_of_comms")
    make.user("press_office")
    result = escalate_tag(db, _registry(app), TagReport(platform="x", link=TAG_URL, text="@DrX explain yourself"),
                          actor=officer, folder=_folder(app),
                          files=[Attachment(filename="shot.png", data=PNG)])
    db.commit()
    incident = db.get(Incident, result.incident.id)
    assert incident.workflow_key == "antagonistic-tag"
    assert incident.state == "referred_to_director"  # the referral step was taken for the officer
    assert result.handed_on and not result.joined
    assert [r.channel for r in incident.reports] == ["officer"]
    assert incident.posts[0].platform_post_id == "1860000000000000001"
    assert [e.original_name for e in incident.evidence_files] == ["shot.png"]
    assert len(incident.evidence_files[0].sha256) == 64
    # The Director (and only the Director) has an e-mail waiting, written in the same transaction.
    assert _outbox(db) == [director.email]
    assert result.notified == [director.email]


def test_the_same_tag_reported_twice_joins_the_first_incident(app, db, make):
    first, second = make.user("officer"), make.user("officer")
    director = make.user("director_of_comms")
    one = escalate_tag(db, _registry(app), TagReport(platform="x", link=TAG_URL), actor=first, folder=_folder(app))
    db.commit()
    again = escalate_tag(db, _registry(app),
                         TagReport(platform="x", link="https://twitter.com/Angry_Registrar/status/1860000000000000001"),
                         actor=second, folder=_folder(app))
    db.commit()
    assert again.joined and again.incident.id == one.incident.id
    assert db.scalar(select(func.count()).select_from(Incident)) == 1
    assert [r.channel for r in db.get(Incident, one.incident.id).reports] == ["officer", "officer"]
    assert _outbox(db) == [director.email, director.email]  # told again that a second officer reported it


def test_press_forwards_with_the_journalists_deadline_in_office_hours(app, db, make):
    officer = make.user("officer")
    press_one, press_two = make.user("press_office"), make.user("press_office")
    make.user("director_of_comms")
    with frozen_at(TUESDAY_11):
        due = TUESDAY_11 + timedelta(hours=5)
        result = escalate_press(db, _registry(app), PressReport(
            outlet="The Evening Courier", journalist="Jo Reporter", deadline=due, contact_method="phone",
            asked="Does the College back the trust's waiting-list figures?"),
            actor=officer, folder=_folder(app), now=TUESDAY_11)
        db.commit()
    incident = db.get(Incident, result.incident.id)
    assert incident.workflow_key == "press-referral" and incident.state == "forwarded_to_press_office"
    assert incident.fields["outlet"] == "The Evening Courier"
    assert datetime.fromisoformat(incident.fields["journalist_deadline"]) == due
    journalist = db.scalar(select(Deadline).where(Deadline.incident_id == incident.id, Deadline.key == "journalist"))
    assert journalist is not None and journalist.due_at == due and journalist.status == "running"
    assert _outbox(db) == sorted([press_one.email, press_two.email])
    told = db.scalar(select(AuditEvent).where(AuditEvent.action == "press.notified"))
    assert told.data["why"].startswith("office hours")


def test_the_press_office_logging_an_approach_keeps_the_journalists_deadline(app, db, make):
    press = make.user("press_office")  # may open a referral but not take the officers' forwarding step
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    result = escalate_press(db, _registry(app), PressReport(outlet="Courier", journalist="Jo", deadline=due,
                                                            contact_method="phone", asked="Comment?"),
                            actor=press, folder=_folder(app))
    db.commit()
    incident = db.get(Incident, result.incident.id)
    assert incident.state == "approach_logged" and not result.handed_on
    assert incident.fields["outlet"] == "Courier"
    journalist = db.scalar(select(Deadline).where(Deadline.incident_id == incident.id, Deadline.key == "journalist"))
    assert journalist.due_at == due


def test_press_out_of_hours_goes_to_the_on_call_press_officer_only(app, db, make):
    officer = make.user("officer")
    on_call, other = make.user("press_office"), make.user("press_office")
    db.add(OnCallShift(duty="press", user_id=on_call.id, starts_at=TUESDAY_22 - timedelta(hours=5),
                       ends_at=TUESDAY_22 + timedelta(hours=10)))
    db.commit()
    with frozen_at(TUESDAY_22):
        result = escalate_press(db, _registry(app), PressReport(
            outlet="Radio Five", journalist="Sam Producer", contact_method="email", asked="Live interview at 7?"),
            actor=officer, folder=_folder(app), now=TUESDAY_22)
        db.commit()
    assert _outbox(db) == [on_call.email]
    assert other.email not in _outbox(db)
    assert "on-call" in result.why


def test_press_out_of_hours_with_nobody_on_call_tells_the_press_office_and_says_so(app, db, make):
    officer = make.user("officer")
    press_one = make.user("press_office")
    with frozen_at(TUESDAY_22):
        escalate_press(db, _registry(app), PressReport(outlet="Radio Five", journalist="Sam", contact_method="phone",
                                                       asked="Comment?"), actor=officer, folder=_folder(app),
                       now=TUESDAY_22)
        db.commit()
    assert _outbox(db) == [press_one.email]
    told = db.scalar(select(AuditEvent).where(AuditEvent.action == "press.notified"))
    assert "nobody on call" in told.data["why"]


@pytest.mark.parametrize(("report", "field"), [
    (TagReport(platform="x"), "link"),
    (TagReport(platform="x", link="not a link"), "link"),
    (TagReport(platform="myspace", text="hello"), "platform"),
    (PressReport(journalist="Jo", contact_method="phone", asked="?"), "outlet"),
    (PressReport(outlet="Courier", journalist="Jo", contact_method="pigeon", asked="?"), "contact_method"),
    (PressReport(outlet="Courier", journalist="Jo", contact_method="phone", asked=""), "asked"),
    (PressReport(outlet="Courier", journalist="Jo", contact_method="phone", asked="?",
                 deadline=datetime(2020, 1, 1, tzinfo=UTC)), "deadline"),
])
def test_bad_input_is_refused_with_the_field_and_nothing_stored(app, db, make, report, field):
    officer = make.user("officer")
    make.user("director_of_comms")
    before = _counts(db)
    call = escalate_tag if isinstance(report, TagReport) else escalate_press
    with pytest.raises(InvalidInput) as refused:
        call(db, _registry(app), report, actor=officer, folder=_folder(app))
    db.rollback()
    assert field in refused.value.fields
    assert _counts(db) == before


def test_a_file_that_is_not_what_it_says_is_refused_and_nothing_stored(app, db, make):
    officer = make.user("officer")
    before = _counts(db)
    with pytest.raises(InvalidInput, match="does not match"):
        escalate_tag(db, _registry(app), TagReport(platform="x", link=TAG_URL), actor=officer, folder=_folder(app),
                     files=[Attachment(filename="shot.png", data=b"%PDF-1.4 pretending")])
    db.rollback()
    assert _counts(db) == before


def test_a_role_that_may_not_open_either_workflow_is_refused(app, db, make):
    rep = make.user("rep")
    with pytest.raises(ServiceError, match="may not"):
        escalate_tag(db, _registry(app), TagReport(platform="x", link=TAG_URL), actor=rep, folder=_folder(app))


# --- the page -----------------------------------------------------------------------------------


def test_officer_escalates_a_tag_from_the_page(app, client, db, make, signed_in):
    director = make.user("director_of_comms")
    officer = signed_in("officer")
    page = client.get("/escalate")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "I was tagged in something antagonistic" in html and "A journalist contacted me" in html
    assert 'for="link"' in html and 'for="screenshot"' in html  # every input has a label
    token = csrf_token(client, "/escalate")
    response = client.post("/escalate", data={
        "csrf_token": token, "kind": "tag", "link": TAG_URL, "text": "<script>alert(1)</script> explain",
        "platform": "x", "screenshot": (io.BytesIO(PNG), "tag.png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/escalate/sent")
    done = client.get("/escalate/sent").get_data(as_text=True)
    assert "Do not reply" in done and "Director of Communications" in done
    incident = db.scalar(select(Incident))
    assert incident.created_by_id == officer.id and incident.state == "referred_to_director"
    assert incident.posts[0].text == "<script>alert(1)</script> explain"  # stored as typed
    assert _outbox(db) == [director.email]
    shown = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in shown and "&lt;script&gt;" in shown


def test_officer_reports_a_press_approach_from_the_page(app, client, db, make, signed_in):
    press = make.user("press_office")
    signed_in("officer")
    token = csrf_token(client, "/escalate?kind=press")
    due = (datetime.now(LONDON) + timedelta(days=2)).replace(hour=16, minute=30, second=0, microsecond=0)
    response = client.post("/escalate", data={
        "csrf_token": token, "kind": "press", "outlet": "The Evening Courier", "journalist": "Jo Reporter",
        "deadline": due.strftime("%Y-%m-%dT%H:%M"), "contact_method": "email", "asked": "A comment on exam fees?",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    incident = db.scalar(select(Incident))
    assert incident.state == "forwarded_to_press_office"
    deadline = db.scalar(select(Deadline).where(Deadline.key == "journalist"))
    assert deadline.due_at == due  # typed as UK time, stored as that moment
    assert _outbox(db) == [press.email]  # in or out of hours: nobody is on call, so the press office
    assert "Do not answer the journalist" in client.get("/escalate/sent").get_data(as_text=True)


def test_the_page_says_what_to_fix_and_stores_nothing(app, client, db, make, signed_in):
    signed_in("officer")
    before = _counts(db)
    token = csrf_token(client, "/escalate?kind=press")
    response = client.post("/escalate", data={"csrf_token": token, "kind": "press", "journalist": "Jo",
                                              "deadline": "tomorrow", "contact_method": "", "asked": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was sent yet" in html
    assert "Give the outlet" in html and "Choose how they contacted you" in html
    assert "Give what they asked you" in html
    assert 'value="Jo"' in html  # what was typed is kept
    assert _counts(db)[:4] == before[:4]


def test_a_bad_deadline_is_refused_on_the_page(app, client, db, make, signed_in):
    signed_in("officer")
    token = csrf_token(client, "/escalate?kind=press")
    response = client.post("/escalate", data={"csrf_token": token, "kind": "press", "outlet": "Courier",
                                              "journalist": "Jo", "deadline": "31/02/2026", "contact_method": "phone",
                                              "asked": "?"})
    assert response.status_code == 400
    assert "give the deadline as a date and a time" in response.get_data(as_text=True).lower()
    assert db.scalar(select(func.count()).select_from(Incident)) == 0


def test_roles_without_either_workflow_cannot_escalate(app, client, signed_in):
    signed_in("rep")
    assert client.get("/escalate").status_code == 403


# --- the queues ---------------------------------------------------------------------------------


def test_director_queue_lists_referrals_with_their_decisions(app, client, db, make, signed_in):
    officer = make.user("officer")
    escalate_tag(db, _registry(app), TagReport(platform="x", link=TAG_URL), actor=officer, folder=_folder(app))
    escalate_press(db, _registry(app), PressReport(title="Press approach by e-mail: Courier", asked="Comment?"),
                   actor=officer, folder=_folder(app))  # as mail-in opens it: not forwarded yet
    db.commit()
    signed_in("director_of_comms")
    html = client.get("/referrals").get_data(as_text=True)
    assert "Press approach by e-mail: Courier" in html
    assert "Waiting for: Forward to the press office (Communications team, Officer, Administrator)" in html
    assert "Officer tagged on X (Twitter)" in html
    assert "Record assessment" in html  # the step open to the Director now…
    for decision in ("Monitor", "Respond for the College", "Block and report", "Open a harassment complaint",
                     "Open a problem-solving case"):
        assert decision in html  # …and the decisions it leads to
    assert "ago" in html
    incident = db.scalar(select(Incident).where(Incident.workflow_key == "antagonistic-tag"))
    link = f"/incidents/{incident.id}?decide=assess#step-assess"
    assert link in html
    step = client.get(link.split("#")[0]).get_data(as_text=True)
    assert 'id="step-assess" open' in step


def test_press_queue_orders_by_the_journalists_deadline(app, client, db, make, signed_in):
    officer = make.user("officer")
    make.user("press_office")
    registry, folder = _registry(app), _folder(app)
    now = datetime.now(UTC)
    for outlet, hours in (("Later Gazette", 30), ("Soon Times", 2), ("No Deadline Weekly", None)):
        escalate_press(db, registry, PressReport(outlet=outlet, journalist="J", contact_method="phone", asked="?",
                                                 deadline=now + timedelta(hours=hours) if hours else None),
                       actor=officer, folder=folder)
    db.commit()
    signed_in("press_office")
    html = client.get("/press").get_data(as_text=True)
    order = [html.index(name) for name in ("Soon Times", "Later Gazette", "No Deadline Weekly")]
    assert order == sorted(order)
    assert "left" in html and "None given" in html
    assert client.get("/referrals").status_code == 403  # the press office has its own queue


def test_queues_are_refused_to_other_roles(app, client, signed_in):
    signed_in("officer")
    assert client.get("/referrals").status_code == 403
    assert client.get("/press").status_code == 403
