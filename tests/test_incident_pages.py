"""The incident pages: what users type is always escaped, and bad input gets a message, never a 500."""

import re

from app.models import AuditEvent, Incident, User
from app.services.incidents import OpenRequest, PostInput, open_incident
from tests.conftest import csrf_token

SCRIPT = "<script>alert('x')</script>"


def _incident(app, db, actor, **kw):
    registry = app.extensions["breachdesk.workflows"]
    actor = db.get(User, actor.id)  # requests end the thread's session; work with a fresh copy
    incident = open_incident(db, registry, OpenRequest(workflow_key=kw.pop("workflow", "problem-solving"),
                                                       title=kw.pop("title", "A post"), **kw), actor=actor)
    db.commit()
    return incident


def test_user_typed_text_is_escaped_everywhere_on_the_page(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user, title=f"Title {SCRIPT}", summary=f"Summary {SCRIPT}",
                         post=PostInput(platform="x", url=f"https://x.com/{SCRIPT}", author_handle=SCRIPT,
                                        text=f"Post {SCRIPT}"))
    token = csrf_token(client, f"/incidents/{incident.id}")
    client.post(f"/incidents/{incident.id}/transitions/close_no_breach",
                data={"close_no_breach-csrf_token": token, "close_no_breach-version": "1",
                      "close_no_breach-comment": f"Comment {SCRIPT}"})
    for path in (f"/incidents/{incident.id}", "/incidents?status=all", f"/incidents?q={SCRIPT}"):
        html = client.get(path).get_data(as_text=True)
        assert SCRIPT not in html, path
    assert "&lt;script&gt;" in client.get(f"/incidents/{incident.id}").get_data(as_text=True)


def test_pages_send_a_strict_content_security_policy(client, signed_in):
    signed_in("comms")
    policy = client.get("/incidents").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_transition_with_a_missing_required_field_says_which_and_changes_nothing(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user)
    audit_rows = db.query(AuditEvent).count()
    token = csrf_token(client, f"/incidents/{incident.id}")
    response = client.post(f"/incidents/{incident.id}/transitions/triage",
                           data={"triage-csrf_token": token, "triage-version": "1", "triage-f_severity": "high"})
    assert response.status_code == 422
    assert "Clauses breached is required" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, incident.id).state == "reported"
    assert db.query(AuditEvent).count() == audit_rows


def test_transition_with_unknown_choice_or_clause_is_refused_with_the_reason(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user)
    token = csrf_token(client, f"/incidents/{incident.id}")
    response = client.post(f"/incidents/{incident.id}/transitions/triage",
                           data={"triage-csrf_token": token, "triage-version": "1", "triage-f_severity": "apocalyptic",
                                 "triage-f_clauses": "rcr:9.99"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "unknown clause" in text or "choose one of" in text


def test_stale_form_is_told_someone_else_changed_the_incident(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user)
    token = csrf_token(client, f"/incidents/{incident.id}")
    first = client.post(f"/incidents/{incident.id}/transitions/triage",
                        data={"triage-csrf_token": token, "triage-version": "1", "triage-f_severity": "low",
                              "triage-f_clauses": "rcr:2.9"})
    assert first.status_code == 302
    second = client.post(f"/incidents/{incident.id}/transitions/close_no_breach",
                         data={"close_no_breach-csrf_token": token, "close_no_breach-version": "1",
                               "close_no_breach-comment": "no breach"})
    assert second.status_code == 409
    assert "changed by someone else" in second.get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, incident.id).state == "triaged"


def test_transition_not_open_to_the_role_is_refused(client, app, db, signed_in, make):
    comms = make.user("comms", team="communications")
    incident = _incident(app, db, comms)
    signed_in("director_of_comms")
    token = csrf_token(client, f"/incidents/{incident.id}")
    # escalate_to_formal is for the director, but only from triaged/informal_discussion: wrong state.
    response = client.post(f"/incidents/{incident.id}/transitions/escalate_to_formal",
                           data={"escalate_to_formal-csrf_token": token, "escalate_to_formal-version": "1"})
    assert response.status_code == 409
    assert "not available to you" in response.get_data(as_text=True)


def test_unknown_transition_and_junk_query_strings_are_not_errors(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user)
    assert client.post(f"/incidents/{incident.id}/transitions/no_such_step").status_code in (400, 404)
    for query in ("?before=abc", "?status=weird", "?workflow=%00", "?q=" + "x" * 5000, "?state=%27;--"):
        assert client.get("/incidents" + query).status_code == 200, query
    assert client.get("/workflows/not-a-workflow").status_code == 404
    assert client.get("/people/424242").status_code == 404


def test_opening_an_incident_with_bad_input_says_what_to_fix(client, signed_in):
    signed_in("comms", team="communications")
    token = csrf_token(client, "/incidents/new")
    response = client.post("/incidents/new", data={"csrf_token": token, "workflow": "problem-solving", "title": "",
                                                   "severity": "low", "calendar": "england-and-wales"})
    assert response.status_code == 400
    assert "Give the incident a title" in response.get_data(as_text=True)
    response = client.post("/incidents/new", data={"csrf_token": token, "workflow": "employer-disciplinary",
                                                   "title": "x", "severity": "low", "calendar": "england-and-wales"})
    assert response.status_code == 400  # comms may not open union cases: not among the choices


def test_the_page_offers_exactly_the_steps_this_user_may_take_now(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    incident = _incident(app, db, user)
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    registry = app.extensions["breachdesk.workflows"]
    definition = registry.get("problem-solving")
    offered = {t.key for t in definition.transitions.values() if f"/transitions/{t.key}\"" in html}
    expected = {t.key for t in definition.transitions_from("reported") if "comms" in t.roles}
    assert offered == expected and "escalate_to_formal" not in offered


def test_times_are_stored_in_utc_and_shown_in_uk_time(app):
    from datetime import UTC, datetime

    from app.web import local_time

    with app.app_context():
        assert local_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "01 Jul 2026 13:00"  # BST
        assert local_time(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) == "01 Dec 2026 12:00"  # GMT


def test_paging_keeps_every_filter(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    for n in range(52):
        _incident(app, db, user, title=f"Post {n}")
    html = client.get("/incidents?state=reported&q=Post").get_data(as_text=True)
    older = re.search(r'href="(/incidents\?[^"]*before=[^"]*)"', html).group(1)
    assert "state=reported" in older and "q=Post" in older
    second = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "First page" in second and len(re.findall(r'href="/incidents/\d+"', second)) == 2


def test_patient_identifiers_in_a_post_are_marked_and_suggestions_shown_but_not_applied(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    text = "Great case today <b>x</b> NHS 943 476 5919, DOB 01/02/1960, ring 07700 900123"
    incident = _incident(app, db, user, workflow="content-removal", post=PostInput(platform="x", text=text))
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert '<mark class="pii pii-nhs_number"' in html and "943 476 5919</mark>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Suggestions to check" in html and "rcr:2.8" in html
    db.expire_all()
    fresh = db.get(Incident, incident.id)
    assert fresh.clauses == [] and fresh.severity == "medium"  # suggested, never silently applied
