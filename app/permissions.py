"""Who may see and do what. Every view, list, count, e-mail and API call asks here; anything not
allowed is denied.

Need-to-know, in short:
- the assignee, the person who logged it, and anyone it was explicitly shared with (with a reason)
  may read an incident;
- a college-side incident (reported posts, press, tags…) is also read by its owning comms team, the
  Director of Communications and the press office;
- a union- or regulator-side incident (a member's case) is also read by the regional officers of the
  owning team, never by the communications team;
- a track of a member's case file (employer disciplinary, appeal, tribunal clock, regulator, advice)
  is read only by the case file's current reps, the regional officers of its team and anyone it was
  shared with: not by whoever opened it once the case moved on, and not by administrators without
  "breaking glass" with a recorded reason;
- administrators read everything except restricted (special-category) files and members' case files,
  which they may know exist but must "break glass" to open, giving a reason that is audited;
- auditors read the audit trail, not case files.

``can_view``/``visible_incidents`` and ``can_know``/``knowable_incidents`` each encode one rule twice
(for a loaded row and as SQL); a test checks every pair agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    and_,
    bindparam,
    exists,
    false,
    or_,
    select,
    true,
    union,
)

from app.clock import utcnow
from app.models import CaseFile, CaseFileRep, Incident, IncidentShare, User
from app.roles import Role
from app.workflow.definition import TransitionDef, WorkflowDef

COLLEGE_WIDE_ROLES = (Role.DIRECTOR_OF_COMMS, Role.PRESS_OFFICE)
# Roles that read a file without working it: auditors, and the officers and contributors who passed it on.
PASSERS_ON = (Role.AUDITOR, Role.OFFICER, Role.CONTRIBUTOR)


class ReadableIncident(Protocol):
    """What the rules below read of an incident to say who may read it: an ``Incident``, or the deadline sweep's
    plain row of one (``app.services.sweep.PassedIncident``), which the sweep loads with the same columns, shares
    and case file so that the rules keep one home."""

    @property
    def case_file(self) -> CaseFile | None: ...
    @property
    def restricted(self) -> bool: ...
    @property
    def side(self) -> str: ...
    @property
    def team_id(self) -> int | None: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def created_by_id(self) -> int | None: ...
    @property
    def shares(self) -> list[IncidentShare]: ...


def _has_share(user: User, incident: ReadableIncident) -> bool:
    return user.id in _shared_with(incident)


def _shared_with(incident: ReadableIncident) -> Iterator[int]:
    """The users the incident is shared with now (a share ends when revoked or expired)."""
    now = utcnow()
    return (share.user_id for share in incident.shares if share.is_active(now))


def _is_regional_officer_of(user: User, team_id: int | None) -> bool:
    return user.role == Role.REGIONAL_OFFICER and user.team_id is not None and team_id == user.team_id


def can_view(user: User | None, incident: ReadableIncident) -> bool:
    """May ``user`` read this incident's file? Their role's view of its group, or their own part in it."""
    if user is None or not user.active:
        return False
    # The role's view is settled from the row's own columns; only when it says no are the shares read (a
    # query of their own the first time), so most checks cost no query at all.
    return _role_reads(user, incident) or _reads_personally(user, incident)


# What a role's view of an incident depends on, the values of ``GroupColumns`` (``visible_by_group``'s columns):
# whether it is in a case file, restricted, its side and its team.
GroupValues = tuple[bool, bool, str, int | None]


def _group_of(incident: ReadableIncident) -> GroupValues:
    return incident.case_file is not None, incident.restricted, incident.side, incident.team_id


def _role_reads(user: User, incident: ReadableIncident) -> bool:
    """The Python twin of ``visible_by_group``: what the user's role alone lets them read."""
    return _role_reads_group(user, _group_of(incident))


def _role_reads_group(user: User, group: GroupValues) -> bool:
    """``_role_reads`` from the incident's group values alone (``Readers`` keeps its verdicts by them)."""
    in_case_file, restricted, side, team_id = group
    if in_case_file:
        return _is_regional_officer_of(user, team_id)
    if restricted:
        return False
    if user.role == Role.ADMIN:
        return True
    if side == "college":
        if user.role in COLLEGE_WIDE_ROLES:
            return True
        return user.role == Role.COMMS and user.team_id is not None and team_id == user.team_id
    return _is_regional_officer_of(user, team_id)


def _reads_personally(user: User, incident: ReadableIncident) -> bool:
    """The Python twin of ``visible_personally``: outside case files their own, a case file's tracks while they
    are its rep, and anything shared with them."""
    return user.id in _named_readers(incident)  # stops at the first match: the shares are read only if needed


def _named_readers(incident: ReadableIncident) -> Iterator[int | None]:
    """The ids of the users the incident names as readers, cheapest first."""
    if incident.case_file is not None:
        yield from incident.case_file.current_rep_ids()
    else:
        yield incident.assignee_id
        yield incident.created_by_id
    yield from _shared_with(incident)


def readers_among(users: Iterable[User], incident: Incident) -> list[User]:
    """Those of ``users`` who may read the incident (``can_view`` for each), in the order given."""
    return Readers(users).of(incident)


class _UserGroup(NamedTuple):
    """Users of one role and team among ``Readers``' users: their positions, and the same by user id (a user given
    twice is at two positions)."""

    positions: list[int]
    by_id: dict[int, list[int]]


class Readers:
    """Who among a fixed set of users may read each of many incidents (``can_view`` for each). The active users are
    grouped by role and team once, and which of those groups a role's view shuts out is worked out once per group of
    incidents (``GroupValues``): the deadline sweep asks it of the same team or role for thousands of incidents, and
    reading every user's role, team and state again for each was most of a million attribute reads a sweep."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users = [user for user in users if user.active]
        self._groups: dict[tuple[str, int | None], _UserGroup] = {}  # (role, team) -> its users
        for position, user in enumerate(self._users):
            group = self._groups.setdefault((user.role, user.team_id), _UserGroup([], {}))
            group.positions.append(position)
            group.by_id.setdefault(user.id, []).append(position)
        # An incident's group -> the user groups whose role does not let them read it (a sweep asks of thousands of
        # incidents that fall in a few dozen groups).
        self._shut_out: dict[GroupValues, list[_UserGroup]] = {}

    def of(self, incident: ReadableIncident) -> list[User]:
        """The readers of ``incident``, in the order the users were given."""
        incident_group = _group_of(incident)
        shut_out = self._shut_out.get(incident_group)
        if shut_out is None:
            shut_out = self._shut_out[incident_group] = [
                users for users in self._groups.values()
                if not _role_reads_group(self._users[users.positions[0]], incident_group)]
        if not shut_out:
            return list(self._users)
        named = set(_named_readers(incident))
        left_out: set[int] = set()
        for users in shut_out:
            # The group is left out but for those the incident names (a handful, against a team of a hundred).
            left_out.update(users.positions)
            for user_id in named:
                left_out.difference_update(users.by_id.get(user_id, ()))
        if not left_out:
            return list(self._users)
        return [user for position, user in enumerate(self._users) if position not in left_out]


def can_know(user: User | None, incident: Incident) -> bool:
    """May ``user`` know the incident exists (see it listed, be offered "break glass")?"""
    return can_view(user, incident) or (user is not None and user.active and user.role == Role.ADMIN)


def _share_exists(user: User | ActorInSQL, now: datetime | BindParameter[Any] | None = None) -> ColumnElement[bool]:
    now = utcnow() if now is None else now
    return exists().where(
        IncidentShare.incident_id == Incident.id, IncidentShare.user_id == user.id, IncidentShare.revoked_at.is_(None),
        or_(IncidentShare.expires_at.is_(None), IncidentShare.expires_at > now),
    )


def _case_rep_exists(user: User | ActorInSQL) -> ColumnElement[bool]:
    return exists().where(CaseFileRep.case_file_id == Incident.case_file_id, CaseFileRep.user_id == user.id,
                          CaseFileRep.ended_at.is_(None))


@dataclass(frozen=True)
class GroupColumns:
    """The columns that decide what a role sees of an incident without naming anyone: whether it is a track of a
    case file, restricted, its side and its team. Incidents have them, and so do the dashboard's running counts
    (``incident_counts``), which is how a count can respect access control without reading every row."""

    in_case_file: ColumnElement[bool]
    restricted: Any
    side: Any
    team_id: Any


INCIDENT_GROUP = GroupColumns(Incident.case_file_id.is_not(None), Incident.restricted, Incident.side,
                              Incident.team_id)


def visible_incidents(user: User | ActorInSQL | None,
                      now: datetime | BindParameter[Any] | None = None) -> ColumnElement[bool]:
    """The SQL form of ``can_view``: a WHERE clause for searches, counts and exports. What the user's role sees
    of a whole group of incidents, or what the user sees personally (their own, shared with them, their case).
    ``now`` (default: the clock) is when a share must still run."""
    if user is None or not user.active:
        return false()
    # The group's column tests come first: SQLite evaluates an OR left to right and stops at the first true
    # term, so most rows are settled without probing incident_shares (dashboards count many rows this way).
    return or_(visible_by_group(user, INCIDENT_GROUP), visible_personally(user, now))


def visible_by_group(user: User | ActorInSQL, group: GroupColumns) -> ColumnElement[bool]:
    """The part of ``visible_incidents`` that depends only on an incident's group columns (the role's view)."""
    if not user.active:
        return false()
    unrestricted_outside = and_(~group.in_case_file, group.restricted.is_(False))
    if user.role == Role.ADMIN:
        return unrestricted_outside
    if user.role == Role.REGIONAL_OFFICER and user.team_id is not None:
        # A regional officer reads their team's case files (restricted or not) and its other union-side files.
        return and_(group.team_id == user.team_id,
                    or_(group.in_case_file, and_(unrestricted_outside, group.side != "college")))
    if user.role in COLLEGE_WIDE_ROLES:
        return and_(unrestricted_outside, group.side == "college")
    if user.role == Role.COMMS and user.team_id is not None:
        return and_(unrestricted_outside, group.side == "college", group.team_id == user.team_id)
    return false()


def visible_personally(user: User | ActorInSQL,
                       now: datetime | BindParameter[Any] | None = None) -> ColumnElement[bool]:
    """The part of ``visible_incidents`` that names the user: outside case files their own (assignee or logger),
    a case file's tracks while they are its rep, and anything shared with them."""
    if not user.active:
        return false()
    own = or_(Incident.assignee_id == user.id, Incident.created_by_id == user.id)
    return or_(and_(Incident.case_file_id.is_(None), own),
               and_(Incident.case_file_id.is_not(None), _case_rep_exists(user)),
               _share_exists(user, now))


def personal_candidates(user: User, among: ColumnElement[bool] | None = None) -> CompoundSelect:
    """Ids of every incident ``visible_personally`` could hold for ``user``, each part read through its own
    index (a superset: callers still apply the predicate). ``among``, a test of the incident's own columns, narrows
    the parts read from incidents (someone assigned thousands in their own team's group has a handful outside it;
    PostgreSQL reads those from the covering indexes of migration 0024)."""
    narrow = [] if among is None else [among]
    return union(
        select(Incident.id).where(Incident.assignee_id == user.id, *narrow),
        select(Incident.id).where(Incident.created_by_id == user.id, *narrow),
        select(IncidentShare.incident_id).where(IncidentShare.user_id == user.id),
        select(Incident.id).join(CaseFileRep, CaseFileRep.case_file_id == Incident.case_file_id)
        .where(CaseFileRep.user_id == user.id, CaseFileRep.ended_at.is_(None), *narrow),
    )


def knowable_incidents(user: User | ActorInSQL | None,
                       now: datetime | BindParameter[Any] | None = None) -> ColumnElement[bool]:
    """The SQL form of ``can_know``: what a list may show (restricted rows masked unless viewable)."""
    if user is not None and user.active and user.role == Role.ADMIN:
        return true()
    return visible_incidents(user, now)


@dataclass(frozen=True)
class ActorInSQL:
    """A user as the SQL rules above read them, with the user's own values as named parameters: the id and team
    (``actor_id``, ``actor_team_id``), and the moment shares must still run (``NOW``). What is left is the user's
    shape (role, active, in a team or not): a statement built from ``ActorInSQL.of(user)`` serves every user of
    that shape, executed with ``parameters(user, now)`` — so a page can build its statement once instead of on
    every view (building and keying the queue page's statement was half of its query's CPU). The rules are the
    ones above; only their values become parameters."""

    role: str
    active: bool
    in_team: bool

    NOW = "visibility_now"

    @classmethod
    def of(cls, user: User) -> ActorInSQL:
        return cls(role=user.role, active=bool(user.active), in_team=user.team_id is not None)

    @property
    def id(self) -> BindParameter[Any]:
        return bindparam("actor_id")

    @property
    def team_id(self) -> BindParameter[Any] | None:
        return bindparam("actor_team_id") if self.in_team else None

    @classmethod
    def now(cls) -> BindParameter[Any]:
        return bindparam(cls.NOW)

    @classmethod
    def parameters(cls, user: User, now: datetime) -> dict[str, Any]:
        return {"actor_id": user.id, "actor_team_id": user.team_id, cls.NOW: now}


def can_break_glass(user: User, incident: Incident) -> bool:
    return can_know(user, incident) and not can_view(user, incident) and user.role == Role.ADMIN


def can_share(user: User, incident: Incident) -> bool:
    """The assignee, a regional officer or Director who can read it, or an administrator may share it."""
    if not can_view(user, incident):
        return False
    return (incident.assignee_id == user.id
            or user.role in (Role.ADMIN, Role.REGIONAL_OFFICER, Role.DIRECTOR_OF_COMMS))


def can_open(user: User, definition: WorkflowDef) -> bool:
    return user.active and user.role in definition.open_roles


def can_transition(user: User, incident: Incident, transition: TransitionDef) -> bool:
    """The predicate the template uses to show a button and the view uses to accept it."""
    return can_view(user, incident) and incident.state in transition.from_states and user.role in transition.roles


def can_manage_deadlines(user: User, incident: Incident) -> bool:
    """Record agreed extensions: people who work the case, not auditors or the officers and contributors who
    passed it on."""
    return can_view(user, incident) and user.role not in PASSERS_ON and incident.closed_at is None


# Roles that work cases, so may hold them; and the roles that hand cases out (the queue's bulk assign).
ASSIGNABLE_ROLES = (Role.COMMS, Role.DIRECTOR_OF_COMMS, Role.PRESS_OFFICE, Role.REP, Role.REGIONAL_OFFICER)
ASSIGNING_ROLES = (Role.ADMIN, Role.COMMS, Role.DIRECTOR_OF_COMMS, Role.PRESS_OFFICE, Role.REGIONAL_OFFICER)


def can_assign(user: User, incident: Incident, *, readable: bool | None = None) -> bool:
    """Give an open incident to someone (or take it off them): those who can read it and hand out work.
    ``readable``: ``can_view`` already decided for this row (the queue knows it from its visibility SQL)."""
    if user.role not in ASSIGNING_ROLES or incident.closed_at is not None:
        return False
    if incident.case_file_id is not None:
        return False  # a member's file changes hands by reallocating the file (cases.reallocate), never one track

    return can_view(user, incident) if readable is None else readable


def can_be_assigned(user: User, incident: Incident) -> bool:
    """May ``user`` hold this incident? College-side cases go to comms (their team), the Director or the press
    office; members' cases to the reps and regional officers of the owning team."""
    if not user.active or user.role not in ASSIGNABLE_ROLES:
        return False
    if incident.side == "college":
        if user.role == Role.COMMS:
            return user.team_id is not None and user.team_id == incident.team_id
        return user.role in COLLEGE_WIDE_ROLES
    return user.role in (Role.REP, Role.REGIONAL_OFFICER) and user.team_id is not None \
        and user.team_id == incident.team_id


def can_see_outbox(user: User) -> bool:
    return user.active and user.role == Role.ADMIN


def can_view_person(session, user: User, person) -> bool:  # type: ignore[no-untyped-def]
    """Someone may see a person's record only through an incident about them that they may see."""
    if not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    return session.scalar(
        select(Incident.id).where(Incident.subject_id == person.id, visible_incidents(user)).limit(1)
    ) is not None


def visible_people(user: User) -> ColumnElement[bool]:
    """The SQL form of ``can_view_person`` (e.g. the people offered as a post's author)."""
    from app.models import Person

    if not user.active:
        return false()
    if user.role == Role.ADMIN:
        return true()
    return exists().where(Incident.subject_id == Person.id, visible_incidents(user))


def can_decide_suggestions(user: User, incident: Incident) -> bool:
    """Accept or reject the clauses and severity suggested from a post: the people who triage it."""
    return can_view(user, incident) and user.role not in PASSERS_ON and incident.closed_at is None


def can_add_evidence(user: User, incident: Incident) -> bool:
    return can_view(user, incident) and user.role != Role.AUDITOR and incident.closed_at is None


def can_escalate(user: User, definitions: list[WorkflowDef]) -> bool:
    """The Escalate page: anyone who may open one of its workflows (antagonistic tag, press referral)."""
    return any(can_open(user, d) for d in definitions)


def can_see_referral_queue(user: User) -> bool:
    """The Director of Communications' queue of tags and press referrals."""
    return user.active and user.role in (Role.DIRECTOR_OF_COMMS, Role.COMMS, Role.ADMIN)


def can_see_press_queue(user: User) -> bool:
    return user.active and user.role in (Role.PRESS_OFFICE, Role.DIRECTOR_OF_COMMS, Role.COMMS, Role.ADMIN)


def can_manage_rota(user: User) -> bool:
    return user.active and user.role == Role.ADMIN


def can_manage_data_protection(user: User) -> bool:
    """Subject access, legal holds, retention, erasure and disclosure copies: administrators (the DPO)."""
    return user.active and user.role == Role.ADMIN


# ------------------------------------------------------------------------------------- members' case files

CASE_ROLES = (Role.REP, Role.REGIONAL_OFFICER, Role.ADMIN)


def can_open_case_file(user: User) -> bool:
    return user.active and user.role in CASE_ROLES


def can_view_case_file(user: User | None, case_file: CaseFile) -> bool:
    """The member's file: its current reps, the regional officers of its team, and whoever may read one of
    its tracks through a share (an administrator's break glass is a share with a reason)."""
    if user is None or not user.active:
        return False
    if user.id in case_file.current_rep_ids() or _is_regional_officer_of(user, case_file.team_id):
        return True
    return any(_has_share(user, track) for track in case_file.tracks)


def visible_case_files(user: User) -> ColumnElement[bool]:
    """The SQL form of ``can_view_case_file``."""
    if not user.active:
        return false()
    now = utcnow()
    rep = exists().where(CaseFileRep.case_file_id == CaseFile.id, CaseFileRep.user_id == user.id,
                         CaseFileRep.ended_at.is_(None))
    shared = exists().where(
        Incident.case_file_id == CaseFile.id, IncidentShare.incident_id == Incident.id,
        IncidentShare.user_id == user.id, IncidentShare.revoked_at.is_(None),
        or_(IncidentShare.expires_at.is_(None), IncidentShare.expires_at > now),
    )
    regional = (CaseFile.team_id == user.team_id if user.role == Role.REGIONAL_OFFICER and user.team_id is not None
                else false())
    return or_(rep, shared, regional)


def can_work_case_file(user: User, case_file: CaseFile) -> bool:
    """Add tracks, answer the regulator check, hand the file on: reps, regional officers, administrators."""
    return user.role in CASE_ROLES and can_view_case_file(user, case_file)


def can_break_glass_case_file(user: User, case_file: CaseFile) -> bool:
    return user.active and user.role == Role.ADMIN and not can_view_case_file(user, case_file)


CASE_HOLDER_ROLES = (Role.REP, Role.REGIONAL_OFFICER)


def can_hold_case_file(user: User, case_file: CaseFile) -> bool:
    """Who a file may be reallocated to: an active rep or regional officer of the file's team."""
    return user.active and user.role in CASE_HOLDER_ROLES and user.team_id is not None \
        and user.team_id == case_file.team_id


def case_holders(team_id: int | None) -> ColumnElement[bool]:
    """The SQL form of ``can_hold_case_file`` (any team when ``team_id`` is None: an administrator opening a file)."""
    holders = and_(User.active.is_(True), User.role.in_(CASE_HOLDER_ROLES), User.team_id.is_not(None))
    return holders if team_id is None else and_(holders, User.team_id == team_id)


# ------------------------------------------------------------------------------------------- dashboards

# Whose dashboard each role sees at /dashboard. Its figures are always counted over visible_incidents(user).
DASHBOARD_AUDIENCES = {Role.COMMS: "comms", Role.DIRECTOR_OF_COMMS: "director", Role.PRESS_OFFICE: "director",
                       Role.REP: "regional", Role.REGIONAL_OFFICER: "regional", Role.ADMIN: "admin"}


def dashboard_audience(user: User) -> str | None:
    return DASHBOARD_AUDIENCES.get(Role(user.role)) if user.active else None


def can_see_dashboard(user: User, audience: str) -> bool:
    """Administrators may open any audience's layout (the numbers stay what they may read); others their own."""
    own = dashboard_audience(user)
    return own is not None and (own == audience or user.role == Role.ADMIN)
