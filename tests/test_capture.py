"""The "Log a reported post" form, accepting and rejecting suggestions, repeat detection on the incident page
and the 4-hour removal path once patient information is confirmed. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditEvent,
    Deadline,
    EvidenceFile,
    Incident,
    Person,
    PersonFlag,
    Post,
    Report,
    SocialHandle,
)
from app.services.evidence import MAX_FILE_BYTES
from app.services.incidents import OpenRequest, PostInput, open_incident
from app.services.intake import UPHELD_BREACH
from tests.conftest import csrf_token, login

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
NHS_TEXT = "Saw this patient today, NHS 943 476 5919, disgraceful waiting times at St Elsewhere"
COUNTED = (Incident, Post, Report, EvidenceFile, Person, SocialHandle, AuditEvent)


def _counts(db) -> dict[str, int]:
    db.expire_all()
    return {model.__name__: db.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def _stored_files(app) -> list[str]:
    folder = app.config["BREACHDESK"].evidence_path
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _form(client, **overrides) -> dict:
    data = {
        "csrf_token": csrf_token(client, "/posts/new"),
        "channel": "member_report",
        "reporter": "A member in Leeds",
        "platform": "x",
        "url": "https://twitter.com/Dr_X/status/1234567890?s=20",
        "platform_post_id": "",
        "author_handle": "@Dr_X",
        "posted_at": "2026-07-01T14:30",
        "text": "Our trust's waiting list numbers are a fiddle.",
        "person": "",
        "subject_name": "Dr Xavier Example",
        "subject_role": "contributor",
        "handles-0-platform": "instagram",
        "handles-0-handle": "dr.x.example",
        "handles-1-platform": "",
        "handles-1-handle": "",
        "handles-2-platform": "",
        "handles-2-handle": "",
        "clauses": ["rcr:2.11"],
        "workflow": "problem-solving",
        "severity": "medium",
        "title": "",
        "files": [(PNG, "screenshot.png")],
    }
    data.update(overrides)
    if data.get("files"):  # bytes here: a parametrized BytesIO would be closed after its first use
        data["files"] = [(io.BytesIO(body) if isinstance(body, bytes) else body, name) for body, name in data["files"]]
    return {k: v for k, v in data.items() if v is not None}


def _post(client, data: dict):  # type: ignore[no-untyped-def]
    return client.post("/posts/new", data=data, content_type="multipart/form-data")


@pytest.fixture
def comms(signed_in):  # type: ignore[no-untyped-def]
    return signed_in("comms", team="communications")


# --- the capture form ----------------------------------------------------------------------------------


def test_logging_a_post_with_a_screenshot_opens_an_incident(app, db, client, comms) -> None:
    response = _post(client, _form(client))
    assert response.status_code == 302, response.get_data(as_text=True)
    incident_id = int(re.search(r"/incidents/(\d+)$", response.headers["Location"]).group(1))
    incident = db.get(Incident, incident_id)
    assert incident.workflow_key == "problem-solving" and incident.state == "reported"
    assert incident.title == "X (Twitter) post by Dr Xavier Example"
    assert [c.clause_key for c in incident.clauses] == ["rcr:2.11"]
    [post] = incident.posts
    assert post.url == "https://twitter.com/Dr_X/status/1234567890?s=20"
    assert post.url_key == "x.com/dr_x/status/1234567890" and post.platform_post_id == "1234567890"
    # 14:30 in London in July is 13:30 UTC.
    assert post.posted_at.replace(tzinfo=UTC) == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    assert post.text_sha256 == hashlib.sha256(post.text.encode()).hexdigest()
    [evidence] = incident.evidence_files
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest() and evidence.content_type == "image/png"
    assert evidence.captured_by_id == comms.id and evidence.original_name == "screenshot.png"
    assert (app.config["BREACHDESK"].evidence_path / evidence.stored_name).read_bytes() == PNG
    [report] = incident.reports
    assert (report.channel, report.reporter, report.logged_by_id) == ("member_report", "A member in Leeds", comms.id)
    subject = incident.subject
    assert subject.name == "Dr Xavier Example" and subject.role == "contributor"
    # The post's own handle is recorded as one of the author's handles, with the ones typed.
    assert {(h.platform, h.handle) for h in subject.handles} == {("x", "@Dr_X"), ("instagram", "dr.x.example")}
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.incident_id == incident_id)).all()
    assert {"incident.opened", "evidence.added"} <= set(actions)

    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "opened: the post, its text and 1 file are stored with their SHA-256" in html
    assert evidence.sha256 in html


def test_a_post_can_be_logged_for_an_author_already_on_file(db, client, comms) -> None:
    registry = client.application.extensions["breachdesk.workflows"]
    author = Person(name="Known Author", role="officer")
    author.handles.append(SocialHandle(platform="x", handle="@known"))
    db.add(author)
    db.flush()
    open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Earlier", subject=author),
                  actor=db.merge(comms))
    hidden = Person(name="Union member nobody in comms may see", role="member")
    db.add(hidden)
    db.commit()
    form_html = client.get("/posts/new").get_data(as_text=True)
    assert "Known Author (officer): @known" in form_html
    assert "Union member nobody in comms may see" not in form_html
    response = _post(client, _form(client, person=str(author.id), subject_name="", **{"handles-0-handle": ""},
                                   url="https://x.com/known/status/2222222222", files=None))
    assert response.status_code == 302
    incident = db.get(Incident, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert incident.subject_id == author.id and incident.evidence_files == []
    # Someone the user may not see cannot be picked by typing their id.
    before = _counts(db)
    refused = _post(client, _form(client, person=str(hidden.id), url="https://x.com/known/status/3333333333"))
    assert refused.status_code == 422 and "Pick the author again" in refused.get_data(as_text=True)
    assert _counts(db) == before


def test_content_removal_can_be_chosen_and_the_author_may_be_unknown(db, client, comms) -> None:
    response = _post(client, _form(client, workflow="content-removal", subject_name="", author_handle="",
                                   **{"handles-0-handle": ""}, severity="high", clauses=[]))
    assert response.status_code == 302
    incident = db.get(Incident, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert incident.workflow_key == "content-removal" and incident.state == "evidence_captured"
    assert incident.subject is None and incident.severity == "high" and incident.clauses == []


@pytest.mark.parametrize(("overrides", "message"), [
    ({"url": ""}, "Give the post&#39;s address"),
    ({"url": "twitter.com/dr_x/status/1"}, "starting https://"),
    ({"url": "https://x.com/a post"}, "no spaces"),
    ({"posted_at": (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")}, "That time is in the future"),
    ({"posted_at": "yesterday"}, "Give the date and time"),
    ({"author_handle": "<script>alert(1)</script>"}, "has characters no platform allows"),
    ({"handles-0-handle": "dr x; drop"}, "has characters no platform allows"),
    ({"handles-0-platform": ""}, "Choose the platform of each"),
    ({"files": [(b"%PDF-1.7 not a png", "screenshot.png")]}, "which does not match its .png extension"),
    ({"files": [(PNG, "fine.png"), (b"<html><script>x</script>", "notes.txt")]}, "web page or SVG markup"),
    ({"files": [(PNG, "tool.exe")]}, "files of this type are not accepted"),
    ({"files": [(b"", "empty.png")]}, "is empty"),
    ({"subject_name": "", "handles-0-handle": "brand_new_handle"}, "Give the author&#39;s name"),
    ({"clauses": ["rcr:99.99"]}, "Unknown clause"),
])
def test_bad_input_is_refused_with_a_message_and_nothing_stored(app, db, client, comms, overrides: dict,
                                                                message: str) -> None:
    before, files_before = _counts(db), _stored_files(app)
    response = _post(client, _form(client, **overrides))
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert "Nothing was saved" in html
    summary = html.split("Nothing was saved")[1].split("</ul>")[0]
    assert message in summary, summary
    assert _counts(db) == before
    assert _stored_files(app) == files_before


def test_an_oversized_file_is_refused_and_nothing_stored(app, db, client, comms) -> None:
    before, files_before = _counts(db), _stored_files(app)
    big = PNG + b"\x00" * (MAX_FILE_BYTES - len(PNG) + 1)
    response = _post(client, _form(client, files=[(io.BytesIO(PNG), "small.png"), (io.BytesIO(big), "big.png")]))
    assert response.status_code == 422
    assert "&#39;big.png&#39; is larger than 20 MB" in response.get_data(as_text=True)
    assert _counts(db) == before and _stored_files(app) == files_before


def test_text_with_markup_is_stored_as_typed_and_shown_escaped(db, client, comms) -> None:
    text = "<script>alert('x')</script> <b>bold</b> & <img src=x onerror=alert(1)>"
    response = _post(client, _form(client, text=text, title="<i>title</i>"))
    assert response.status_code == 302
    incident = db.get(Incident, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert incident.posts[0].text == text and incident.title == "<i>title</i>"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(" not in html and "<img src=x" not in html and "<i>title</i>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html and "&lt;i&gt;title&lt;/i&gt;" in html


def test_the_same_post_logged_again_joins_the_existing_incident(app, db, client, comms) -> None:
    first = _post(client, _form(client))
    assert first.status_code == 302
    incident_id = int(first.headers["Location"].rsplit("/", 1)[1])
    before = _counts(db)
    again = _post(client, _form(client, url="https://x.com/dr_x/status/1234567890/", channel="monitoring",
                                reporter="Brandwatch", subject_name="Someone Else", **{"handles-0-handle": ""},
                                files=[(io.BytesIO(PNG + b"2"), "second.png")]))
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/incidents/{incident_id}")
    after = _counts(db)
    assert after["Incident"] == before["Incident"] and after["Post"] == before["Post"]
    assert after["Report"] == before["Report"] + 1 and after["Person"] == before["Person"]
    assert after["EvidenceFile"] == before["EvidenceFile"] + 1  # the second screenshot joins the file too
    incident = db.get(Incident, incident_id)
    assert [r.channel for r in incident.reports] == ["member_report", "monitoring"]
    assert db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "incident.reported_again",
                                                              AuditEvent.incident_id == incident_id)) == 1
    html = client.get(again.headers["Location"]).get_data(as_text=True)
    assert f"This post is already on file as {incident.reference}" in html
    assert "Reported by a member: A member in Leeds" in html and "Found by monitoring: Brandwatch" in html
    assert "The same post was reported 2 times" in html
    assert "logged a further report of the same post (Found by monitoring)" in html


def test_a_duplicate_from_someone_who_may_not_see_the_file_does_not_reveal_it(app, db, client, make) -> None:
    owner = make.user("comms", team="communications")
    owner_client = app.test_client()
    login(owner_client, owner)
    assert _post(owner_client, _form(owner_client, title="Secret title")).status_code == 302
    outsider = make.user("comms", team="regional-comms")
    login(client, outsider)
    again = _post(client, _form(client, url="https://x.com/DR_X/status/1234567890"))
    assert again.status_code == 302 and again.headers["Location"].endswith("/posts/new")
    html = client.get("/posts/new").get_data(as_text=True)
    assert "already been reported and is being handled" in html
    assert "Secret title" not in html and "BD-" not in html
    assert db.scalar(select(func.count(Incident.id))) == 1 and db.scalar(select(func.count(Report.id))) == 2


@pytest.mark.parametrize(("role", "status", "workflows"), [
    ("comms", 200, ["problem-solving", "content-removal"]),
    ("director_of_comms", 200, ["problem-solving"]),
    ("admin", 200, ["problem-solving", "content-removal"]),
    ("rep", 403, []),
    ("officer", 403, []),
    ("auditor", 403, []),
    ("press_office", 403, []),
])
def test_who_may_log_posts(client, signed_in, role: str, status: int, workflows: list[str]) -> None:
    signed_in(role, team="communications" if role == "comms" else None)
    response = client.get("/posts/new")
    assert response.status_code == status
    nav = client.get("/incidents").get_data(as_text=True)
    assert ('href="/posts/new">Log a post</a>' in nav) == (status == 200)
    if status == 200:
        html = response.get_data(as_text=True)
        offered = re.findall(r'<option (?:selected )?value="([a-z-]+)"', html.split('id="workflow"')[1].split("</select>")[0])
        assert offered == workflows


# --- suggestions: accept / reject ------------------------------------------------------------------------


def _nhs_incident(db, registry, actor, workflow: str = "problem-solving") -> Incident:
    incident = open_incident(db, registry, OpenRequest(
        workflow_key=workflow, title="Post with a patient's NHS number",
        post=PostInput(platform="x", url="https://x.com/a/status/5555555555", text=NHS_TEXT)), actor=actor)
    db.commit()
    return incident


def _decide(client, incident: Incident, key: str, accept: bool, version: int | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/incidents/{incident.id}")
    return client.post(f"/incidents/{incident.id}/suggestions/{'accept' if accept else 'reject'}",
                       data={"csrf_token": token, "suggestion": key,
                             "version": str(version if version is not None else incident.version)})


def test_suggestions_are_offered_and_accepting_cites_the_clause(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms))
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert 'aria-label="Accept: Cite rcr:2.8"' in html and 'aria-label="Reject: Raise severity to critical"' in html
    version = incident.version
    response = _decide(client, incident, "clause:rcr:2.8", accept=True)
    assert response.status_code == 302
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    assert [c.clause_key for c in fresh.clauses] == ["rcr:2.8"] and fresh.version == version + 1
    [row] = db.scalars(select(AuditEvent).where(AuditEvent.action == "suggestion.accepted")).all()
    assert row.incident_id == incident.id and row.data["cited"] == ["rcr:2.8"] and row.data["pii"] is True
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Accepted: Cite rcr:2.8." in html
    assert 'aria-label="Accept: Cite rcr:2.8"' not in html  # cited: no longer offered

    response = _decide(client, fresh, "severity:critical", accept=True)
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Incident, incident.id).severity == "critical"
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Every suggestion has been accepted or rejected." in html
    assert "accepted the suggestion <em>cite rcr:2.8</em>" in html
    assert "accepted the suggestion <em>severity critical</em>" in html


def test_rejecting_a_suggestion_records_it_and_it_is_not_offered_again(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms))
    response = _decide(client, incident, "severity:critical", accept=False)
    assert response.status_code == 302
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    assert fresh.severity == "medium" and fresh.clauses == []
    [row] = db.scalars(select(AuditEvent).where(AuditEvent.action == "suggestion.rejected")).all()
    assert row.data["suggestion"] == "severity:critical" and row.actor_id == comms.id
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Rejected: Raise severity to critical; it will not be suggested again." in html
    assert "Raise severity to critical" not in html.split("it will not be suggested again.")[1]
    assert 'aria-label="Accept: Cite rcr:2.8"' in html  # the other one is still open
    # Deciding it again is refused: it is no longer open.
    again = _decide(client, fresh, "severity:critical", accept=True)
    assert again.status_code == 302
    assert "That suggestion is no longer open" in client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, incident.id).severity == "medium"


def test_a_stale_page_changes_nothing(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms))
    stale = incident.version
    assert _decide(client, incident, "severity:critical", accept=False).status_code == 302
    db.expire_all()
    before = _counts(db)
    response = _decide(client, db.get(Incident, incident.id), "clause:rcr:2.8", accept=True, version=stale)
    assert response.status_code == 302
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "was changed by someone else while you were working on it" in html
    db.expire_all()
    assert db.get(Incident, incident.id).clauses == [] and _counts(db) == before


def test_only_people_who_triage_may_decide(app, db, client, make, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms))
    client = app.test_client()
    login(client, make.user("auditor"))
    token = csrf_token(client, "/incidents")
    response = client.post(f"/incidents/{incident.id}/suggestions/accept",
                           data={"csrf_token": token, "suggestion": "clause:rcr:2.8", "version": "1"})
    assert response.status_code == 404  # may not read the file at all
    client = app.test_client()
    login(client, make.user("press_office"))
    token = csrf_token(client, "/incidents")
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Accept: Cite rcr:2.8" in page  # press office triage college posts too
    client = app.test_client()
    login(client, make.user("rep"))
    response = client.post(f"/incidents/{incident.id}/suggestions/reject",
                           data={"csrf_token": csrf_token(client, "/incidents"), "suggestion": "clause:rcr:2.8"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Incident, incident.id).fields.get("_suggestion_decisions") is None


# --- the 4-hour removal path ------------------------------------------------------------------------------


def _request_removal_checkbox(html: str) -> str:
    return re.search(r'<input[^>]*name="request_removal-f_patient_info"[^>]*>', html).group(0)


def test_confirmed_patient_information_prefills_the_four_hour_removal(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms), workflow="content-removal")
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "checked" not in _request_removal_checkbox(html)  # a suggestion only, until someone confirms it
    assert _decide(client, incident, "clause:rcr:2.8", accept=True).status_code == 302
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "checked" in _request_removal_checkbox(html)
    token = csrf_token(client, f"/incidents/{incident.id}")
    response = client.post(f"/incidents/{incident.id}/transitions/request_removal", data={
        "request_removal-csrf_token": token, "request_removal-version": str(fresh.version),
        "request_removal-f_requested_via": "email", "request_removal-f_asked_who": "Dr X, the author",
        "request_removal-f_patient_info": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.expire_all()
    [deadline] = db.scalars(select(Deadline).where(Deadline.incident_id == incident.id)).all()
    assert deadline.key == "comply"
    assert deadline.due_at - deadline.started_at == timedelta(hours=4)


def test_rejected_patient_information_leaves_the_day_long_removal(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms), workflow="content-removal")
    assert _decide(client, incident, "clause:rcr:2.8", accept=False).status_code == 302
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "checked" not in _request_removal_checkbox(html)


# --- repeat detection on the incident page -----------------------------------------------------------------


def test_the_triage_page_lists_earlier_upheld_breaches_and_proposes_formal_action(app, db, client, make,
                                                                                   comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    actor = db.merge(comms)
    author = Person(name="Dr Repeat", role="contributor")
    author.handles.append(SocialHandle(platform="x", handle="@Dr_Repeat"))
    db.add(author)
    db.flush()
    earlier = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="The first breach",
                                                      subject=author), actor=actor)
    db.add(PersonFlag(person_id=author.id, incident_id=earlier.id, flag=UPHELD_BREACH))
    # The new post names no person: it is matched by its handle, written another way on another platform.
    current = open_incident(db, registry, OpenRequest(
        workflow_key="problem-solving", title="The second post",
        post=PostInput(platform="instagram", url="https://instagram.com/p/Abcdef123", author_handle="DR_repeat")),
        actor=actor)
    first_offence = open_incident(db, registry, OpenRequest(
        workflow_key="problem-solving", title="Someone new",
        post=PostInput(platform="x", url="https://x.com/new/status/123456789", author_handle="@newcomer")),
        actor=actor)
    db.commit()
    html = client.get(f"/incidents/{current.id}").get_data(as_text=True)
    assert "Earlier upheld breaches by this author (2.32 continued)" in html
    assert earlier.reference in html and "The first breach" in html
    assert "calls for <strong>formal action</strong>" in html
    assert "Record triage (tick" in html  # from "reported", escalation needs triage first
    assert 'href="/incidents/new?workflow=formal-action">Open a formal action case' in html
    assert "Earlier upheld breaches" not in client.get(f"/incidents/{first_offence.id}").get_data(as_text=True)

    # Once triaged, the Director of Communications is offered the workflow's own escalation step.
    client = app.test_client()
    login(client, make.user("director_of_comms"))
    token = csrf_token(client, f"/incidents/{current.id}")
    response = client.post(f"/incidents/{current.id}/transitions/triage", data={
        "triage-csrf_token": token, "triage-version": str(db.get(Incident, current.id).version),
        "triage-f_clauses": ["rcr:2.11"], "triage-f_severity": "high", "triage-f_repeat": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get(f"/incidents/{current.id}").get_data(as_text=True)
    assert 'href="#step-escalate_to_formal">Escalate to formal action</a>' in html
    assert 'id="step-escalate_to_formal"' in html


def test_verifying_a_removal_asks_for_a_fresh_capture_and_keeps_it(app, db, client, comms) -> None:
    registry = app.extensions["breachdesk.workflows"]
    incident = _nhs_incident(db, registry, db.merge(comms), workflow="content-removal")
    assert "add a fresh screenshot showing the post gone" not in client.get(f"/incidents/{incident.id}").get_data(
        as_text=True)  # nothing to verify before removal is requested
    token = csrf_token(client, f"/incidents/{incident.id}")
    assert client.post(f"/incidents/{incident.id}/transitions/request_removal", data={
        "request_removal-csrf_token": token, "request_removal-version": str(incident.version),
        "request_removal-f_requested_via": "direct_message",
        "request_removal-f_asked_who": "The author"}).status_code == 302
    db.expire_all()
    [deadline] = db.scalars(select(Deadline).where(Deadline.incident_id == incident.id)).all()
    assert deadline.due_at - deadline.started_at == timedelta(hours=24)  # PII not confirmed: the usual day
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Before you take “Verify removal”, add a fresh screenshot showing the post gone" in html
    gone = PNG + b"post-removed"
    response = client.post(f"/incidents/{incident.id}/evidence", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, f"/incidents/{incident.id}"), "file": (io.BytesIO(gone), "gone.png"),
        "description": "The post's address now says the page does not exist"})
    assert response.status_code == 302
    version = db.get(Incident, incident.id).version
    response = client.post(f"/incidents/{incident.id}/transitions/verify_removed", data={
        "verify_removed-csrf_token": csrf_token(client, f"/incidents/{incident.id}"),
        "verify_removed-version": str(version), "verify_removed-comment": "Checked: gone (see gone.png)."})
    assert response.status_code == 302
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    assert fresh.state == "verified_removed"
    [evidence] = fresh.evidence_files
    assert evidence.sha256 == hashlib.sha256(gone).hexdigest() and evidence.original_name == "gone.png"


def _take(client, db, incident_id: int, step: str, **fields) -> None:  # type: ignore[no-untyped-def]
    page = f"/incidents/{incident_id}"
    data = {f"{step}-csrf_token": csrf_token(client, page), f"{step}-version": str(db.get(Incident, incident_id).version),
            **{f"{step}-{k}": v for k, v in fields.items()}}
    response = client.post(f"{page}/transitions/{step}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.expire_all()


def test_a_breach_upheld_through_its_workflow_makes_the_authors_next_post_a_repeat(app, db, client, comms) -> None:
    """End to end: a post is logged, triaged and resolved informally (problem-solving's resolve_informally
    flags the subject); the same author's next post, on another platform under a differently written handle,
    shows the earlier breach and proposes formal action."""
    response = _post(client, _form(client))
    first_id = int(re.search(r"/incidents/(\d+)$", response.headers["Location"]).group(1))
    _take(client, db, first_id, "triage", f_clauses=["rcr:2.11"], f_severity="medium")
    _take(client, db, first_id, "start_informal_discussion")
    html = client.get(f"/incidents/{first_id}").get_data(as_text=True)
    assert "Earlier upheld breaches" not in html  # nothing upheld yet
    _take(client, db, first_id, "resolve_informally", comment="Spoke to Dr Example; post taken down, apologised.")
    first = db.get(Incident, first_id)
    assert first.state == "resolved_informally"
    assert [(f.person_id, f.flag) for f in db.scalars(select(PersonFlag))] == [(first.subject_id, UPHELD_BREACH)]

    # The next post: Instagram, the handle written another way, and nobody named as its author.
    response = _post(client, _form(client, platform="instagram", url="https://www.instagram.com/p/ZyX987abc/",
                                   author_handle="DR.X.Example", text="Here we go again with the waiting lists.",
                                   person=None, subject_name=None,
                                   **{"handles-0-platform": None, "handles-0-handle": None}))
    assert response.status_code == 302, response.get_data(as_text=True)
    second_id = int(re.search(r"/incidents/(\d+)$", response.headers["Location"]).group(1))
    assert second_id != first_id
    html = client.get(f"/incidents/{second_id}").get_data(as_text=True)
    assert "Earlier upheld breaches by this author (2.32 continued)" in html
    assert first.reference in html
    assert "calls for <strong>formal action</strong>" in html
