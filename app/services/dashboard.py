"""The dashboards' figures, over what the viewer may read.

Choices, so the numbers can be trusted and stay fast at a million incidents:

- **Access.** Every figure counts only incidents ``visible_incidents(viewer)`` admits (app/permissions.py), the
  same rule as searches and exports: a rep's dashboard counts only the rep's cases.
- **Running counts.** Incidents opened and closed per month, open by state, clauses cited per month and the
  sanctions (outcomes by clause, severity and subject role, by month opened), running deadlines by the day
  they fall due (all but today and the seventh day, which "now" cuts through) and the press referrals' forward
  deadlines by outcome (all but those still running and due today) are read from ``incident_counts``
  (kept by database triggers, app/models/counts.py), summed over the groups of incidents the viewer's role sees,
  plus a row-by-row count of the few incidents the viewer sees only personally (``Scope``). Their cost does not
  grow with the number of incidents. Row by row throughout when the dashboard's zone is not the counts'
  (Europe/London), with the same figures.
- **Aggregates in the database.** Other measures are ``GROUP BY`` in SQL; Python only arranges the few result
  rows (at most a few hundred) into months, states and tables.
- **Months are UK months.** A month bucket is a ``CASE`` over the twelve month starts (midnight
  Europe/London, turned into UTC in Python), or the counts' month (``calendar_months``, the same instants).
- **The period.** Counts over time cover the current month and the eleven before it. Clauses are counted by
  the month they were cited. Times to close and to first action, content removal, press referrals and
  sanctions are over the incidents *opened* in that period (a cohort, a ``created_at`` range). Closures per
  month are a ``closed_at`` range. Repeat subjects count every upheld breach on file.
- **Percentiles** (median and 90th) are nearest-rank, computed in SQL with window functions
  (``row_number``/``count`` over each workflow, then the row at rank ⌈q·n⌉), identical on both databases;
  only one row per workflow comes back. Times to close and to act over a cohort above EXACT_LIMIT incidents come
  from the running counts' histograms instead (each duration counted in a bucket about 5% wide, migration 0022):
  within 3% of the exact figure, and the page says so.
- **First action** is the time of the incident's first ``incident.transition`` audit row, kept on the
  incident as ``first_action_at`` (set by take_transition, backfilled by migration 0013), not looked up in
  audit_events per incident.
- **Read from indexes.** Cohorts are read from ix_incidents_dashboard_opened (created_at first) and closures
  from ix_incidents_dashboard_closed (closed_at first); both carry the columns the measures and
  ``visible_incidents`` test, so neither database visits the table for those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from app.models import Deadline, Incident, IncidentClause, IncidentCount, Person, PersonFlag, User
from app.models.counts import (
    BY_ROLE,
    CITED,
    CLOSED,
    DUE,
    FORWARD_DEADLINE,
    NO_MONTH,
    OPEN,
    OPENED,
    PRESS,
    PRESS_WORKFLOW,
    REMOVAL,
    REMOVAL_WORKFLOW,
    REMOVED_STATE,
    SANCTION,
    TO_ACT,
    TO_CLOSE,
    UNDATED,
    bucket_value,
    day_start,
    due_day,
    duration_bucket,
    removal_refused,
    removal_timed,
    seconds_between,
)
from app.models.incidents import SEVERITIES
from app.permissions import (
    INCIDENT_GROUP,
    GroupColumns,
    personal_candidates,
    visible_by_group,
    visible_incidents,
    visible_personally,
)
from app.workflow import WorkflowRegistry

PERIOD_MONTHS = 12
TOP_CLAUSES = 5  # clauses drawn over time; the rest are summed as "Other clauses"
REPEAT_LIMIT = 20  # repeat subjects listed
WEEK = timedelta(days=7)

# The workflow facts the dashboard reads (the removal and press workflows' states, deadlines and transition) live in
# app.models.counts beside the measures and predicates that use them; a test checks the workflow files still have
# them.
# The press counts' settled outcomes (migration 0026) as the section names them.
PRESS_SETTLED = {"within": "within", "late": "late", "stopped": "other"}
UPHELD_FLAG = "upheld_breach"
SUBJECT_ROLES = ("officer", "contributor")

# The running counts (incident_counts) keep UK calendar months; a dashboard in another zone counts rows instead.
COUNTS_ZONE = "Europe/London"
COUNT_GROUP = GroupColumns(IncidentCount.in_case_file, IncidentCount.restricted, IncidentCount.side,
                           IncidentCount.team_id)
# Times to close and to act read every incident of a cohort up to EXACT_LIMIT (exact percentiles); above it, the
# running counts' histograms of 5%-wide duration buckets (within 3%).
EXACT_LIMIT = 20_000
# The time to removal reads every timed removal exactly up to this many in the groups the viewer's role sees (each
# is a look-up of its deadline: 3,064 of them took 14.5 ms on PostgreSQL at a million incidents, bench/RESULTS.md
# run 21); above it, the running counts' duration buckets.
REMOVAL_EXACT_LIMIT = 1_000

# Which sections each audience sees, in order. Only these are computed for it.
SECTIONS: dict[str, tuple[str, ...]] = {
    "comms": ("volume", "open_states", "due", "timings", "clauses", "removal", "repeat", "sanctions"),
    "director": ("volume", "due", "press", "removal", "timings", "clauses", "sanctions", "repeat"),
    "regional": ("volume", "open_states", "due", "timings"),
    "admin": ("volume", "open_states", "due", "timings", "clauses", "removal", "press", "repeat", "sanctions"),
}
AUDIENCE_TITLES = {"comms": "Communications lead", "director": "Director of Communications",
                   "regional": "Regional officer", "admin": "Administrator"}


# --- periods ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Month:
    key: str  # "2026-03"
    label: str  # "Mar 2026"
    start: datetime  # UTC, midnight Europe/London on the 1st
    end: datetime


def months_to(now: datetime, zone: str = "Europe/London", count: int = PERIOD_MONTHS) -> list[Month]:
    """The current month and the ``count - 1`` before it, oldest first, as UK calendar months."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    year, month = local.year, local.month
    firsts: list[date] = []
    for _ in range(count):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    firsts.reverse()  # oldest first; the last is this month
    last = firsts[-1]
    firsts.append(date(last.year + (last.month == 12), last.month % 12 + 1, 1))  # where this month ends

    def utc(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(ZoneInfo("UTC"))

    return [Month(key=f"{d:%Y-%m}", label=f"{d:%b %Y}", start=utc(d), end=utc(n))
            for d, n in zip(firsts[:-1], firsts[1:], strict=True)]


def _bucket(column: Any, months: Sequence[Month]) -> ColumnElement[str]:
    """The month key a timestamp falls in (NULL before the period): newest month first, so each branch is
    one comparison."""
    return case(*[(column >= m.start, literal(m.key)) for m in reversed(months)], else_=None)


def _opened_since(start: datetime) -> ColumnElement[bool]:
    """Incidents opened since ``start``: a range on ix_incidents_dashboard_opened, which also holds every column
    the measures and ``visible_incidents`` test, so SQLite and PostgreSQL read the index and not the table."""
    return Incident.created_at >= start


def _opened_in(months: Sequence[Month]) -> list[ColumnElement[bool]]:
    """Incidents opened in the period's months: exactly the months the running counts are read for, so the rows a
    section adds to the counts are the same cohort."""
    return [_opened_since(months[0].start), Incident.created_at < months[-1].end]


def _closed_since(start: datetime) -> ColumnElement[bool]:
    """Incidents closed since ``start``: a range on ix_incidents_dashboard_closed (visibility columns included)."""
    return Incident.closed_at >= start


def _percentiles(session: Session, keyed: Any, qs: Sequence[int] = (50, 90)) -> dict[str, dict[str, float | int]]:
    """Nearest-rank percentiles per key of a subquery with columns ``key`` and ``value`` (SQL window
    functions; one row per key comes back)."""
    ranked = select(
        keyed.c.key, keyed.c.value,
        func.row_number().over(partition_by=keyed.c.key, order_by=keyed.c.value).label("rn"),
        func.count().over(partition_by=keyed.c.key).label("n"),
    ).subquery()
    columns = [func.max(case((ranked.c.rn == (ranked.c.n * q + 99) // 100, ranked.c.value))).label(f"p{q}")
               for q in qs]
    rows = session.execute(select(ranked.c.key, func.max(ranked.c.n).label("n"), *columns)
                           .group_by(ranked.c.key)).all()
    # Whole seconds: SQLite's julianday arithmetic leaves a few microseconds of floating-point noise.
    return {row.key: {"n": int(row.n), **{f"p{q}": float(round(getattr(row, f"p{q}"))) for q in qs}} for row in rows}


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    hours = seconds / 3600
    if hours < 1:
        return f"{max(0, round(seconds / 60))} min"
    if hours < 72:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def rate(part: int, whole: int) -> float | None:
    """A share, or None when there is nothing to divide (never a division by zero)."""
    return part / whole if whole else None


# --- what a viewer may count ----------------------------------------------------------------------------------

# Above this many incidents the viewer sees only personally, sections test the personal rule themselves rather
# than a list of their ids.
PERSONAL_IDS_LIMIT = 1_000


class Scope:
    """How a dashboard counts what ``viewer`` may read. With ``counted``: the running counts of every group of
    incidents the viewer's role sees (``visible_by_group``), plus, row by row, the incidents the viewer sees only
    personally (their own, shared, their case files); without: every visible incident row by row. The two give
    the same figures (a test builds dashboards both ways); the counts keep a view's cost independent of the
    number of incidents.

    Given a ``session``, the personal incidents are found once, up front: someone assigned or opening thousands of
    incidents in their own team's group has only a handful outside it, and each section then reads just those
    (rather than testing all of theirs again, section after section)."""

    def __init__(self, viewer: User, counted: bool, session: Session | None = None) -> None:
        self.viewer, self.counted, self.session = viewer, counted, session

    @cached_property
    def personal_ids(self) -> list[int] | None:
        """The ids of the incidents the viewer sees only personally, read once (on first use); None without a
        session, or when there are more than PERSONAL_IDS_LIMIT of them."""
        if not self.counted or self.session is None:
            return None
        ids = list(self.session.scalars(select(Incident.id).where(self._personal).order_by(Incident.id)
                                        .limit(PERSONAL_IDS_LIMIT + 1)))
        return ids if len(ids) <= PERSONAL_IDS_LIMIT else None

    @property
    def _personal(self) -> ColumnElement[bool]:
        # NOT of a NULL comparison (no team) is NULL, which a WHERE drops: coalesce, so such a row stays personal.
        group = func.coalesce(visible_by_group(self.viewer, INCIDENT_GROUP), false())
        return and_(Incident.id.in_(personal_candidates(self.viewer, among=~group)), visible_personally(self.viewer),
                    ~group)

    @property
    def rows(self) -> ColumnElement[bool]:
        """The incidents a measure reads row by row."""
        if not self.counted:
            return visible_incidents(self.viewer)
        if self.personal_ids is not None:
            return Incident.id.in_(self.personal_ids)
        return self._personal

    @property
    def parts(self) -> list[ColumnElement[bool]]:
        """The viewer's incidents as disjoint predicates a query reads one by one (UNION ALL), each through its own
        indexes: the groups the role sees (a team's, a side's: plain column tests) and the personal rest. One
        OR of both would have the database test every row of a period against it."""
        if not self.counted:
            return [visible_incidents(self.viewer)]
        return [visible_by_group(self.viewer, INCIDENT_GROUP), self.rows]

    def counts(self, session: Session, measure: str, *keys: Any, where: Sequence[Any] = ()) -> list[Any]:
        """Sums of ``incident_counts`` for ``measure`` over the groups the viewer's role sees, per ``keys``."""
        if not self.counted:
            return []
        if measure in UNDATED:
            where = [IncidentCount.month == NO_MONTH, *where]
        return list(session.execute(
            select(*keys, func.sum(IncidentCount.n)).where(IncidentCount.measure == measure,
                                                           visible_by_group(self.viewer, COUNT_GROUP), *where)
            .group_by(*keys)).all())


def _add(counts: dict[Any, int], rows: Sequence[Any]) -> dict[Any, int]:
    """Adds rows of (key..., n) into ``counts`` (keyed by the key, or the tuple of keys)."""
    for *key, n in rows:
        k = key[0] if len(key) == 1 else tuple(key)
        counts[k] = counts.get(k, 0) + int(n or 0)
    return counts


# --- the measures ------------------------------------------------------------------------------------------

@dataclass
class Volume:
    months: list[Month]
    opened: list[int]
    closed: list[int]

    @property
    def empty(self) -> bool:
        return not any(self.opened) and not any(self.closed)


def volume(session: Session, scope: Scope, months: Sequence[Month]) -> Volume:
    start, end = months[0].start, months[-1].end
    keys = [m.key for m in months]
    counts: dict[str, dict[str, int]] = {"opened": {}, "closed": {}}
    for name, measure, column, within in (("opened", OPENED, Incident.created_at, _opened_since(start)),
                                          ("closed", CLOSED, Incident.closed_at, _closed_since(start))):
        bucket = _bucket(column, months).label("month")
        rows = session.execute(select(bucket, func.count()).where(
            within, column < end, scope.rows).group_by(bucket)).all()
        counts[name] = _add({key: n for key, n in rows if key}, scope.counts(
            session, measure, IncidentCount.month,
            where=[IncidentCount.month.in_(keys)]))
    return Volume(list(months), [counts["opened"].get(m.key, 0) for m in months],
                  [counts["closed"].get(m.key, 0) for m in months])


@dataclass
class StateCount:
    workflow: str
    workflow_title: str
    state: str
    state_title: str
    count: int


def open_by_state(session: Session, scope: Scope, registry: WorkflowRegistry) -> list[StateCount]:
    rows = session.execute(
        select(Incident.workflow_key, Incident.state, func.count())
        .where(scope.rows, Incident.closed_at.is_(None))
        .group_by(Incident.workflow_key, Incident.state)).all()
    counts = _add(_add({}, rows), scope.counts(session, OPEN, IncidentCount.workflow_key, IncidentCount.state))
    out = []
    for (workflow, state), n in counts.items():
        if not n:
            continue
        definition = registry.current.get(workflow)
        state_def = definition.states.get(state) if definition else None
        out.append(StateCount(workflow, definition.title if definition else workflow, state,
                              state_def.title if state_def else state, n))
    return sorted(out, key=lambda s: (-s.count, s.workflow_title, s.state_title))


@dataclass
class DueCount:
    workflow: str
    workflow_title: str
    overdue: int
    due_this_week: int


@dataclass
class Due:
    rows: list[DueCount]

    @property
    def overdue(self) -> int:
        return sum(r.overdue for r in self.rows)

    @property
    def due_this_week(self) -> int:
        return sum(r.due_this_week for r in self.rows)


def due(session: Session, scope: Scope, registry: WorkflowRegistry, now: datetime) -> Due:
    """Running deadlines past due (overdue) and due in the next seven days, per workflow. For the groups the viewer's
    role sees, whole days come from the running counts (by the UTC day due, migration 0023), and only today and the
    seventh day, which ``now`` cuts through, are read deadline by deadline (each day a range of the (status,
    due_at) index: an OR of the two would have the database read every running deadline). The incidents the viewer
    sees only personally are read deadline by deadline through their ids."""
    until = now + WEEK
    kind = case((Deadline.due_at <= now, "overdue"), else_="week").label("kind")
    counts: dict[Any, int] = {}

    def add_rows(*where: ColumnElement[bool]) -> None:
        _add(counts, session.execute(
            select(Incident.workflow_key, kind, func.count()).join(Incident, Incident.id == Deadline.incident_id)
            .where(Deadline.status == "running", *where).group_by(Incident.workflow_key, kind)).all())

    ids = scope.personal_ids
    # The ids tested on the deadline's own column, which the (status, due_at) index carries: no incident looked up
    # for the thousands of deadlines that are not theirs.
    add_rows(Deadline.due_at <= until, Deadline.incident_id.in_(ids) if ids is not None else scope.rows)
    if scope.counted:
        today, last = due_day(now), due_day(until)
        group = visible_by_group(scope.viewer, INCIDENT_GROUP)
        add_rows(Deadline.due_at >= day_start(today), Deadline.due_at < day_start(today + 1), group)
        add_rows(Deadline.due_at >= day_start(last), Deadline.due_at <= until, group)
        day_kind = case((IncidentCount.bucket < today, "overdue"), else_="week")
        _add(counts, scope.counts(session, DUE, IncidentCount.workflow_key, day_kind,
                                  where=[IncidentCount.bucket != today, IncidentCount.bucket < last]))
    out = [DueCount(k, registry.current[k].title if k in registry.current else k, counts.get((k, "overdue"), 0),
                    counts.get((k, "week"), 0)) for k in {workflow for workflow, _kind in counts}]
    return Due(sorted((r for r in out if r.overdue or r.due_this_week),
                      key=lambda r: (-r.overdue, -r.due_this_week, r.workflow_title)))


@dataclass
class Timing:
    workflow: str
    workflow_title: str
    closed: int = 0
    close_p50: float | None = None
    close_p90: float | None = None
    acted: int = 0
    action_p50: float | None = None
    action_p90: float | None = None
    approximate: bool = False  # read from the duration histograms (within 3%), not every incident


def timings(session: Session, scope: Scope, registry: WorkflowRegistry, months: Sequence[Month]) -> list[Timing]:
    """Median and 90th percentile of time to close and time to first action, per workflow, over the incidents
    opened in the period (closed ones, and ones with an action, respectively). Exact (nearest rank) up to
    EXACT_LIMIT incidents in the groups the viewer's role sees; above it, from the running counts' duration
    histograms plus the viewer's personal incidents put in the same buckets."""
    month_keys = [m.key for m in months]
    size = sum(n for _, n in scope.counts(session, OPENED, IncidentCount.measure,
                                          where=[IncidentCount.month.in_(month_keys)]))
    approximate = size > EXACT_LIMIT
    if approximate:
        close = _histogram_times(session, scope, months, TO_CLOSE, Incident.closed_at)
        act = _histogram_times(session, scope, months, TO_ACT, Incident.first_action_at)
    else:
        close = _exact_times(session, scope, months, Incident.closed_at)
        act = _exact_times(session, scope, months, Incident.first_action_at)
    out = []
    for key in sorted(set(close) | set(act)):
        title = registry.current[key].title if key in registry.current else key
        c, a = close.get(key, {}), act.get(key, {})
        out.append(Timing(key, title, int(c.get("n", 0)), c.get("p50"), c.get("p90"), int(a.get("n", 0)),
                          a.get("p50"), a.get("p90"), approximate))
    return sorted(out, key=lambda t: t.workflow_title)


def _exact_times(session: Session, scope: Scope, months: Sequence[Month],
                 later: Any) -> dict[str, dict[str, float | int]]:
    """Percentiles per workflow of ``later - created_at`` over every incident of the cohort, in SQL."""
    dialect = session.get_bind().dialect.name
    # ``workflow_key || ''``: the same key, but not a bare column, so SQLite does not walk a workflow_key index
    # over every incident to save the sort of the (few thousand) cohort rows the window functions need.
    wf_key = (Incident.workflow_key + literal("")).label("key")
    values = union_all(*(select(wf_key, seconds_between(later, Incident.created_at, dialect).label("value"))
                         .where(*_opened_in(months), part, later.is_not(None)) for part in scope.parts))
    return _percentiles(session, values.subquery())


def _histogram_times(session: Session, scope: Scope, months: Sequence[Month], measure: str,
                     later: Any) -> dict[str, dict[str, float | int]]:
    """Percentiles per workflow from the counts' duration buckets (``measure``) plus the viewer's personal
    incidents put in the same buckets."""
    dialect = session.get_bind().dialect.name
    counts = _add({}, scope.counts(session, measure, IncidentCount.workflow_key, IncidentCount.bucket,
                                   where=[IncidentCount.month.in_([m.key for m in months])]))
    for key, seconds in session.execute(
            select(Incident.workflow_key, seconds_between(later, Incident.created_at, dialect))
            .where(*_opened_in(months), scope.rows, later.is_not(None))):
        bucket = (key, duration_bucket(seconds))
        counts[bucket] = counts.get(bucket, 0) + 1
    return _histogram_percentiles(counts)


def _histogram_percentiles(counts: dict[tuple[str, int], int],
                           qs: Sequence[int] = (50, 90)) -> dict[str, dict[str, float | int]]:
    """Nearest-rank percentiles per key from counts per (key, duration bucket): the value of the bucket holding the
    incident of rank ⌈q·n⌉."""
    per: dict[str, list[tuple[int, int]]] = {}
    for (key, bucket), n in counts.items():
        if n > 0:
            per.setdefault(key, []).append((bucket, n))
    out: dict[str, dict[str, float | int]] = {}
    for key, buckets in per.items():
        buckets.sort()
        total = sum(n for _, n in buckets)
        figures: dict[str, float | int] = {"n": total}
        for q in qs:
            rank, seen = (total * q + 99) // 100, 0
            for bucket, n in buckets:
                seen += n
                if seen >= rank:
                    figures[f"p{q}"] = bucket_value(bucket)
                    break
        out[key] = figures
    return out


@dataclass
class ClauseSeries:
    key: str  # "" for the sum of the other clauses
    label: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass
class Clauses:
    months: list[Month]
    series: list[ClauseSeries]

    @property
    def empty(self) -> bool:
        return not any(s.total for s in self.series)


def clauses_over_time(session: Session, scope: Scope, registry: WorkflowRegistry,
                      months: Sequence[Month]) -> Clauses:
    """Citations per clause per month (by when the clause was cited, on any incident the viewer may read); the
    most cited few drawn, the rest summed."""
    bucket = _bucket(IncidentClause.cited_at, months).label("month")
    rows = session.execute(
        select(IncidentClause.clause_key, bucket, func.count())
        .join(Incident, Incident.id == IncidentClause.incident_id)
        .where(scope.rows, IncidentClause.cited_at >= months[0].start, IncidentClause.cited_at < months[-1].end)
        .group_by(IncidentClause.clause_key, bucket)).all()
    counted = _add(_add({}, rows), scope.counts(session, CITED, IncidentCount.clause_key, IncidentCount.month,
                                                where=[IncidentCount.month.in_([m.key for m in months])]))
    index = {m.key: i for i, m in enumerate(months)}
    per: dict[str, list[int]] = {}
    for (clause, month), n in counted.items():
        if month in index and n:
            per.setdefault(clause, [0] * len(months))[index[month]] += n
    ranked = sorted(per, key=lambda k: (-sum(per[k]), k))
    series = [ClauseSeries(k, _clause_label(registry, k), per[k]) for k in ranked[:TOP_CLAUSES]]
    rest = ranked[TOP_CLAUSES:]
    if rest:
        series.append(ClauseSeries("", f"Other clauses ({len(rest)})",
                                   [sum(per[k][i] for k in rest) for i in range(len(months))]))
    return Clauses(list(months), series)


def _clause_label(registry: WorkflowRegistry, key: str) -> str:
    try:
        return registry.catalogues.clause(key).label
    except KeyError:
        return key


@dataclass
class Removal:
    complied: int
    not_complied: int
    removal_n: int = 0
    removal_p50: float | None = None
    removal_p90: float | None = None
    approximate: bool = False  # the times read from the duration histograms (within 3%), not every removal

    @property
    def decided(self) -> int:
        return self.complied + self.not_complied

    @property
    def rate(self) -> float | None:
        return rate(self.complied, self.decided)


def removal(session: Session, scope: Scope, months: Sequence[Month]) -> Removal:
    """Content-removal requests opened in the period: removal verified, or marked not complied with (the audit row
    of that transition stays even after the case is closed); time to removal runs from the removal request (the
    'comply' deadline starting) to the verification (that deadline met). For the groups the viewer's role sees, from
    the running counts (migration 0027), plus the requests the viewer sees only personally, row by row. The times
    are exact (nearest rank) up to REMOVAL_EXACT_LIMIT timed removals in those groups; above it, from the counts'
    duration buckets."""
    dialect = session.get_bind().dialect.name
    cohort = [*_opened_in(months), Incident.workflow_key == REMOVAL_WORKFLOW]
    complied, not_complied = session.execute(select(
        func.coalesce(func.sum(case((Incident.state == REMOVED_STATE, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(Incident.state != REMOVED_STATE, removal_refused()), 1), else_=0)), 0),
    ).where(*cohort, scope.rows)).one()
    counted = _add({}, scope.counts(session, REMOVAL, IncidentCount.outcome, IncidentCount.bucket,
                                    where=[IncidentCount.month.in_([m.key for m in months])]))
    complied += counted.pop(("complied", 0), 0)
    not_complied += counted.pop(("not_complied", 0), 0)
    timed = {("all", bucket): n for (outcome, bucket), n in counted.items() if outcome == "timed"}
    duration = seconds_between(Deadline.finished_at, Deadline.started_at, dialect)
    removed = [*_opened_in(months), *removal_timed()]
    approximate = sum(timed.values()) > REMOVAL_EXACT_LIMIT
    if approximate:
        for (seconds,) in session.execute(select(duration).join(Incident, Incident.id == Deadline.incident_id)
                                          .where(*removed, scope.rows)):
            key = ("all", duration_bucket(seconds))
            timed[key] = timed.get(key, 0) + 1
        p = _histogram_percentiles(timed).get("all", {})
    else:
        times = union_all(*(select(literal("all").label("key"), duration.label("value"))
                            .join(Incident, Incident.id == Deadline.incident_id).where(*removed, part)
                            for part in scope.parts)).subquery()
        p = _percentiles(session, times).get("all", {})
    return Removal(int(complied), int(not_complied), int(p.get("n", 0)), p.get("p50"), p.get("p90"), approximate)


@dataclass
class Press:
    within: int
    late: int
    waiting: int
    not_forwarded: int

    @property
    def decided(self) -> int:
        return self.within + self.late

    @property
    def rate(self) -> float | None:
        return rate(self.within, self.decided)


def press(session: Session, scope: Scope, now: datetime, months: Sequence[Month]) -> Press:
    """Press approaches opened in the period, by their 'forward' deadline: met by its due time (within the
    target), met late or still running past due (late), running and not yet due (waiting), or stopped
    another way (closed without forwarding). For the groups the viewer's role sees, from the running counts
    (migration 0026), except the deadlines still running and due today, which ``now`` cuts through: those, and the
    incidents the viewer sees only personally, are read deadline by deadline."""
    met = Deadline.status == "met"
    within = and_(met, Deadline.finished_at <= Deadline.due_at)
    late = and_(Deadline.status.in_(("met", "running", "paused")),
                func.coalesce(Deadline.finished_at, now) > Deadline.due_at)
    waiting = and_(Deadline.status.in_(("running", "paused")), Deadline.due_at >= now)
    kind = case((within, "within"), (late, "late"), (waiting, "waiting"), else_="other").label("kind")
    counts: dict[Any, int] = {}

    def add_rows(*where: ColumnElement[bool]) -> None:
        _add(counts, session.execute(
            select(kind, func.count()).join(Incident, Incident.id == Deadline.incident_id)
            .where(*_opened_in(months), Incident.workflow_key == PRESS_WORKFLOW, Deadline.key == FORWARD_DEADLINE,
                   *where).group_by(kind)).all())

    add_rows(scope.rows)
    if scope.counted:
        today = due_day(now)
        # Running, paused, or met with no time (never written), due today. Their incidents are named through the
        # (status, due_at) index first: otherwise SQLite walks the period's whole cohort and looks up each one's.
        today_only = [Deadline.status.in_(("running", "paused", "met")), Deadline.due_at >= day_start(today),
                      Deadline.due_at < day_start(today + 1)]
        add_rows(visible_by_group(scope.viewer, INCIDENT_GROUP), *today_only,
                 or_(Deadline.status != "met", Deadline.finished_at.is_(None)),
                 Incident.id.in_(select(Deadline.incident_id).where(*today_only)))
        past = case((IncidentCount.bucket < today, 1), else_=0)
        for outcome, before_today, n in scope.counts(session, PRESS, IncidentCount.outcome, past,
                                                     where=[IncidentCount.month.in_([m.key for m in months]),
                                                            IncidentCount.bucket != today]):
            settled = PRESS_SETTLED.get(outcome)
            # Running or paused: late once past due, else waiting; met without a time: late once past due, else other.
            key = settled or ("late" if before_today else "waiting" if outcome == "live" else "other")
            counts[key] = counts.get(key, 0) + int(n or 0)
    return Press(counts.get("within", 0), counts.get("late", 0), counts.get("waiting", 0), counts.get("other", 0))


@dataclass
class RepeatSubject:
    person_id: int
    name: str
    role: str
    upheld: int


@dataclass
class Repeats:
    people: list[RepeatSubject]
    total: int  # people with two or more (the list shows the first REPEAT_LIMIT)


def repeat_subjects(session: Session, viewer: User) -> Repeats:
    """People with two or more upheld breaches on incidents the viewer may read."""
    upheld = func.count(func.distinct(PersonFlag.incident_id))
    grouped = (select(PersonFlag.person_id.label("person_id"), upheld.label("upheld"))
               .join(Incident, Incident.id == PersonFlag.incident_id)
               .where(PersonFlag.flag == UPHELD_FLAG, visible_incidents(viewer))
               .group_by(PersonFlag.person_id).having(upheld >= 2).subquery())
    total = session.scalar(select(func.count()).select_from(grouped)) or 0
    rows = session.execute(select(grouped.c.person_id, Person.name, Person.role, grouped.c.upheld)
                           .join(Person, Person.id == grouped.c.person_id)
                           .order_by(grouped.c.upheld.desc(), Person.name, Person.id).limit(REPEAT_LIMIT)).all()
    return Repeats([RepeatSubject(r.person_id, r.name, r.role, int(r.upheld)) for r in rows], int(total))


@dataclass
class SanctionRow:
    clause: str
    clause_label: str
    severity: str
    outcomes: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class Sanctions:
    outcomes: list[str]  # every outcome seen, in order of frequency
    by_clause: list[SanctionRow]
    by_role: dict[str, dict[str, int]]  # subject role -> outcome -> count

    @property
    def empty(self) -> bool:
        return not self.by_clause and not any(self.by_role.values())


def sanctions(session: Session, scope: Scope, registry: WorkflowRegistry, months: Sequence[Month]) -> Sanctions:
    """Outcomes recorded on incidents opened in the period: by clause cited and severity, and by the subject's
    role (officer or contributor), so like cases can be seen to get like outcomes. From the running counts
    (``sanction`` and ``by_role``) plus the viewer's personal incidents row by row."""
    cohort = [*_opened_in(months), Incident.outcome.is_not(None), scope.rows]
    in_period = [IncidentCount.month.in_([m.key for m in months])]
    # From the incidents with an outcome (ix_incidents_outcomes) to their clauses; ``clause_key || ''`` so SQLite
    # does not instead walk every citation ever made in clause order to save sorting a few hundred groups.
    clause = (IncidentClause.clause_key + literal("")).label("clause")
    grid_counts = _add(_add({}, session.execute(
        select(clause, Incident.severity, Incident.outcome, func.count())
        .select_from(Incident).join(IncidentClause, Incident.id == IncidentClause.incident_id).where(*cohort)
        .group_by(clause, Incident.severity, Incident.outcome)).all()),
        scope.counts(session, SANCTION, IncidentCount.clause_key, IncidentCount.severity, IncidentCount.outcome,
                     where=in_period))
    role_counts = _add(_add({}, session.execute(
        select(Person.role, Incident.outcome, func.count()).join(Person, Person.id == Incident.subject_id)
        .where(*cohort, Person.role.in_(SUBJECT_ROLES)).group_by(Person.role, Incident.outcome)).all()),
        scope.counts(session, BY_ROLE, IncidentCount.subject_role, IncidentCount.outcome,
                     where=[*in_period, IncidentCount.subject_role.in_(SUBJECT_ROLES)]))
    totals: dict[str, int] = {}
    grid: dict[tuple[str, str], dict[str, int]] = {}
    for (clause_key, severity, outcome), n in grid_counts.items():
        if n:
            grid.setdefault((clause_key, severity), {})[outcome] = n
            totals[outcome] = totals.get(outcome, 0) + n
    by_role: dict[str, dict[str, int]] = {role: {} for role in SUBJECT_ROLES}
    for (role, outcome), n in role_counts.items():
        if n:
            by_role[role][outcome] = n
            totals[outcome] = totals.get(outcome, 0) + n
    severity_order = {s: i for i, s in enumerate(SEVERITIES)}
    by_clause = [SanctionRow(c, _clause_label(registry, c), s, o) for (c, s), o in grid.items()]
    by_clause.sort(key=lambda r: (r.clause, -severity_order.get(r.severity, 0)))
    return Sanctions(sorted(totals, key=lambda o: (-totals[o], o)), by_clause, by_role)


# --- a dashboard ---------------------------------------------------------------------------------------------

@dataclass
class Dashboard:
    audience: str
    sections: tuple[str, ...]
    months: list[Month]
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def period_start(self) -> datetime:
        return self.months[0].start

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None


def build(session: Session, viewer: User, registry: WorkflowRegistry, audience: str, now: datetime,
          zone: str = "Europe/London", only: Sequence[str] | None = None, counted: bool | None = None) -> Dashboard:
    """The audience's sections (or ``only`` those), each computed over what ``viewer`` may read; from the running
    counts where they apply (``counted``; by default when the zone is theirs), otherwise row by row."""
    sections = tuple(s for s in SECTIONS[audience] if only is None or s in only)
    months = months_to(now, zone)
    scope = Scope(viewer, counted=zone == COUNTS_ZONE if counted is None else counted, session=session)
    makers: dict[str, Callable[[], Any]] = {
        "volume": lambda: volume(session, scope, months),
        "open_states": lambda: open_by_state(session, scope, registry),
        "due": lambda: due(session, scope, registry, now),
        "timings": lambda: timings(session, scope, registry, months),
        "clauses": lambda: clauses_over_time(session, scope, registry, months),
        "removal": lambda: removal(session, scope, months),
        "press": lambda: press(session, scope, now, months),
        "repeat": lambda: repeat_subjects(session, viewer),
        "sanctions": lambda: sanctions(session, scope, registry, months),
    }
    return Dashboard(audience, sections, months, now, {name: makers[name]() for name in sections})


# --- the reports as rows (CSV and XLSX downloads) ------------------------------------------------------------

REPORT_TITLES = {
    "volume": "Incidents opened and closed per month",
    "open_states": "Open incidents by state",
    "due": "Overdue and due this week",
    "timings": "Time to close and to first action",
    "clauses": "Clauses cited per month",
    "removal": "Content removal compliance",
    "press": "Press referrals forwarded within the target",
    "repeat": "Repeat subjects",
    "sanctions": "Sanctions consistency",
}


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.2f}"


def report_rows(dashboard: Dashboard, name: str) -> tuple[list[str], list[list[Any]]]:
    """One section as a header and rows: the same numbers as its chart and table."""
    d = dashboard.data[name]
    if name == "volume":
        return ["month", "opened", "closed"], [[m.key, o, c] for m, o, c in zip(d.months, d.opened, d.closed,
                                                                                  strict=True)]
    if name == "open_states":
        return ["workflow", "state", "open"], [[s.workflow_title, s.state_title, s.count] for s in d]
    if name == "due":
        return ["workflow", "overdue", "due_this_week"], [[r.workflow_title, r.overdue, r.due_this_week]
                                                          for r in d.rows]
    if name == "timings":
        return (["workflow", "closed", "close_median_hours", "close_p90_hours", "with_action",
                 "first_action_median_hours", "first_action_p90_hours"],
                [[t.workflow_title, t.closed, _hours(t.close_p50), _hours(t.close_p90), t.acted,
                  _hours(t.action_p50), _hours(t.action_p90)] for t in d])
    if name == "clauses":
        return (["clause", *[m.key for m in d.months], "total"],
                [[s.label, *s.counts, s.total] for s in d.series])
    if name == "removal":
        return (["complied", "not_complied", "compliance_rate", "removals_timed", "removal_median_hours",
                 "removal_p90_hours"],
                [[d.complied, d.not_complied, "" if d.rate is None else f"{d.rate:.3f}", d.removal_n,
                  _hours(d.removal_p50), _hours(d.removal_p90)]])
    if name == "press":
        return (["within_target", "late", "waiting", "not_forwarded", "within_target_rate"],
                [[d.within, d.late, d.waiting, d.not_forwarded, "" if d.rate is None else f"{d.rate:.3f}"]])
    if name == "repeat":
        return ["person", "role", "upheld_breaches"], [[p.name, p.role, p.upheld] for p in d.people]
    if name == "sanctions":
        rows: list[list[Any]] = [["clause", r.clause_label, r.severity, o, n]
                                 for r in d.by_clause for o, n in sorted(r.outcomes.items())]
        rows += [["subject role", role, "", o, n] for role, counts in d.by_role.items()
                 for o, n in sorted(counts.items())]
        return ["grouped_by", "group", "severity", "outcome", "incidents"], rows
    raise KeyError(name)
