"""A demo organisation for trying Breachdesk: one account per role and a handful of realistic cases.

Idempotent: running it again refreshes the demo passwords and adds nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, OrganisationSettings, Person, SocialHandle, User
from app.services import cases as case_service
from app.services import incidents as incident_service
from app.services.incidents import OpenRequest, PostInput
from app.services.users import create_user, find_by_email, get_or_create_team, set_password
from app.workflow import WorkflowRegistry

DEMO_PASSWORD = "breachdesk-demo-2026"  # noqa: S105 - demo only; the demo command refuses to run in production
DEMO_DOMAIN = "demo.breachdesk.example"
DEMO_ORGANISATION = "Demo College and Union"

DEMO_USERS = [
    ("admin", "Ada Admin", "admin", None),
    ("comms", "Chris Comms", "comms", "communications"),
    ("director", "Dana Director", "director_of_comms", "communications"),
    ("press", "Pat Press", "press_office", "press-office"),
    ("officer", "Dr Olu Officer", "officer", None),
    ("rep", "Rae Rep", "rep", "reps-north"),
    ("regional", "Robin Regional", "regional_officer", "reps-north"),
    ("auditor", "Aud Auditor", "auditor", None),
    ("contributor", "Dr Cam Contributor", "contributor", None),
]


@dataclass
class DemoResult:
    accounts: list[tuple[str, str]] = field(default_factory=list)
    created: int = 0
    incidents: int = 0


def _person(
    session: Session, name: str, role: str, handles: list[tuple[str, str]], office: str | None = None
) -> Person:
    person = session.scalar(select(Person).where(Person.name == name))
    if person is None:
        person = Person(name=name, role=role, office=office)
        for platform, handle in handles:
            person.handles.append(SocialHandle(platform=platform, handle=handle))
        session.add(person)
        session.flush()
    return person


def load_demo(session: Session, registry: WorkflowRegistry, password: str = DEMO_PASSWORD) -> DemoResult:
    result = DemoResult()
    if session.get(OrganisationSettings, 1) is None:
        session.add(OrganisationSettings(id=1, name=DEMO_ORGANISATION))
    for team_key in ("communications", "press-office", "reps-north"):
        get_or_create_team(session, team_key)
    users: dict[str, User] = {}
    for local, name, role, team in DEMO_USERS:
        email = f"{local}@{DEMO_DOMAIN}"
        user = find_by_email(session, email)
        if user is None:
            user = create_user(session, actor=None, email=email, name=name, role=role, password=password,
                               team_key=team)
        else:
            set_password(session, actor=None, user=user, password=password)
        users[local] = user
        result.accounts.append((email, role))

    already = session.scalar(select(func.count()).select_from(Incident).where(Incident.summary.like("[demo]%")))
    if not already:
        result.created = _demo_incidents(session, registry, users)
    result.incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
    return result


def _demo_incidents(session: Session, registry: WorkflowRegistry, users: dict[str, User]) -> int:
    officer = _person(session, "Dr Morgan Ellis", "officer", [("x", "@DrMorganEllis"), ("linkedin", "morgan-ellis")],
                      office="Vice-President, Clinical Radiology")
    contributor = _person(session, "Sam Okafor", "contributor", [("x", "@sam_rad_reg"), ("instagram", "samrads")])
    member = _person(session, "Jordan Price", "member", [("facebook", "jordan.price.rad")])
    now = utcnow()
    comms, director, rep = users["comms"], users["director"], users["rep"]
    opened = []

    post = incident_service.open_incident(session, registry, OpenRequest(
        workflow_key="problem-solving", title="Officer's post criticising a trust's waiting-list figures",
        summary="[demo] Reported by a member through the website form.", subject=officer, assignee=comms,
        severity="medium",
        post=PostInput(platform="x", url="https://x.com/DrMorganEllis/status/1850000000000000001",
                       platform_post_id="1850000000000000001", author_handle="@DrMorganEllis",
                       posted_at=now - timedelta(days=2),
                       text="Honestly, St Elsewhere's 'improved' waiting list numbers are a fiddle and everyone "
                            "in the department knows it. Shameful."),
    ), actor=comms)
    incident_service.take_transition(session, registry, post, "triage", actor=comms,
                                     values={"clauses": ["rcr:2.20", "rcr:2.15"], "severity": "medium",
                                             "deliberate": False, "repeat": False},
                                     comment="Officer criticising a stakeholder trust in public.")
    opened.append(post)

    removal = incident_service.open_incident(session, registry, OpenRequest(
        workflow_key="content-removal", title="Contributor's Instagram story shows a scan with a patient label",
        summary="[demo] Found by social media monitoring.", subject=contributor, assignee=comms, severity="critical",
        clauses=["rcr:2.8"],
        post=PostInput(platform="instagram", url="https://www.instagram.com/stories/samrads/",
                       author_handle="samrads", posted_at=now - timedelta(hours=3),
                       text="Interesting case today! (label visible: NHS 943 476 5919, DOB 01/02/1960)"),
    ), actor=comms)
    incident_service.take_transition(session, registry, removal, "request_removal", actor=comms,
                                     values={"requested_via": "direct_message", "patient_info": True,
                                             "asked_who": "samrads, the author"},
                                     comment="Asked the author to delete the story at once.")
    opened.append(removal)

    opened.append(incident_service.open_incident(session, registry, OpenRequest(
        workflow_key="press-referral", title="Health Service Journal asks an officer for comment on AI reporting",
        summary="[demo] Approach by e-mail to the officer, forwarded to comms.", subject=officer,
        assignee=users["press"], severity="medium",
    ), actor=users["officer"]))

    opened.append(incident_service.open_incident(session, registry, OpenRequest(
        workflow_key="antagonistic-tag", title="Officer tagged in a hostile thread about the College's exam fees",
        summary="[demo] The officer has not replied, as 2.26 asks.", subject=officer, severity="low",
        post=PostInput(platform="x", author_handle="@angry_registrar", posted_at=now - timedelta(hours=5),
                       text="@DrMorganEllis care to explain why your College is bleeding trainees dry?"),
    ), actor=users["officer"]))

    member_record = case_service.add_member(session, case_service.MemberDetails(
        name=member.name, membership_number="DEMO-40231", branch="North West Radiographers",
        workplace="St Elsewhere General, imaging department", employer="St Elsewhere NHS Foundation Trust",
        job_title="Band 6 radiographer", manager="Alex Manager (imaging services manager)",
        access_needs="Prefers meetings after 10:00 (school run).", joined_on=(now - timedelta(days=900)).date(),
        subs_in_order=True, consent_given=True), actor=rep, person=member)
    case_file = case_service.open_case_file(
        session, registry, member=member_record,
        title="Member facing disciplinary over Facebook comments about a manager",
        issue_arose_on=(now - timedelta(days=10)).date(), workflow_key="employer-disciplinary", rep=rep, actor=rep)
    case = case_file.tracks[0]
    incident_service.take_transition(session, registry, case, "check_membership", actor=rep,
                                     values={"subs_in_order": True, "four_week_rule_ok": True})
    opened.append(case)

    problem = incident_service.open_incident(session, registry, OpenRequest(
        workflow_key="problem-solving", title="Contributor's profile lacks a personal-views disclaimer",
        summary="[demo] Spotted during routine monitoring.", subject=contributor, assignee=director,
        severity="low", clauses=["rcr:2.4"],
    ), actor=comms)
    opened.append(problem)
    return len(opened)
