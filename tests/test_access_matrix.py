"""Every route × every role × every kind of incident: who gets what.

The table below must name every URL rule the app has, so a new route without an access case fails
here. For routes about one incident, the expectation comes from the need-to-know rules: a user who
may read it gets a normal answer (never 404), one who may only know it exists (an administrator and a
restricted file) gets the break-glass page, everyone else gets 404 — never 403, never a 500.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from flask.testing import FlaskClient

from app.models import CaseFile, Incident, Person, User
from app.roles import ROLE_NAMES
from app.services.evidence import capture_file
from app.services.incidents import OpenRequest, open_incident
from app.services.users import get_or_create_team
from tests.conftest import csrf_token, login

READ_OK = {200}
WRITE_OK = {302, 400, 409, 422}  # done, or refused with a message about the input or state — but it was read


@dataclass
class Case:
    name: str
    incident: Incident
    deadline_id: int
    step: str  # a transition its workflow offers from where it stands
    evidence_id: int


def _cases(app, db, make) -> tuple[list[Case], dict[str, User], Person]:
    registry = app.extensions["breachdesk.workflows"]
    comms_team = get_or_create_team(db, "communications")
    press_team = get_or_create_team(db, "press-office")
    north = get_or_create_team(db, "reps-north")
    users = {role: make.user(role, team={"comms": "communications", "rep": "reps-north",
                                         "regional_officer": "reps-north"}.get(role)) for role in ROLE_NAMES}
    users = {role: db.get(User, u.id) for role, u in users.items()}
    other_rep = make.user("rep", team="reps-south")
    other_rep = db.get(User, other_rep.id)
    subject = Person(name="Subject", role="member")
    db.add(subject)
    db.flush()

    def open_(workflow: str, actor: User, **kw) -> Incident:
        return open_incident(db, registry, OpenRequest(workflow_key=workflow, title=f"{workflow} case",
                                                       subject=subject, **kw), actor=actor, check_role=False)

    incidents = [
        ("own-team college post", open_("problem-solving", users["comms"], team=comms_team)),
        ("other-team college post", open_("problem-solving", users["admin"], team=press_team)),
        ("restricted college file", open_("problem-solving", users["director_of_comms"], team=comms_team,
                                          restricted=True)),
        ("own rep's member case", open_("employer-disciplinary", users["rep"], assignee=users["rep"], team=north)),
        ("another rep's member case", open_("employer-disciplinary", other_rep, assignee=other_rep,
                                            team=get_or_create_team(db, "reps-south"))),
    ]
    db.commit()
    cases = []
    folder = app.config["BREACHDESK"].evidence_path
    for name, incident in incidents:
        deadline = incident.deadlines[0].id if incident.deadlines else 0
        step = registry.get(incident.workflow_key).transitions_from(incident.state)[0].key
        evidence = capture_file(db, incident, actor=users["admin"], filename="note.txt",
                                stream=io.BytesIO(b"a note"), folder=folder)
        cases.append(Case(name, incident, deadline, step, evidence.id))
    db.commit()
    return cases, users, subject


def _member_case_file(app, db, rep: User) -> int:
    """A member's case file held by ``rep`` (its regional officer and nobody else may read it)."""
    from app.services import cases as case_service

    member = case_service.add_member(db, case_service.MemberDetails(name="Matrix Member", membership_number="MX-1"),
                                     actor=rep)
    case_file = case_service.open_case_file(db, app.extensions["breachdesk.workflows"], member=member,
                                            title="Matrix case", issue_arose_on=None,
                                            workflow_key="employer-disciplinary", rep=rep, actor=rep)
    db.commit()
    return case_file.id


def _signed_in_client(app, user: User) -> FlaskClient:
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


# endpoint -> function(role, can_view, can_know) -> allowed statuses; None means "not about one incident".
IncidentRule = Callable[[str, bool, bool], set[int]]


def _incident_read(role: str, view: bool, know: bool) -> set[int]:
    # Knowing without reading (an administrator and a restricted file) gets 403 and the way to break glass.
    return READ_OK if view else ({403} if know else {404})


def _incident_write(role: str, view: bool, know: bool) -> set[int]:
    return (WRITE_OK | {403}) if view else ({403} if know else {404})


def _break_glass(role: str, view: bool, know: bool) -> set[int]:
    return {302, 400} if know else {404}


INCIDENT_ROUTES: dict[str, tuple[str, str, IncidentRule]] = {
    "incidents.show": ("GET", "/incidents/{id}", _incident_read),
    "incidents.transition": ("POST", "/incidents/{id}/transitions/{step}", _incident_write),
    "incidents.extend_deadline": ("POST", "/incidents/{id}/deadlines/{deadline}/extend", _incident_write),
    "incidents.share": ("POST", "/incidents/{id}/shares", _incident_write),
    "incidents.break_glass": ("POST", "/incidents/{id}/break-glass", _break_glass),
    "incidents.add_evidence": ("POST", "/incidents/{id}/evidence", _incident_write),
    "incidents.download_evidence": ("GET", "/incidents/{id}/evidence/{evidence}", _incident_read),
    "incidents.export_json": ("GET", "/incidents/{id}/export.json", _incident_read),
    "capture.accept_suggestion": ("POST", "/incidents/{id}/suggestions/accept", _incident_write),
    "capture.reject_suggestion": ("POST", "/incidents/{id}/suggestions/reject", _incident_write),
    # The JSON API takes bearer tokens only: a signed-in browser's cookie alone gets 401 (tests/api has the
    # token-by-role matrix).
    "api.get_incident": ("GET", "/api/v1/incidents/{id}", lambda role, view, know: {401}),
    "api.incident_audit": ("GET", "/api/v1/incidents/{id}/audit", lambda role, view, know: {401}),
    "api.transition": ("POST", "/api/v1/incidents/{id}/transitions", lambda role, view, know: {401}),
}

OPENERS = {"admin", "comms", "officer", "rep", "regional_officer", "director_of_comms", "press_office", "contributor"}
# Roles that may open an antagonistic-tag or press-referral incident (the Escalate page).
ESCALATORS = {"admin", "comms", "officer", "director_of_comms", "press_office", "contributor"}
OTHER_ROUTES: dict[str, tuple[str, str, Callable[[str], set[int]]]] = {
    "static": ("GET", "/static/css/app.css", lambda role: {200}),
    "auth.login": ("GET", "/login", lambda role: {302}),
    "auth.password": ("GET", "/account/password", lambda role: {200}),
    "auth.two_factor": ("GET", "/account/two-factor",
                        lambda role: {200} if role in ("admin", "director_of_comms") else {404}),
    "auth.code": ("GET", "/login/code", lambda role: {302}),  # no sign-in pending: back to the start
    "incidents.home": ("GET", "/", lambda role: {302}),
    "incidents.index": ("GET", "/incidents?status=all", lambda role: {200}),
    "incidents.export_csv": ("GET", "/incidents/export.csv?status=all", lambda role: {200}),
    "incidents.export_xlsx": ("GET", "/incidents/export.xlsx?status=all", lambda role: {200}),
    # Sent without a CSRF token here: refused (tests/test_queue.py checks who may assign what).
    "incidents.bulk_assign": ("POST", "/incidents/bulk-assign", lambda role: {400}),
    "incidents.new": ("GET", "/incidents/new", lambda role: {200} if role in OPENERS else {403}),
    "capture.new_post": ("GET", "/posts/new",
                         lambda role: {200} if role in ("comms", "director_of_comms", "admin") else {403}),
    "workflows.index": ("GET", "/workflows", lambda role: {200}),
    "workflows.show": ("GET", "/workflows/problem-solving", lambda role: {200}),
    "workflows.diagram": ("GET", "/workflows/problem-solving.svg", lambda role: {200}),
    "admin.outbox": ("GET", "/admin/outbox", lambda role: {200} if role == "admin" else {404}),
    "admin.rota": ("GET", "/admin/rota", lambda role: {200} if role == "admin" else {404}),
    "admin.remove_shift": ("POST", "/admin/rota/remove", lambda role: {400}),  # no CSRF token: refused first
    "dataprotection.index": ("GET", "/admin/data-protection", lambda role: {200} if role == "admin" else {404}),
    # Sent without a CSRF token: refused first (tests/dataprotection covers what they do).
    "dataprotection.subject_access": ("POST", "/admin/data-protection/sar", lambda role: {400}),
    "dataprotection.place_hold": ("POST", "/admin/data-protection/holds", lambda role: {400}),
    "dataprotection.release_hold": ("POST", "/admin/data-protection/holds/release", lambda role: {400}),
    "dataprotection.erase": ("POST", "/admin/data-protection/erase", lambda role: {400}),
    "dataprotection.disclosure": ("POST", "/admin/data-protection/disclosure", lambda role: {400}),
    "escalate.escalate": ("GET", "/escalate", lambda role: {200} if role in ESCALATORS else {403}),
    "escalate.sent": ("GET", "/escalate/sent", lambda role: {302} if role in ESCALATORS else {403}),
    "escalate.referrals": ("GET", "/referrals",
                           lambda role: {200} if role in ("director_of_comms", "comms", "admin") else {403}),
    "escalate.press": ("GET", "/press", lambda role: {200} if role in (
        "press_office", "director_of_comms", "comms", "admin") else {403}),
    "api.openapi": ("GET", "/api/v1/openapi.json", lambda role: {200}),  # public, like any API description
    "api.list_workflows": ("GET", "/api/v1/workflows", lambda role: {401}),
    "api.list_incidents": ("GET", "/api/v1/incidents", lambda role: {401}),
    "api.create_incident": ("POST", "/api/v1/incidents", lambda role: {401}),
    "cases.my_week": ("GET", "/my", lambda role: {200}),
    "cases.index": ("GET", "/cases", lambda role: {200} if role in CASE_ROLES else {404}),
    "cases.new": ("GET", "/cases/new", lambda role: {200} if role in CASE_ROLES else {404}),
    "dashboard.index": ("GET", "/dashboard", lambda role: {302} if role in DASHBOARD_ROLES else {403}),
    "dashboard.show": ("GET", "/dashboard/admin", lambda role: {200} if role == "admin" else {403}),
    "dashboard.download": ("GET", "/dashboard/admin/volume.csv", lambda role: {200} if role == "admin" else {403}),
    # people.show and auth.logout are checked separately below (they depend on more than the role).
}
SEPARATELY = {"people.show", "auth.logout"}
CASE_ROLES = {"rep", "regional_officer", "admin"}
DASHBOARD_ROLES = {"comms", "director_of_comms", "press_office", "rep", "regional_officer", "admin"}


def _case_read(view: bool, glass: bool) -> set[int]:
    return READ_OK if view else ({403} if glass else {404})


def _case_write(view: bool, glass: bool) -> set[int]:
    return {302} if view else {404}  # a refused form comes back to the file with a message (302 too)


# A member's case file, by whether the user may read it and whether they may break glass (administrators).
CASE_FILE_ROUTES: dict[str, tuple[str, str, Callable[[bool, bool], set[int]]]] = {
    "cases.show": ("GET", "/cases/{id}", _case_read),
    "cases.bundle": ("GET", "/cases/{id}/bundle", lambda view, glass: READ_OK if view else {404}),
    "cases.bundle_pdf": ("GET", "/cases/{id}/bundle.pdf", lambda view, glass: READ_OK if view else {404}),
    "cases.reallocate": ("POST", "/cases/{id}/reallocate", _case_write),
    "cases.regulator_track": ("POST", "/cases/{id}/regulator-track", _case_write),
    "cases.no_regulator_referral": ("POST", "/cases/{id}/no-regulator-referral", _case_write),
    "cases.break_glass": ("POST", "/cases/{id}/break-glass", lambda view, glass: {400} if glass else {404}),
}


def test_every_route_has_an_access_case(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    covered = set(INCIDENT_ROUTES) | set(OTHER_ROUTES) | set(CASE_FILE_ROUTES) | SEPARATELY
    assert endpoints - covered == set(), "add an access case for the new route(s)"


def test_access_matrix(app, db, make, report):
    from app.permissions import can_break_glass_case_file, can_know, can_view, can_view_case_file

    cases, users, subject = _cases(app, db, make)
    case_file_id = _member_case_file(app, db, users["rep"])
    checks = 0
    failures = []
    for role, user in users.items():
        client = _signed_in_client(app, user)
        token = csrf_token(client, "/incidents")
        for method, path, expected_for in OTHER_ROUTES.values():
            status = client.open(path, method=method).status_code
            checks += 1
            if status not in expected_for(role):
                failures.append(f"{role} {method} {path} -> {status}, expected {expected_for(role)}")
        for case in cases:
            incident = db.get(Incident, case.incident.id)
            view, know = can_view(user, incident), can_know(user, incident)
            for method, template, rule in INCIDENT_ROUTES.values():
                path = template.format(id=incident.id, deadline=case.deadline_id or 1, step=case.step,
                                       evidence=case.evidence_id)
                data = {"csrf_token": token, f"{case.step}-csrf_token": token} if method == "POST" else None
                status = client.open(path, method=method, data=data).status_code
                checks += 1
                if status not in rule(role, view, know):
                    failures.append(f"{role} {method} {path} ({case.name}) -> {status}, "
                                    f"expected {rule(role, view, know)}")
        for method, template, case_rule in CASE_FILE_ROUTES.values():
            case_file = db.get(CaseFile, case_file_id)
            view, glass = can_view_case_file(user, case_file), can_break_glass_case_file(user, case_file)
            path = template.format(id=case_file_id)
            status = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None
                                 ).status_code
            checks += 1
            if status not in case_rule(view, glass):
                failures.append(f"{role} {method} {path} -> {status}, expected {case_rule(view, glass)}")
        people_status = client.get(f"/people/{subject.id}").status_code
        checks += 1
        sees_any = any(can_view(user, db.get(Incident, c.incident.id)) for c in cases)
        if people_status != (200 if sees_any or role == "admin" else 404):
            failures.append(f"{role} GET /people/{subject.id} -> {people_status}")
    report(f"access matrix: {checks} route × role × incident checks")
    assert not failures, "\n".join(failures)
    assert checks >= len(ROLE_NAMES) * (len(OTHER_ROUTES) + 5 * len(INCIDENT_ROUTES))


def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(app, db, make):
    """Enumerates every POST rule, so a new form is covered the day it is added."""
    from app.models import AuditEvent

    cases, users, subject = _cases(app, db, make)
    client = _signed_in_client(app, users["admin"])
    own = next(c for c in cases if c.name == "own-team college post")
    values = {"incident_id": own.incident.id, "deadline_id": own.deadline_id or 1, "key": own.step,
              "evidence_id": own.evidence_id, "case_file_id": _member_case_file(app, db, users["rep"])}
    checked = 0
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        before = db.query(AuditEvent).count()
        expected = 401 if rule.rule.startswith("/api/") else 400  # the API refuses cookies outright
        for data in ({}, {"csrf_token": "forged.token.value"}, {f"{own.step}-csrf_token": "forged"}):
            response = client.post(path, data=data)
            assert response.status_code == expected, (path, data, response.status_code)
            checked += 1
        db.expire_all()
        assert db.query(AuditEvent).count() == before, path
    assert client.get("/incidents").status_code == 200  # still signed in: the refused logout did nothing
    assert checked >= 3 * 9


def test_nothing_changes_state_on_get(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("auth.logout",) or "transitions" in rule.rule or "extend" in rule.rule:
            assert "GET" not in rule.methods, rule.rule
