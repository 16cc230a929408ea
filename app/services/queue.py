"""The triage queue: filters from the URL, two sorts with keyset pagination, capped counts per state, bulk
assignment. The view reads the URL into ``QueueFilters`` and calls ``page``/``state_counts``/``export_rows``;
it never builds queries itself.

Pagination is keyset everywhere (no OFFSET: a deep page costs what the first does):
- newest first: the cursor is the last incident id shown;
- by next due date: incidents are walked in the order of their earliest *running* deadline through the
  (status, due_at) index; the cursor is that deadline's (due_at, id). Incidents without a running deadline
  come after all of those, newest first, with the cursor "none:<incident id>";
- best match (the default when searching): by search score, then newest, cursor "r:<score>~<id>", over the
  candidates app/services/search.py bounds (the newest CANDIDATES matches of each source), so a very common
  word costs no more than a rare one. "Newest first" with a search pages through every match.

Counts per state are shown only when one workflow is chosen (its states are then known and few) and each is
capped at ``COUNT_CAP`` rows, so a page never counts a million rows: "500+" says there are more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased, joinedload, load_only

from app.clock import utcnow
from app.models import AuditEvent, Deadline, Incident, IncidentClause, Person, Post, User
from app.models.incidents import SEVERITIES, VISIBILITY_COLUMNS
from app.models.people import PLATFORMS
from app.permissions import (
    ASSIGNABLE_ROLES,
    COLLEGE_WIDE_ROLES,
    ActorInSQL,
    can_assign,
    can_be_assigned,
    can_view,
    knowable_incidents,
    visible_incidents,
)
from app.services import NotFound, ServiceError, audit, search
from app.services.incidents import IncidentChangedElsewhere
from app.timing import LONDON

PAGE_SIZE = 50
COUNT_CAP = 500
SORTS = {"newest": "Newest first", "due": "Next due date", "relevance": "Best match"}
STATUSES = {"open": "Open", "closed": "Closed", "all": "All"}
REFERENCE = re.compile(r"^[A-Za-z]{1,8}-\d{4}-\d{1,9}$")
UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def is_id(text: str | None) -> bool:
    """Digits only and short enough for any integer column (a longer one would overflow the driver)."""
    return bool(text) and text.isascii() and text.isdigit() and len(text) <= 12  # type: ignore[union-attr]


def parse_uk_date(value: str) -> date:
    """A date typed the UK way (DD/MM/YYYY), or as a date input sends it (YYYY-MM-DD)."""
    match = UK_DATE.match(value)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day)
    return date.fromisoformat(value)


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters, read from the URL so a view can be bookmarked and shared."""

    workflow: str = ""
    state: str = ""
    assignee: str = ""  # "" any, "me", "none", or a user id
    clause: str = ""
    severity: str = ""
    overdue: bool = False
    platform: str = ""
    subject: int | None = None
    opened_from: date | None = None
    opened_to: date | None = None
    status: str = "open"
    q: str = ""
    sort: str = "newest"
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Any, workflow_keys: Sequence[str]) -> QueueFilters:
        """Read the URL; anything unknown is dropped, a bad date is reported in ``errors``."""
        def clean(name: str, limit: int = 64) -> str:  # NUL cannot be stored or searched in PostgreSQL text
            return str(args.get(name, "")).replace("\x00", "").strip()[:limit]

        errors: list[str] = []
        dates: dict[str, date | None] = {}
        for name, label in (("opened_from", "Opened from"), ("opened_to", "Opened to")):
            raw = clean(name, 20)
            dates[name] = None
            if raw:
                try:
                    dates[name] = parse_uk_date(raw)
                except ValueError:
                    errors.append(f"{label}: give a date as DD/MM/YYYY, for example 05/11/2026.")
        if dates["opened_from"] and dates["opened_to"] and dates["opened_from"] > dates["opened_to"]:
            errors.append("Opened from must be on or before Opened to.")
        assignee = clean("assignee")
        if assignee not in ("me", "none") and not is_id(assignee):
            assignee = ""
        subject = clean("subject")
        q = clean("q", 200)
        status, sort = clean("status") or "open", clean("sort")
        if sort not in SORTS or (sort == "relevance" and not q):
            sort = "relevance" if q and not sort else "newest"
        workflow = clean("workflow")
        return cls(
            workflow=workflow if workflow in workflow_keys else "", state=clean("state"), assignee=assignee,
            clause=clean("clause"), severity=s if (s := clean("severity")) in SEVERITIES else "",
            overdue=clean("overdue") in ("1", "on", "yes", "true"),
            platform=p if (p := clean("platform")) in PLATFORMS else "",
            subject=int(subject) if is_id(subject) else None,
            opened_from=dates["opened_from"], opened_to=dates["opened_to"],
            status=status if status in STATUSES else "open", q=q, sort=sort, errors=tuple(errors),
        )

    @property
    def terms(self) -> tuple[str, ...]:
        return search.terms_of(self.q) if self.q and not self.is_reference else ()

    @property
    def is_reference(self) -> bool:
        return bool(REFERENCE.match(self.q))

    @property
    def unsearchable(self) -> bool:
        """Something was typed, but nothing in it can be searched (only punctuation)."""
        return bool(self.q) and not self.is_reference and not self.terms

    @property
    def narrowed(self) -> bool:
        return self != QueueFilters(sort=self.sort)

    def as_args(self, **overrides: str) -> dict[str, str]:
        """The filters as URL arguments (defaults left out), for links, the pager and the exports."""
        values = {
            "workflow": self.workflow, "state": self.state, "assignee": self.assignee, "clause": self.clause,
            "severity": self.severity, "overdue": "1" if self.overdue else "", "platform": self.platform,
            "subject": str(self.subject) if self.subject else "",
            "opened_from": self.opened_from.strftime("%d/%m/%Y") if self.opened_from else "",
            "opened_to": self.opened_to.strftime("%d/%m/%Y") if self.opened_to else "",
            "status": self.status, "q": self.q,
            "sort": "" if self.sort == ("relevance" if self.q else "newest") else self.sort,
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v}

    def without_state(self) -> QueueFilters:
        return replace(self, state="")

    # --- the WHERE clause -------------------------------------------------------------------------
    def conditions(self, actor: User | ActorInSQL, dialect: str, below: int | None = None
                   ) -> list[ColumnElement[bool]]:
        """Every filter as SQL. Visibility is added by the caller (knowable for lists, visible for
        exports and for any text search). ``below``: the page wants only incidents with smaller ids (its cursor),
        which a filter on another table can use to start there."""
        where: list[ColumnElement[bool]] = []
        if self.workflow:
            where.append(Incident.workflow_key == self.workflow)
        if self.state:
            where.append(Incident.state == self.state)
        if self.assignee == "me":
            where.append(Incident.assignee_id == actor.id)
        elif self.assignee == "none":
            where.append(Incident.assignee_id.is_(None))
        elif self.assignee:
            where.append(Incident.assignee_id == int(self.assignee))
        if self.clause:
            where.append(exists().where(IncidentClause.incident_id == Incident.id,
                                        IncidentClause.clause_key == self.clause))
        if self.severity:
            where.append(Incident.severity == self.severity)
        if self.overdue:
            # "Breached or past due" is "running and due by now": the sweep marks a deadline breached only
            # once it is due, and an extension to a later time clears the mark (app/services/deadlines.py).
            # Asked this way the (status, due_at) index finds the few overdue deadlines directly. Below a page's
            # cursor the deadlines are bounded too: PostgreSQL merges them with the incidents in id order, and
            # without the bound read every running deadline above the cursor first (115 ms vs 6 at 1M).
            overdue = [Deadline.status == "running", Deadline.due_at <= utcnow()]
            if below is not None:
                overdue.append(Deadline.incident_id < below)
            where.append(Incident.id.in_(select(Deadline.incident_id).where(*overdue)))
        if self.platform:
            where.append(exists().where(Post.incident_id == Incident.id, Post.platform == self.platform))
        if self.subject:
            where.append(Incident.subject_id == self.subject)
        if self.opened_from:
            where.append(Incident.created_at >= _london_midnight(self.opened_from))
        if self.opened_to:
            where.append(Incident.created_at < _london_midnight(self.opened_to + timedelta(days=1)))
        if self.status == "open":
            where.append(Incident.closed_at.is_(None))
        elif self.status == "closed":
            where.append(Incident.closed_at.is_not(None))
        if self.is_reference:
            where.append(Incident.reference == self.q.upper())
        elif self.q and self.sort != "relevance":
            # An impossible term list (only punctuation) matches nothing; the page says why.
            where.append(Incident.id.in_(search.matching_ids(dialect, self.terms)) if self.terms else literal(False))
        return where

    def visibility(self, actor: User | ActorInSQL, now: datetime | BindParameter[Any] | None = None
                   ) -> ColumnElement[bool]:
        # A text match must never reveal a restricted file: searching needs the right to read, not only to know.
        return visible_incidents(actor, now) if self.terms else knowable_incidents(actor, now)

    def where(self, actor: User | ActorInSQL, dialect: str, *, now: datetime | BindParameter[Any] | None = None,
              below: int | None = None) -> list[ColumnElement[bool]]:
        """What a list under this filter may show: the visibility (``now``: when shares must still run; default the
        clock) and every condition."""
        return [self.visibility(actor, now), *self.conditions(actor, dialect, below=below)]

    @property
    def timeless(self) -> bool:
        """Whether the filter's SQL is the same at every moment and for every user of one shape (see
        ``ActorInSQL``): not "overdue" (due by now), not a text search (its candidates depend on the words)."""
        return not self.overdue and not self.terms


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), LONDON)


# --- one page ----------------------------------------------------------------------------------------

# What a row shows (and can_assign's closed_at), and what the permission checks read (the model's
# VISIBILITY_COLUMNS); the summary too where a search quotes a passage of it. The rest (form fields as JSON, the
# other timestamps) would be read and converted for nothing, fifty times a page. A column the page comes to show
# must be added here, or each row loads it with a query of its own: tests/test_queue.py counts the page's
# statements to catch that.
ROW_COLUMNS = (Incident.reference, Incident.title, Incident.workflow_key, Incident.state, Incident.severity,
               Incident.created_at, Incident.closed_at, Incident.version,
               *(getattr(Incident, name) for name in VISIBILITY_COLUMNS))


@dataclass
class QueueRow:
    incident: Incident
    readable: bool
    next_due: datetime | None = None
    title_html: Markup | None = None
    snippet_html: Markup | None = None


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    capped_search: bool = False  # relevance: ranked among the newest candidates only (search.CANDIDATES)


def page(session: Session, filters: QueueFilters, actor: User, cursor: str | None = None,
         size: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue for ``actor``."""
    if filters.errors or filters.unsearchable:
        return QueuePage([], None)
    dialect = session.get_bind().dialect.name
    relevance = filters.sort == "relevance" and bool(filters.terms)
    newest_first = not relevance and filters.sort != "due"
    before = int(cursor) if newest_first and is_id(cursor) else None
    if newest_first:
        if filters.timeless:
            query = _newest_first(filters, ActorInSQL.of(actor), dialect, paged=bool(before), size=size)
            parameters = {**ActorInSQL.parameters(actor, utcnow()), "before": before}
        else:  # "overdue" or a text search: the time or the words are in the statement
            query = select(Incident).where(*filters.where(actor, dialect, below=before))
            if before:
                query = query.where(Incident.id < before)
            query = query.options(*_row_options(searched=bool(filters.terms))).order_by(Incident.id.desc()) \
                .limit(size + 1)
            parameters = {}
        found = session.scalars(query, parameters).all()
        return _rows(session, filters, actor, [(i, None) for i in found[:size]],
                     str(found[size - 1].id) if len(found) > size else None, capped=False)
    where = filters.where(actor, dialect)
    eager = _row_options(searched=bool(filters.terms))
    if relevance:
        common = search.common_sources(session, filters.terms)
        hits = search.ranked_candidates(dialect, filters.terms, common=common).subquery("hits")
        query = select(Incident, hits.c.score).join(hits, hits.c.incident_id == Incident.id).where(*where)
        position = _relevance_cursor(cursor)
        if position is not None:
            score, last_id = position
            query = query.where(or_(hits.c.score > score, and_(hits.c.score == score, Incident.id < last_id)))
        found = session.execute(query.options(*eager).order_by(hits.c.score, Incident.id.desc())
                                .limit(size + 1)).all()
        incidents = [(incident, None) for incident, _score in found[:size]]
        next_cursor = f"r:{found[size - 1][1]!r}~{found[size - 1][0].id}" if len(found) > size else None
        return _rows(session, filters, actor, incidents, next_cursor, capped=True)
    incidents, next_cursor = _by_due(session, where, eager, cursor, size)
    return _rows(session, filters, actor, incidents, next_cursor, capped=False)


def _rows(session: Session, filters: QueueFilters, actor: User, incidents: list[tuple[Incident, datetime | None]],
          next_cursor: str | None, *, capped: bool) -> QueuePage:
    # Every row passed the visibility SQL: knowable rows are readable unless restricted, and those (a few per
    # page) are asked of can_view itself (their shares load lazily).
    rows = [QueueRow(incident, readable=not incident.restricted or can_view(actor, incident), next_due=due)
            for incident, due in incidents]
    if filters.terms:
        _add_snippets(session, rows, filters.terms)
    return QueuePage(rows, next_cursor, capped_search=capped)


@lru_cache(maxsize=256)
def _newest_first(filters: QueueFilters, actor: ActorInSQL, dialect: str, *, paged: bool,
                  size: int) -> Select[tuple[Incident]]:
    """The newest-first page's statement for a timeless filter and a user shape, built and keyed once (see
    ``ActorInSQL``): the user's id and team, the time and the cursor (``before``) are parameters. A few hundred
    cover the filters in use (each filter value is its own entry); the least recently used goes first."""
    query = select(Incident).where(*filters.where(actor, dialect, now=ActorInSQL.now()))
    if paged:
        query = query.where(Incident.id < bindparam("before"))
    return query.options(*_row_options(searched=False)).order_by(Incident.id.desc()).limit(size + 1)


def _row_options(*, searched: bool) -> tuple[Any, ...]:
    """Load what a row shows and the assignee's name; the summary too where a search quotes a passage of it."""
    return (load_only(*ROW_COLUMNS, *((Incident.summary,) if searched else ())),
            joinedload(Incident.assignee).load_only(User.name))


def _by_due(session: Session, where: list[ColumnElement[bool]], eager: tuple, cursor: str | None,
            size: int) -> tuple[list[tuple[Incident, datetime | None]], str | None]:
    """Incidents by their earliest running deadline (driven by the (status, due_at) index), then those
    with none, newest first."""
    out: list[tuple[Incident, datetime | None]] = []
    last_key: str | None = None
    phase_none = cursor is not None and cursor.startswith("none:")
    if not phase_none:
        earlier = aliased(Deadline)
        query = (
            select(Incident, Deadline.due_at, Deadline.id)
            .join(Deadline, Deadline.incident_id == Incident.id)
            .where(Deadline.status == "running", *where,
                   # Only the incident's earliest running deadline stands for it, so it is listed once. Looked up
                   # by incident (``status || ''`` keeps SQLite off the status index, which would read every
                   # running deadline due earlier: 0.2-0.3 s a page at a million incidents).
                   ~exists().where(earlier.incident_id == Deadline.incident_id,
                                   earlier.status + literal("") == "running",
                                   or_(earlier.due_at < Deadline.due_at,
                                       and_(earlier.due_at == Deadline.due_at, earlier.id < Deadline.id))))
        )
        position = _due_cursor(cursor)
        if position is not None:
            due, deadline_id = position
            # "due_at >= due" says the same as the OR below in a form the index can start from; without it
            # PostgreSQL read every running deadline due earlier (58 ms vs 3 ms at a million incidents).
            query = query.where(Deadline.due_at >= due,
                                or_(Deadline.due_at > due, and_(Deadline.due_at == due, Deadline.id > deadline_id)))
        found = session.execute(query.options(*eager).order_by(Deadline.due_at, Deadline.id).limit(size + 1)).all()
        for incident, due_at, deadline_id in found[:size]:
            out.append((incident, due_at))
            last_key = f"due:{due_at.isoformat()}~{deadline_id}"
        if len(found) > size:
            return out, last_key
    before = int(cursor[5:]) if phase_none and is_id(cursor[5:]) else None  # type: ignore[index]
    query = select(Incident).where(
        *where, ~exists().where(Deadline.incident_id == Incident.id, Deadline.status == "running"))
    if before:
        query = query.where(Incident.id < before)
    room = size - len(out)
    found_none = session.scalars(query.options(*eager).order_by(Incident.id.desc()).limit(room + 1)).all()
    out.extend((incident, None) for incident in found_none[:room])
    if len(found_none) > room:
        return out, f"none:{found_none[room - 1].id}" if room else last_key
    return out, None


def _relevance_cursor(cursor: str | None) -> tuple[float, int] | None:
    """"r:<score>~<incident id>": the score is written with repr, so it reads back to the same float."""
    if not cursor or not cursor.startswith("r:") or "~" not in cursor:
        return None
    score, _, incident_id = cursor[2:].rpartition("~")
    try:
        value = float(score)
    except ValueError:
        return None
    return (value, int(incident_id)) if is_id(incident_id) and math.isfinite(value) else None


def _due_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor or not cursor.startswith("due:") or "~" not in cursor:
        return None
    moment, _, deadline_id = cursor[4:].rpartition("~")
    try:
        due = datetime.fromisoformat(moment)
    except ValueError:
        return None
    if due.tzinfo is None or not is_id(deadline_id):
        return None
    return due, int(deadline_id)


def _add_snippets(session: Session, rows: list[QueueRow], terms: tuple[str, ...]) -> None:
    """Highlight the match: the title, and a passage of the summary, a post or a note that has a term.
    Only for rows the user may read; the text is fetched for this page only."""
    readable = {row.incident.id: row for row in rows if row.readable}
    if not readable:
        return
    texts: dict[int, list[str]] = {incident_id: [] for incident_id in readable}
    for incident_id, body in session.execute(
        select(Post.incident_id, Post.text).where(Post.incident_id.in_(readable), Post.text.is_not(None))
        .order_by(Post.id)
    ):
        texts[incident_id].append(body)
    for incident_id, body in session.execute(
        select(AuditEvent.incident_id, AuditEvent.comment)
        .where(AuditEvent.incident_id.in_(readable), AuditEvent.comment.is_not(None)).order_by(AuditEvent.id)
    ):
        texts[incident_id].append(body)
    for incident_id, row in readable.items():
        row.title_html = search.highlight_html(row.incident.title, terms)
        for body in [row.incident.summary or "", *texts[incident_id]]:
            snippet = search.snippet_html(body, terms)
            if snippet is not None:
                row.snippet_html = snippet
                break


# --- counts per state ----------------------------------------------------------------------------

@dataclass
class StateCount:
    state: str
    count: int
    capped: bool

    @property
    def label(self) -> str:
        return f"{COUNT_CAP:,}+" if self.capped else f"{self.count:,}"


def states_to_count(filters: QueueFilters, states: Sequence[tuple[str, bool]]) -> list[str]:
    """The states worth counting, from (state, is final) pairs: open incidents never stand in a final state
    and closed ones always do, so those counts would be zero (and cost a scan of the state's incidents)."""
    return [state for state, final in states
            if not (filters.status == "open" and final) and not (filters.status == "closed" and not final)]


def state_counts(session: Session, filters: QueueFilters, actor: User,
                 states: Sequence[tuple[str, bool]]) -> list[StateCount]:
    """How many incidents are in each state under the current filter (the state filter itself aside), each
    counted up to ``COUNT_CAP`` through the (workflow_key, state) index. Only for a chosen workflow; ``states``
    are its (state, is final) pairs."""
    wanted = states_to_count(filters, states)
    if not filters.workflow or not wanted or filters.errors or filters.unsearchable:
        return []
    if filters.q and filters.sort == "relevance":
        filters = replace(filters, sort="newest")  # a count needs every match, not the ranked candidates
    dialect = session.get_bind().dialect.name
    base = filters.without_state()
    if base.timeless:
        statement = _state_counts(base, ActorInSQL.of(actor), dialect, tuple(wanted))
        rows = session.execute(statement, ActorInSQL.parameters(actor, utcnow()))
    else:
        rows = session.execute(_count_each_state(base.where(actor, dialect), wanted))
    counted = {state: n for state, n in rows}
    return [StateCount(state, min(counted.get(state, 0), COUNT_CAP), counted.get(state, 0) > COUNT_CAP)
            for state in wanted]


@lru_cache(maxsize=256)
def _state_counts(filters: QueueFilters, actor: ActorInSQL, dialect: str, states: tuple[str, ...]) -> CompoundSelect:
    """The counts' statement for a timeless filter and a user shape, built and keyed once (as ``_newest_first``):
    building it took half of the counts' 2 ms of CPU a view at a million incidents."""
    return _count_each_state(filters.where(actor, dialect, now=ActorInSQL.now()), states)


def _count_each_state(where: list[ColumnElement[bool]], states: Sequence[str]) -> CompoundSelect:
    return union_all(*(
        select(literal(state).label("state"), func.count().label("n")).select_from(
            select(Incident.id).where(*where, Incident.state == state).limit(COUNT_CAP + 1).subquery())
        for state in states))


# --- exports --------------------------------------------------------------------------------------

def export_rows(session: Session, filters: QueueFilters, actor: User, limit: int) -> list[Incident]:
    """The current filter's incidents the user may read (never only "know"), newest first."""
    if filters.errors or filters.unsearchable:
        return []
    if filters.sort == "relevance":
        filters = replace(filters, sort="newest")  # an export holds every match, not the ranked few
    dialect = session.get_bind().dialect.name
    return list(session.scalars(
        select(Incident).where(visible_incidents(actor), *filters.conditions(actor, dialect))
        .options(joinedload(Incident.assignee)).order_by(Incident.id.desc()).limit(limit)
    ))


# --- choices for the filter form ----------------------------------------------------------------------

# Built once, with the team as a parameter: SQLAlchemy keys a statement object the first time it runs it, and a new
# statement each view made that key again (about half of the list's CPU, on every queue page view).
ASSIGNEE_LIMIT = 500
_ASSIGNEES = (select(User.id, User.name).where(User.active.is_(True), User.role.in_(ASSIGNABLE_ROLES))
              .order_by(User.name, User.id).limit(ASSIGNEE_LIMIT))
_ASSIGNEES_NEAR_TEAM = _ASSIGNEES.where(or_(User.team_id == bindparam("team_id"), User.role.in_(COLLEGE_WIDE_ROLES)))


def assignee_choices(session: Session, actor: User) -> list[tuple[str, str]]:
    """(user id, name) of the people the page offers as assignees (at most ``ASSIGNEE_LIMIT``): the actor's own team
    and the college-wide roles (everyone, for an administrator or someone without a team). Plain tuples: the page
    renders them twice. Whether someone may hold a given incident is decided per incident in app.permissions."""
    if actor.role != "admin" and actor.team_id is not None:
        rows = session.execute(_ASSIGNEES_NEAR_TEAM, {"team_id": actor.team_id})
    else:
        rows = session.execute(_ASSIGNEES)
    return [(str(user_id), name) for user_id, name in rows]


def subject_name(session: Session, filters: QueueFilters, actor: User) -> str | None:
    """The chosen subject's name, if the user may see someone with that id (else the filter just finds nothing)."""
    if not filters.subject:
        return None
    person = session.get(Person, filters.subject)
    from app.permissions import can_view_person

    return person.name if person is not None and can_view_person(session, actor, person) else None


# --- bulk assignment ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selected:
    incident_id: int
    version: int


def parse_selection(values: Sequence[str]) -> list[Selected]:
    """Checkbox values "<incident id>:<version the page showed>"; anything else is refused."""
    chosen: dict[int, Selected] = {}
    for value in values:
        incident_id, _, version = value.partition(":")
        if not (is_id(incident_id) and is_id(version)):
            raise ServiceError("The selection was not understood; reload the queue and choose again.")
        chosen[int(incident_id)] = Selected(int(incident_id), int(version))
    return list(chosen.values())


def bulk_assign(session: Session, selected: Sequence[Selected], assignee: User | None, *, actor: User) -> int:
    """Assign every selected incident to ``assignee`` (None: unassign), or none of them.

    Each must be one the actor may assign (else NotFound for one they may not read, ServiceError otherwise),
    still at the version the page showed (else IncidentChangedElsewhere), and the assignee must be able to
    work it. One audit row and one version bump per incident that changes. Returns how many changed."""
    if not selected:
        raise ServiceError("Choose at least one incident to assign.")
    incidents = {i.id: i for i in session.scalars(
        select(Incident).where(Incident.id.in_([s.incident_id for s in selected])).options(
            joinedload(Incident.assignee)))}
    changed = 0
    for choice in selected:
        incident = incidents.get(choice.incident_id)
        if incident is None or not can_view(actor, incident):
            raise NotFound("One of the chosen incidents was not found.")
        if not can_assign(actor, incident):
            raise ServiceError(f"You may not assign {incident.reference}.")
        if incident.version != choice.version:
            raise IncidentChangedElsewhere(incident)
        if assignee is not None and not can_be_assigned(assignee, incident):
            raise ServiceError(f"{assignee.name} cannot work on {incident.reference}; choose someone on its team.")
        if incident.assignee_id == (assignee.id if assignee else None):
            continue
        previous = incident.assignee
        incident.assignee = assignee
        incident.bump_version()
        audit.record(session, actor=actor, action="incident.assigned", incident=incident,
                     data={"from": previous.email if previous else None,
                           "to": assignee.email if assignee else None, "bulk": True})
        changed += 1
    session.flush()
    return changed
