"""Need-to-know: the row check and the SQL filter agree, and a hidden incident is a 404, not a 403."""

import itertools

from sqlalchemy import select

from app.models import Incident
from app.permissions import ActorInSQL, Readers, can_view, knowable_incidents, readers_among, visible_incidents
from app.roles import ROLE_NAMES
from app.services import access
from app.services import cases as case_service
from app.services.incidents import OpenRequest, open_incident
from app.services.users import get_or_create_team


def _incidents(db, registry, make):
    owner = make.user("admin", name="Owner")
    comms_team = get_or_create_team(db, "communications")
    reps_team = get_or_create_team(db, "reps-north")
    made = []
    for workflow, team, restricted in itertools.product(
        ("problem-solving", "employer-disciplinary"), (comms_team, reps_team, None), (False, True)
    ):
        made.append(open_incident(db, registry, OpenRequest(workflow_key=workflow, title=f"{workflow} {restricted}",
                                                            team=team, restricted=restricted), actor=owner))
    db.commit()
    return made


def test_row_check_and_sql_filter_agree_for_every_role_and_team(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    incidents = _incidents(db, registry, make)
    for role, team in itertools.product(ROLE_NAMES, ("communications", "reps-north", None)):
        user = make.user(role, team=team)
        by_sql = set(db.scalars(select(Incident.id).where(visible_incidents(user))))
        by_row = {i.id for i in incidents if can_view(user, i)}
        assert by_sql == by_row, (role, team)


def test_readers_among_many_users_are_exactly_those_can_view_lets_in(app, db, make):
    """The sweep and notifications ask once per role and team; whoever the incident names personally (assignee,
    logger, share, case rep) must still be let in, and nobody else."""
    registry = app.extensions["breachdesk.workflows"]
    incidents = _incidents(db, registry, make)
    users = [make.user(role, team=team)
             for role, team in itertools.product(ROLE_NAMES, ("communications", "reps-north", "reps-south", None))]
    users.append(make.user("comms", team="communications", active=False))
    users.append(make.user("comms", team="reps-south"))  # same role and team as the shared comms, not shared with
    comms, rep, admin = users[ROLE_NAMES.index("comms") * 4 + 2], users[ROLE_NAMES.index("rep") * 4 + 1], \
        users[ROLE_NAMES.index("admin") * 4]
    restricted = next(i for i in incidents if i.restricted and i.side == "college")
    access.share(db, restricted, actor=restricted.created_by, with_user=comms, reason="Needs to advise on the reply.")
    incidents.append(open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Assigned",
                                                             assignee=rep, restricted=True), actor=admin))
    member = case_service.add_member(db, case_service.MemberDetails(
        name="Morag Member", membership_number="M-7", employer="Northshire NHS Trust", joined_on=None,
        subs_in_order=True, consent_given=True), actor=rep)
    case_file = case_service.open_case_file(db, registry, member=member, title="Ward rota", issue_arose_on=None,
                                            workflow_key="employer-disciplinary", rep=rep, actor=rep)
    incidents.append(case_file.tracks[0])
    db.commit()
    readers = Readers(users)  # as the sweep keeps it, for every incident it meets
    for incident in incidents:
        expected = [u for u in users if can_view(u, incident)]
        assert readers_among(users, incident) == expected, incident.title
        assert readers.of(incident) == expected, incident.title
    assert any(u is comms for u in readers_among(users, restricted))  # by the share alone
    twice = users + users  # each user given twice is let in, or left out, at both places
    for incident in incidents:
        assert Readers(twice).of(incident) == [u for u in twice if can_view(u, incident)], incident.title
    assert users[-1] not in readers_among(users, restricted)
    assert [u for u in readers_among(users, case_file.tracks[0]) if u.role == "rep"] == [rep]


def test_a_statement_built_once_per_user_shape_lets_in_what_the_rule_lets_in_for_each_user(app, db, make):
    """The queue builds its statement once per role, activity and team-or-none (``ActorInSQL``) and runs it with
    each user's id, team and time: for every user that must select what the rule built for that user selects,
    shares that have run out included."""
    from datetime import timedelta

    from app.clock import frozen_at, utcnow

    registry = app.extensions["breachdesk.workflows"]
    incidents = _incidents(db, registry, make)
    users = [make.user(role, team=team)
             for role, team in itertools.product(ROLE_NAMES, ("communications", "reps-north", "reps-south", None))]
    users += [make.user("comms", team="communications", active=False), make.user("comms", team="reps-south")]
    comms = next(u for u in users if u.role == "comms" and u.team and u.team.key == "reps-south")
    rep = next(u for u in users if u.role == "rep" and u.team and u.team.key == "reps-north")
    admin = next(u for u in users if u.role == "admin")
    restricted = next(i for i in incidents if i.restricted and i.side == "college")
    grant = access.share(db, restricted, actor=restricted.created_by, with_user=comms,
                         reason="Needs to advise on the reply.")
    grant.expires_at = utcnow() + timedelta(days=1)  # (break glass grants expire; this one is made to)
    open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Assigned", assignee=rep,
                                            restricted=True), actor=admin)
    member = case_service.add_member(db, case_service.MemberDetails(
        name="Morag Member", membership_number="M-7", employer="Northshire NHS Trust", joined_on=None,
        subs_in_order=True, consent_given=True), actor=rep)
    case_service.open_case_file(db, registry, member=member, title="Ward rota", issue_arose_on=None,
                                workflow_key="employer-disciplinary", rep=rep, actor=rep)
    db.commit()
    built: dict[tuple, tuple] = {}
    for rule in (visible_incidents, knowable_incidents):
        for later in (timedelta(0), timedelta(days=2)):  # the share with comms runs out after a day
            with frozen_at(utcnow() + later):
                for user in users + users[::-1]:  # each statement first built for one user, then run for the rest
                    shape = ActorInSQL.of(user)
                    if (rule, shape) not in built:
                        built[(rule, shape)] = select(Incident.id).where(rule(shape, ActorInSQL.now()))
                    once = set(db.scalars(built[(rule, shape)], ActorInSQL.parameters(user, utcnow())))
                    assert once == set(db.scalars(select(Incident.id).where(rule(user)))), (rule, user.role, later)
                assert (restricted.id in set(db.scalars(built[(visible_incidents, ActorInSQL.of(comms))],
                                                        ActorInSQL.parameters(comms, utcnow())))) == (not later)


def test_comms_never_sees_a_members_disciplinary_file(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    incidents = _incidents(db, registry, make)
    comms = make.user("comms", team="communications")
    union = [i for i in incidents if i.side == "union"]
    assert union and not any(can_view(comms, i) for i in union)


def test_rep_sees_assigned_case_and_regional_officer_sees_their_regions(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    rep = make.user("rep", team="reps-north")
    other_rep = make.user("rep", team="reps-north")
    regional = make.user("regional_officer", team="reps-north")
    other_region = make.user("regional_officer", team="reps-south")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Member case",
                                                   assignee=rep, team=rep.team), actor=rep)
    db.commit()
    assert can_view(rep, case) and can_view(regional, case)
    assert not can_view(other_rep, case) and not can_view(other_region, case)


def test_hidden_incident_answers_404_and_the_list_leaks_nothing(client, db, app, signed_in, make):
    registry = app.extensions["breachdesk.workflows"]
    rep = make.user("rep", team="reps-north")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary",
                                                   title="Secret member case", assignee=rep, team=rep.team),
                         actor=rep)
    db.commit()
    signed_in("comms", team="communications")
    assert client.get(f"/incidents/{case.id}").status_code == 404
    assert client.get("/incidents/999999").status_code == 404
    assert client.post(f"/incidents/{case.id}/transitions/check_membership").status_code in (400, 404)
    listing = client.get("/incidents?status=all&q=Secret").get_data(as_text=True)
    assert "Secret member case" not in listing


def test_auditor_cannot_read_case_files(client, db, app, signed_in, make):
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Post"), actor=comms)
    db.commit()
    signed_in("auditor")
    assert client.get(f"/incidents/{incident.id}").status_code == 404


def test_pages_need_sign_in(client):
    for path in ("/incidents", "/incidents/1", "/incidents/new", "/workflows", "/workflows/problem-solving"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_knowing_and_reading_agree_between_row_and_sql(app, db, make):
    from app.permissions import can_know, knowable_incidents

    registry = app.extensions["breachdesk.workflows"]
    incidents = _incidents(db, registry, make)
    for role in ROLE_NAMES:
        user = make.user(role, team="communications")
        by_sql = set(db.scalars(select(Incident.id).where(knowable_incidents(user))))
        assert by_sql == {i.id for i in incidents if can_know(user, i)}, role


def test_admin_must_break_glass_to_read_a_restricted_file_and_it_is_audited(client, app, db, make, signed_in):
    from app.models import AuditEvent
    from tests.conftest import csrf_token

    registry = app.extensions["breachdesk.workflows"]
    rep = make.user("rep", team="reps-north")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Health details",
                                                   assignee=rep, team=rep.team, restricted=True), actor=rep)
    db.commit()
    signed_in("admin")
    listing = client.get("/incidents").get_data(as_text=True)
    assert case.reference in listing and "Health details" not in listing
    assert "Health details" not in client.get("/incidents?q=Health").get_data(as_text=True)
    refused = client.get(f"/incidents/{case.id}")
    assert refused.status_code == 403 and "Health details" not in refused.get_data(as_text=True)
    token = csrf_token(client, "/incidents")
    too_short = client.post(f"/incidents/{case.id}/break-glass", data={"csrf_token": token, "reason": "x"})
    assert too_short.status_code == 400
    opened = client.post(f"/incidents/{case.id}/break-glass",
                         data={"csrf_token": token, "reason": "Subject access request SAR-7 needs this file"})
    assert opened.status_code == 302
    page = client.get(f"/incidents/{case.id}")
    assert page.status_code == 200 and "Health details" in page.get_data(as_text=True)
    actions = [a for (a,) in db.query(AuditEvent.action).filter(AuditEvent.incident_id == case.id)]
    assert "incident.break_glass" in actions and "incident.viewed_restricted" in actions


def test_refused_access_is_audited(client, app, db, make, signed_in):
    from app.models import AuditEvent

    registry = app.extensions["breachdesk.workflows"]
    rep = make.user("rep", team="reps-north")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Member",
                                                   assignee=rep, team=rep.team), actor=rep)
    db.commit()
    snooper = signed_in("comms", team="communications")
    assert client.get(f"/incidents/{case.id}").status_code == 404
    denied = db.query(AuditEvent).filter_by(action="access.denied", incident_id=case.id).one()
    assert denied.actor_id == snooper.id


def test_sharing_with_a_reason_grants_reading(client, app, db, make, signed_in):
    from tests.conftest import csrf_token, login

    registry = app.extensions["breachdesk.workflows"]
    colleague = make.user("rep", team="reps-south", email="colleague@example.org")
    rep = signed_in("rep", team="reps-north")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Shared case",
                                                   assignee=db.get(type(rep), rep.id)), actor=db.get(type(rep), rep.id))
    db.commit()
    token = csrf_token(client, f"/incidents/{case.id}")
    response = client.post(f"/incidents/{case.id}/shares", data={"csrf_token": token, "email": colleague.email,
                                                                 "reason": "Covering while I am on leave"})
    assert response.status_code == 302
    other = app.test_client()
    login(other, colleague)
    assert other.get(f"/incidents/{case.id}").status_code == 200


def test_a_clause_not_in_force_on_the_day_falls_back_to_the_nearest_wording():
    from datetime import date

    from app.policy import Catalogue, Catalogues, CatalogueVersion, Clause

    def clause(number, version):
        return Clause(key=f"x:{number}", catalogue="x", number=number, title=f"{number} in {version}",
                      summary="s", applies_to="both", severity="low", path="problem-solving", version=version)

    old = CatalogueVersion("v1", date(2020, 1, 1), {"1": clause("1", "v1")})
    new = CatalogueVersion("v2", date(2024, 1, 1), {"1": clause("1", "v2"), "2": clause("2", "v2")})
    catalogues = Catalogues({"x": Catalogue("x", "X", "", (old, new))})
    assert catalogues.clause("x:1", date(2021, 5, 1)).version == "v1"
    assert catalogues.clause("x:2", date(2021, 5, 1)).version == "v2"  # added later: nearest wording
