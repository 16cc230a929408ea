"""Reading incidents and their audit trails with a token: the permission module decides, as on the web.

404 (never 403) when the user may not know an incident exists; 403 telling an administrator to break
glass in the web app for a restricted file they may know of but not read.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

from sqlalchemy import select

from app.models import AuditEvent, Incident, User
from app.permissions import can_know, can_view
from app.roles import ROLE_NAMES
from tests.api.conftest import Api, token_for
from tests.test_access_matrix import _cases


def _expected(view: bool, know: bool) -> int:
    return 200 if view else (403 if know else 404)


def test_every_role_against_every_kind_of_incident(app, db, make):
    cases, users, _subject = _cases(app, db, make)
    checks, failures = 0, []
    for role, user in users.items():
        api = Api(app.test_client(), user, token_for(db, user))
        for case in cases:
            incident = db.get(Incident, case.incident.id)
            user = db.get(User, user.id)
            view, know = can_view(user, incident), can_know(user, incident)
            for path in (f"/api/v1/incidents/{incident.id}", f"/api/v1/incidents/{incident.id}/audit"):
                response = api.get(path)
                checks += 1
                if response.status_code != _expected(view, know):
                    failures.append(f"{role} GET {path} ({case.name}) -> {response.status_code}")
            response = api.post(f"/api/v1/incidents/{incident.id}/transitions",
                                json={"transition": case.step, "version": incident.version, "comment": "matrix"})
            checks += 1
            allowed = {200, 403, 409, 422} if view else {_expected(view, know)}
            if response.status_code not in allowed:
                failures.append(f"{role} POST transitions ({case.name}) -> {response.status_code}")
            db.expire_all()
        listed = {item["id"] for item in api.get("/api/v1/incidents?limit=200").get_json()["items"]}
        readable = {i.id for i in db.scalars(select(Incident)) if can_view(db.get(User, user.id), i)}
        checks += 1
        if listed != readable:
            failures.append(f"{role} list -> {sorted(listed)}, expected {sorted(readable)}")
    assert not failures, "\n".join(failures)
    assert checks == len(ROLE_NAMES) * (3 * len(cases) + 1)


@dataclass
class World:
    comms: Api
    other_comms: Api
    rep: Api
    other_rep: Api
    admin: Api
    director: Api
    college: Incident
    member_case: Incident
    restricted: Incident


def _world(app, db, make, open_case) -> World:  # type: ignore[no-untyped-def]
    def api(role: str, team: str | None = None) -> Api:
        user = make.user(role, team=team)
        return Api(app.test_client(), user, token_for(db, user))

    comms, other_comms = api("comms", "communications"), api("comms", "press-office")
    rep, other_rep = api("rep", "reps-north"), api("rep", "reps-south")
    admin, director = api("admin"), api("director_of_comms", "communications")
    college = open_case("problem-solving", comms.user, team=comms.user.team)
    member_case = open_case("employer-disciplinary", rep.user, assignee=rep.user, team=rep.user.team)
    restricted = open_case("problem-solving", director.user, team=comms.user.team, restricted=True)
    return World(comms, other_comms, rep, other_rep, admin, director, college, member_case, restricted)


def test_named_permission_cases(app, db, make, open_case):
    w = _world(app, db, make, open_case)
    assert w.comms.get(f"/api/v1/incidents/{w.college.id}").status_code == 200
    assert w.other_comms.get(f"/api/v1/incidents/{w.college.id}").status_code == 404
    assert w.comms.get(f"/api/v1/incidents/{w.member_case.id}").status_code == 404  # comms never sees union side
    assert w.rep.get(f"/api/v1/incidents/{w.member_case.id}").status_code == 200
    assert w.other_rep.get(f"/api/v1/incidents/{w.member_case.id}").status_code == 404
    assert w.rep.get(f"/api/v1/incidents/{w.college.id}").status_code == 404
    assert w.admin.get(f"/api/v1/incidents/{w.college.id}").status_code == 200
    assert w.admin.get(f"/api/v1/incidents/{w.member_case.id}").status_code == 200
    refused = w.admin.get(f"/api/v1/incidents/{w.restricted.id}")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "break_glass_required"
    assert "break glass" in refused.get_json()["message"].lower()
    assert w.admin.get(f"/api/v1/incidents/{w.restricted.id}/audit").status_code == 403
    assert w.comms.get(f"/api/v1/incidents/{w.restricted.id}").status_code == 404  # not even known
    assert w.director.get(f"/api/v1/incidents/{w.restricted.id}").status_code == 200  # its creator
    assert w.comms.get("/api/v1/incidents/999999").status_code == 404


def test_a_refused_read_is_audited_like_the_web(app, db, make, open_case):
    w = _world(app, db, make, open_case)
    assert w.other_rep.get(f"/api/v1/incidents/{w.member_case.id}").status_code == 404
    denied = db.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(e.actor_id, e.incident_id) for e in denied] == [(w.other_rep.user.id, w.member_case.id)]


def test_reading_a_restricted_file_is_audited(app, db, make, open_case):
    w = _world(app, db, make, open_case)
    assert w.director.get(f"/api/v1/incidents/{w.restricted.id}").status_code == 200
    assert w.director.get(f"/api/v1/incidents/{w.restricted.id}/audit").status_code == 200
    views = db.scalars(select(AuditEvent).where(AuditEvent.action == "incident.viewed_restricted")).all()
    assert len(views) == 2 and all(v.actor_id == w.director.user.id for v in views)


def test_after_breaking_glass_in_the_web_app_the_admin_may_read_it(app, db, make, open_case):
    from app.services.access import break_glass

    w = _world(app, db, make, open_case)
    break_glass(db, db.get(Incident, w.restricted.id), actor=db.get(User, w.admin.user.id),
                reason="Subject access request needs this file")
    db.commit()
    assert w.admin.get(f"/api/v1/incidents/{w.restricted.id}").status_code == 200


def test_audit_trail_shape(app, db, make, open_case):
    w = _world(app, db, make, open_case)
    version = w.comms.get(f"/api/v1/incidents/{w.college.id}").get_json()["version"]
    w.comms.post(f"/api/v1/incidents/{w.college.id}/transitions",
                 json={"transition": "close_no_breach", "version": version, "comment": "Not a breach on review"})
    items = w.comms.get(f"/api/v1/incidents/{w.college.id}/audit").get_json()["items"]
    assert [i["action"] for i in items][:1] == ["incident.opened"]
    last = items[-1]
    assert last == {"at": last["at"], "actor": w.comms.user.email, "action": "incident.transition",
                    "from": "reported", "to": "closed_no_breach", "transition": "close_no_breach",
                    "comment": "Not a breach on review", "data": {"fields": {}}}


def test_links_show_only_incidents_the_user_may_know(app, db, make, open_case):
    w = _world(app, db, make, open_case)
    version = w.director.get(f"/api/v1/incidents/{w.college.id}").get_json()["version"]
    triaged = w.director.post(f"/api/v1/incidents/{w.college.id}/transitions", json={
        "transition": "triage", "version": version, "data": {"clauses": ["rcr:2.8"], "severity": "high"}})
    assert triaged.status_code == 200, triaged.get_json()
    escalated = w.director.post(f"/api/v1/incidents/{w.college.id}/transitions", json={
        "transition": "escalate_to_formal", "version": triaged.get_json()["version"], "comment": "Deliberate"})
    assert escalated.status_code == 200, escalated.get_json()
    links = escalated.get_json()["links"]
    assert len(links) == 1 and links[0]["relation"] == "escalated_to" and links[0]["direction"] == "outgoing"
    formal = w.director.get(f"/api/v1/incidents/{links[0]['id']}").get_json()
    assert formal["workflow"] == "formal-action"
    assert formal["links"][0]["direction"] == "incoming" and formal["links"][0]["id"] == w.college.id
    assert formal["links"][0]["url"].endswith(f"/incidents/{w.college.id}")


def test_suggestions_report_pii_spans_and_likely_clauses(app, db, make, open_case):
    api = Api(app.test_client(), make.user("comms", team="communications"), "")
    api.token = token_for(db, api.user)
    body = api.post("/api/v1/incidents", json={
        "workflow": "problem-solving", "title": "t", "subject": {"name": "S", "role": "officer"},
        "post": {"platform": "x", "url": "https://a.example/1", "text": "NHS 943 476 5919 here"}}).get_json()
    [hit] = body["suggestions"]["pii"]
    assert (hit["kind"], hit["text"]) == ("nhs_number", "943 476 5919")
    assert "NHS 943 476 5919 here"[hit["start"]:hit["end"]] == "943 476 5919"
    assert "rcr:2.8" in [c["clause"] for c in body["suggestions"]["clauses"]]
    assert body["clauses"] == []  # suggested only: nothing is cited until a person accepts it


def test_a_failing_suggestion_helper_does_not_fail_the_request(app, db, make, monkeypatch):
    def scan(text):  # type: ignore[no-untyped-def]
        raise RuntimeError("scanner broke")

    monkeypatch.setitem(sys.modules, "app.pii", types.SimpleNamespace(scan=scan))
    monkeypatch.setitem(sys.modules, "app.policy.suggest", types.SimpleNamespace())
    user = make.user("comms", team="communications")
    api = Api(app.test_client(), user, token_for(db, user))
    response = api.post("/api/v1/incidents", json={
        "workflow": "problem-solving", "title": "t", "post": {"platform": "x", "url": "https://a.example/1",
                                                              "text": "some text"}})
    assert response.status_code == 201
    assert response.get_json()["suggestions"] == {"clauses": [], "pii": []}
