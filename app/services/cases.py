"""Members and their case files: the union side's one home for opening a file, its parallel tracks,
the regulator-referral prompt, reallocation between reps, and the rep's week.

Each function takes the actor, checks permission, writes audit rows and flushes; callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.clock import utcnow
from app.models import (
    CaseFile,
    CaseFileRep,
    Deadline,
    Employer,
    Incident,
    IncidentLink,
    Meeting,
    Member,
    Person,
    User,
    Warning,
)
from app.permissions import (
    CASE_HOLDER_ROLES,
    can_break_glass_case_file,
    can_hold_case_file,
    can_open_case_file,
    can_view_case_file,
    can_work_case_file,
    visible_case_files,
)
from app.services import NotFound, ServiceError, audit
from app.services import access as access_service
from app.services.deadlines import calendar_for
from app.services.incidents import OpenRequest, open_incident
from app.timing import LONDON
from app.timing.durations import DurationError, due_date, parse_duration
from app.workflow import WorkflowRegistry

PRIMARY_WORKFLOWS = ("employer-disciplinary", "advice")
REGULATOR_WORKFLOWS = ("regulator-ftp-hcpc", "regulator-ftp-nmc", "regulator-ftp-gmc")
MEMBERSHIP_NUMBER_MAX = 32


@dataclass
class MemberDetails:
    name: str
    membership_number: str
    branch: str | None = None
    workplace: str | None = None
    employer: str | None = None
    employer_appeal_window: str | None = None
    job_title: str | None = None
    manager: str | None = None
    access_needs: str | None = None
    joined_on: date | None = None
    subs_in_order: bool = False
    consent_given: bool = False
    consent_note: str | None = None
    email: str | None = None


def _clean(text: str | None, limit: int) -> str | None:
    value = (text or "").strip()
    return value[:limit] or None


def _employer(session: Session, name: str | None, appeal_window: str | None) -> Employer | None:
    name = _clean(name, 200)
    if name is None:
        if appeal_window:
            raise ServiceError("Name the employer whose appeal window this is.")
        return None
    employer = session.scalar(select(Employer).where(func.lower(Employer.name) == name.lower()))
    if employer is None:
        employer = Employer(name=name, policy_durations={})
        session.add(employer)
    if appeal_window:
        try:
            duration = parse_duration(appeal_window.strip())
        except DurationError as error:
            raise ServiceError(f"Employer's appeal window: {error} (for example '10 working days').") from None
        employer.policy_durations = {**(employer.policy_durations or {}), "appeal_window": str(duration)}
    return employer


def add_member(session: Session, details: MemberDetails, *, actor: User, person: Person | None = None) -> Member:
    """A new member (and the person behind them, unless ``person`` is already on file, e.g. as the author of a
    post). The membership number must be new."""
    if not can_open_case_file(actor):
        raise ServiceError("Only reps, regional officers and administrators record members.")
    name = _clean(details.name, 200)
    number = (details.membership_number or "").strip()
    if not name:
        raise ServiceError("Give the member's name.")
    if not number or len(number) > MEMBERSHIP_NUMBER_MAX or not all(c.isalnum() or c in "-/" for c in number):
        raise ServiceError(f"Membership number: use letters, digits, '-' or '/', at most {MEMBERSHIP_NUMBER_MAX}.")
    if session.scalar(select(Member.id).where(Member.membership_number == number)) is not None:
        raise ServiceError(f"Membership number {number} is already on file: open the case for that member, "
                           "or check the number.")
    today = utcnow().astimezone(LONDON).date()
    if details.joined_on is not None and details.joined_on > today:
        raise ServiceError("Joined on: the date is in the future.")
    if person is None:
        person = Person(name=name, role="member", email=_clean(details.email, 254))
    member = Member(
        person=person, membership_number=number, branch=_clean(details.branch, 200),
        workplace=_clean(details.workplace, 200),
        employer=_employer(session, details.employer, details.employer_appeal_window),
        job_title=_clean(details.job_title, 200), manager=_clean(details.manager, 200),
        access_needs=_clean(details.access_needs, 5000), joined_on=details.joined_on,
        subs_in_order=details.subs_in_order,
        consent_recorded_at=utcnow() if details.consent_given else None,
        consent_note=_clean(details.consent_note, 2000),
    )
    session.add(member)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same number saved by someone else a moment ago
        raise ServiceError(f"Membership number {number} is already on file.") from None
    audit.record(session, actor=actor, action="member.created", object_type="member", object_id=member.id,
                 data={"membership_number": number})
    return member


def open_case_file(session: Session, registry: WorkflowRegistry, *, member: Member, title: str,
                   issue_arose_on: date | None, workflow_key: str, rep: User, actor: User) -> CaseFile:
    """A case file for the member with its first track (a disciplinary case, or advice), held by ``rep``."""
    if not can_open_case_file(actor):
        raise ServiceError("Only reps, regional officers and administrators open members' case files.")
    if workflow_key not in PRIMARY_WORKFLOWS:
        raise ServiceError(f"Start a case file with one of: {', '.join(PRIMARY_WORKFLOWS)}.")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ServiceError("Give the case a title of at most 200 characters.")
    if issue_arose_on is not None and issue_arose_on > utcnow().astimezone(LONDON).date():
        raise ServiceError("The issue arose on: the date is in the future.")
    if rep.role not in CASE_HOLDER_ROLES or not rep.active or rep.team_id is None:
        raise ServiceError("Choose an active rep or regional officer with a team to hold the case.")
    first = open_incident(session, registry, OpenRequest(
        workflow_key=workflow_key, title=title, subject=member.person, assignee=rep, team=rep.team), actor=actor)
    # The file shares its first track's number (BD-2026-00042 → CF-2026-00042): one sequence, no gaps.
    case_file = CaseFile(reference=first.reference.replace("BD-", "CF-", 1), member=member, title=title,
                         team_id=rep.team_id, issue_arose_on=issue_arose_on, created_by_id=actor.id)
    session.add(case_file)
    case_file.reps.append(CaseFileRep(user_id=rep.id, assigned_by_id=actor.id, reason="Opened the case file."))
    first.case_file = case_file
    session.flush()
    audit.record(session, actor=actor, action="case_file.opened", incident=first, object_type="case_file",
                 object_id=case_file.id,
                 data={"reference": case_file.reference, "member": member.membership_number, "rep": rep.email})
    return case_file


def get_case_file(session: Session, case_file_id: int, actor: User) -> CaseFile:
    """The case file if ``actor`` may read it, else NotFound (and an audit row when it exists)."""
    case_file = session.get(CaseFile, case_file_id)
    if case_file is None:
        raise NotFound("No such case file.")
    if not can_view_case_file(actor, case_file):
        if not can_break_glass_case_file(actor, case_file):
            audit.record(session, actor=actor, action="access.denied", object_type="case_file",
                         object_id=case_file.id)
        raise NotFound("No such case file.")
    return case_file


def break_glass(session: Session, case_file: CaseFile, *, actor: User, reason: str) -> None:
    """An administrator opens a member's file for an hour, every track of it, with an audited reason."""
    if not can_break_glass_case_file(actor, case_file):
        raise ServiceError("Break glass is for administrators opening a member's file they cannot otherwise see.")
    for track in case_file.tracks:
        access_service.break_glass(session, track, actor=actor, reason=reason)


@dataclass(frozen=True)
class MembershipCheck:
    subs_in_order: bool
    qualifying: str | None  # "4 weeks"
    qualifies: bool | None  # None: a date is missing, so nobody can tell yet
    explanation: str


def membership_check(session: Session, registry: WorkflowRegistry, case_file: CaseFile) -> MembershipCheck:
    """Subscriptions in order, and the qualifying-membership rule of the case's first workflow."""
    member = case_file.member
    definition = registry.current.get(case_file.tracks[0].workflow_key) if case_file.tracks else None
    qualifying = definition.qualifying_membership if definition else None
    if qualifying is None:
        return MembershipCheck(member.subs_in_order, None, True, "No qualifying period applies.")
    if member.joined_on is None or case_file.issue_arose_on is None:
        return MembershipCheck(member.subs_in_order, qualifying, None,
                               "Record when the member joined and when the issue arose to check this.")
    earliest = due_date(member.joined_on, parse_duration(qualifying), calendar_for(session, "england-and-wales"))
    if case_file.issue_arose_on >= earliest:
        return MembershipCheck(member.subs_in_order, qualifying, True,
                               f"Joined {member.joined_on:%d %b %Y}; the issue arose on or after "
                               f"{earliest:%d %b %Y}.")
    return MembershipCheck(member.subs_in_order, qualifying, False,
                           f"Joined {member.joined_on:%d %b %Y}; the issue arose before {earliest:%d %b %Y}, "
                           f"inside the first {qualifying}: support needs a regional officer's agreement.")


def open_track(session: Session, registry: WorkflowRegistry, case_file: CaseFile, workflow_key: str, *,
               actor: User) -> Incident:
    """A further track alongside the others (e.g. a regulator's fitness-to-practise case)."""
    if not can_work_case_file(actor, case_file):
        raise ServiceError("You may not add tracks to this case file.")
    if workflow_key not in REGULATOR_WORKFLOWS:
        raise ServiceError(f"Add one of: {', '.join(REGULATOR_WORKFLOWS)} (the others open from their steps).")
    definition = registry.get(workflow_key)
    primary = case_file.tracks[0]
    rep = next((r.user for r in case_file.reps if r.ended_at is None), None)
    track = open_incident(session, registry, OpenRequest(
        workflow_key=workflow_key, title=f"{definition.title}: {case_file.title}"[:200], subject=primary.subject,
        assignee=rep, team=case_file.team, calendar=primary.calendar, case_file=case_file), actor=actor,
        check_role=False)
    session.add(IncidentLink(from_id=primary.id, to_id=track.id, relation="regulator_track"))
    case_file.regulator_check = "track_opened"
    audit.record(session, actor=actor, action="incident.linked", incident=primary, object_type="incident",
                 object_id=track.id, data={"relation": "regulator_track", "to": track.reference})
    session.flush()
    return track


def no_regulator_referral(session: Session, case_file: CaseFile, *, actor: User, reason: str) -> None:
    if not can_work_case_file(actor, case_file):
        raise ServiceError("You may not answer for this case file.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ServiceError("Say why no regulator referral is expected (a few words).")
    case_file.regulator_check = "not_needed"
    audit.record(session, actor=actor, action="case_file.regulator_check", incident=case_file.tracks[0],
                 comment=reason[:2000], data={"answer": "not_needed"})
    session.flush()


def reallocate(session: Session, case_file: CaseFile, to: User, *, actor: User, reason: str,
               keep_current: bool = False) -> None:
    """Hand the file to another rep (or add a second rep). Earlier reps' rows stay, with their end time, and
    every open track follows the new rep; the history of each track is untouched."""
    if not can_work_case_file(actor, case_file):
        raise ServiceError("You may not reallocate this case file.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ServiceError("Say why the case is being reallocated (a few words).")
    if not can_hold_case_file(to, case_file):
        raise ServiceError(f"{to.name} cannot hold this case: choose an active rep or regional officer of its team.")
    if to.id in case_file.current_rep_ids():
        raise ServiceError(f"{to.name} already holds this case.")
    now = utcnow()
    ended = []
    if not keep_current:
        for row in case_file.reps:
            if row.ended_at is None:
                row.ended_at = now
                ended.append(row.user.email)
    case_file.reps.append(CaseFileRep(user_id=to.id, assigned_by_id=actor.id, assigned_at=now, reason=reason[:2000]))
    for track in case_file.tracks:
        if track.closed_at is None and not keep_current:
            track.assignee = to
            track.bump_version()
        audit.record(session, actor=actor, action="case_file.reallocated", incident=track, comment=reason[:2000],
                     data={"from": ended, "to": to.email, "added": keep_current})
    session.flush()


def visible_case_file_list(session: Session, actor: User, limit: int = 200) -> list[CaseFile]:
    return list(session.scalars(
        select(CaseFile).where(visible_case_files(actor)).order_by(CaseFile.id.desc()).limit(limit)
        .options(selectinload(CaseFile.member).selectinload(Member.person), selectinload(CaseFile.tracks))
    ))


@dataclass
class RepWeek:
    cases: list[CaseFile] = field(default_factory=list)
    due: list[Deadline] = field(default_factory=list)
    hearings: list[Meeting] = field(default_factory=list)
    warnings: list[tuple[Warning, CaseFile]] = field(default_factory=list)


def rep_week(session: Session, actor: User, now: datetime | None = None) -> RepWeek:
    """The rep's home: the files they hold, what falls due in the next 7 days (and anything overdue),
    hearings to come, and warnings on their members that expire within 30 days."""
    now = now or utcnow()
    held = select(CaseFileRep.case_file_id).where(CaseFileRep.user_id == actor.id, CaseFileRep.ended_at.is_(None))
    cases = list(session.scalars(
        select(CaseFile).where(CaseFile.id.in_(held)).order_by(CaseFile.id.desc())
        .options(selectinload(CaseFile.member).selectinload(Member.person), selectinload(CaseFile.tracks))
    ))
    track_ids = [t.id for c in cases for t in c.tracks]
    due = list(session.scalars(
        select(Deadline).where(Deadline.incident_id.in_(track_ids), Deadline.status == "running",
                               Deadline.due_at <= now + timedelta(days=7)).order_by(Deadline.due_at)
        .options(selectinload(Deadline.incident))
    )) if track_ids else []
    hearings = list(session.scalars(
        select(Meeting).where(Meeting.incident_id.in_(track_ids), Meeting.status == "scheduled",
                              Meeting.scheduled_at >= now).order_by(Meeting.scheduled_at)
        .options(selectinload(Meeting.incident))
    )) if track_ids else []
    today = now.astimezone(LONDON).date()
    by_person = {c.member.person_id: c for c in cases}
    warnings = [
        (w, by_person[w.person_id]) for w in session.scalars(
            select(Warning).where(Warning.person_id.in_(list(by_person)), Warning.incident_id.in_(track_ids),
                                  Warning.expires_on > today, Warning.expires_on <= today + timedelta(days=30))
            .order_by(Warning.expires_on))
    ] if by_person else []
    return RepWeek(cases=cases, due=due, hearings=hearings, warnings=warnings)


def meetings_of(session: Session, case_file: CaseFile) -> list[Meeting]:
    ids = [t.id for t in case_file.tracks]
    return list(session.scalars(
        select(Meeting).where(Meeting.incident_id.in_(ids)).order_by(Meeting.scheduled_at, Meeting.id)
    )) if ids else []


def warnings_of(session: Session, case_file: CaseFile) -> list[Warning]:
    ids = [t.id for t in case_file.tracks]
    return list(session.scalars(
        select(Warning).where(Warning.incident_id.in_(ids)).order_by(Warning.issued_on)
    )) if ids else []
