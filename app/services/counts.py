"""The dashboards' running counts (``incident_counts``, kept by triggers): folding them, and checking them.

Triggers add a +1/-1 row per change; ``fold`` sums the rows into one per key so the dashboards read a few
thousand rows however many incidents move. The deadline worker folds on every sweep. ``recount`` says what the
counts should be from the incidents themselves; ``drift`` compares (``breachdesk counts check``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, true, tuple_
from sqlalchemy.orm import Session

from app.models import CalendarMonth, Deadline, Incident, IncidentClause, IncidentCount, Person
from app.models.counts import (
    BY_ROLE,
    CITED,
    CLOSED,
    DUE,
    FORWARD_DEADLINE,
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
    due_day,
    duration_bucket,
    press_outcome,
    removal_refused,
    removal_timed,
    seconds_between,
)

KEY = (IncidentCount.measure, IncidentCount.month, IncidentCount.workflow_key, IncidentCount.state,
       IncidentCount.clause_key, IncidentCount.in_case_file, IncidentCount.restricted, IncidentCount.side,
       IncidentCount.team_id, IncidentCount.severity, IncidentCount.outcome, IncidentCount.subject_role,
       IncidentCount.bucket)
KEY_NAMES = tuple(c.key for c in KEY)
Key = tuple[Any, ...]


def fold(session: Session) -> int:
    """Sums the rows of every key with rows not yet folded into one row per key (dropping keys that sum to zero);
    returns the rows removed. Keys nothing has changed are left as they are: at a million incidents rewriting every
    key was 620,000 rows a minute (bench/RESULTS.md run 21). Figures read before and after are the same: a count is
    always the sum over its key."""
    last = session.scalar(select(func.max(IncidentCount.id)))
    if last is None:
        return 0
    slices = session.execute(select(IncidentCount.measure, IncidentCount.month).where(
        IncidentCount.folded.is_(False), IncidentCount.id <= last).distinct()).all()
    return sum(_fold_slice(session, measure, month, last) for measure, month in slices)


def rebuild(session: Session) -> int:
    """Sums every row into one per key, as ``fold`` would, in one pass over the whole table instead of slice by
    slice; returns the rows removed. For a table loaded in bulk, where every row is a change row (the benchmark's
    generator: 5.4 million rows at a million incidents took ``fold`` 20 minutes on PostgreSQL, its 542 slices a few
    seconds each); on a live table ``fold`` rewrites only the keys that changed."""
    last = session.scalar(select(func.max(IncidentCount.id)))
    return 0 if last is None else _fold_rows(session, IncidentCount.id <= last)


def _fold_slice(session: Session, measure: str, month: str | None, last: int) -> int:
    """Folds the changed keys of one (measure, month): read through its index, the changed keys picked out in a set
    (the rest of a key is never NULL but for the team, which the comparison coalesces)."""
    in_slice = [IncidentCount.measure == measure,
                IncidentCount.month.is_(None) if month is None else IncidentCount.month == month,
                IncidentCount.id <= last]
    rest = [func.coalesce(c, -1) if c is IncidentCount.team_id else c for c in KEY[2:]]
    return _fold_rows(session, and_(*in_slice, tuple_(*rest).in_(
        select(*rest).where(*in_slice, IncidentCount.folded.is_(False)))))


def _fold_rows(session: Session, folded: ColumnElement[bool]) -> int:
    """Replaces the rows ``folded`` selects (whole keys of them) with one row per key holding their sum, dropping
    keys that sum to zero; returns the rows removed."""
    columns = [*KEY_NAMES, "n", "folded"]
    if session.get_bind().dialect.name == "postgresql":
        # One statement, so exactly the rows deleted are the rows summed, whatever commits meanwhile; it answers
        # how many it deleted.
        gone = IncidentCount.__table__.delete().where(folded).returning(*KEY, IncidentCount.n).cte("gone")
        summed = select(*(gone.c[name] for name in KEY_NAMES), func.sum(gone.c.n), true()) \
            .group_by(*(gone.c[name] for name in KEY_NAMES)).having(func.sum(gone.c.n) != 0)
        written = insert(IncidentCount).from_select(columns, summed).returning(IncidentCount.id).cte("written")
        return int(session.scalar(select(func.count()).select_from(gone).add_cte(written)) or 0)
    # SQLite: one writer at a time, and this transaction holds the write lock from its first statement.
    session.execute(insert(IncidentCount).from_select(
        columns, select(*KEY, func.sum(IncidentCount.n), true()).where(folded).group_by(*KEY)
        .having(func.sum(IncidentCount.n) != 0)))
    return session.execute(IncidentCount.__table__.delete().where(folded)).rowcount


def current(session: Session) -> Counter[Key]:
    """The counts as the triggers kept them, per key (zero sums left out)."""
    rows = session.execute(select(*KEY, func.sum(IncidentCount.n)).group_by(*KEY)).all()
    return Counter({_key(*row[:-1]): int(row[-1]) for row in rows if row[-1]})


def recount(session: Session) -> Counter[Key]:
    """The counts as they should be, read from every incident, citation and running deadline."""
    out: Counter[Key] = Counter()

    def month_of(instant: Any) -> Any:
        return select(CalendarMonth.month).where(CalendarMonth.starts_at <= instant) \
            .order_by(CalendarMonth.starts_at.desc()).limit(1).scalar_subquery()

    group = (Incident.case_file_id.is_not(None), Incident.restricted, Incident.side, Incident.team_id)
    queries = (
        (OPENED, select(month_of(Incident.created_at), Incident.workflow_key, *group)),
        (CLOSED, select(month_of(Incident.closed_at), Incident.workflow_key, *group)
         .where(Incident.closed_at.is_not(None))),
    )
    for measure, query in queries:
        for month, workflow, *g in session.execute(query):
            out[_key(measure, month, workflow, "", "", *g)] += 1
    for workflow, state, *g in session.execute(
            select(Incident.workflow_key, Incident.state, *group).where(Incident.closed_at.is_(None))):
        out[_key(OPEN, "", workflow, state, "", *g)] += 1
    for month, clause, *g in session.execute(
            select(month_of(IncidentClause.cited_at), IncidentClause.clause_key, *group)
            .join(Incident, Incident.id == IncidentClause.incident_id)):
        out[_key(CITED, month, "", "", clause, *g)] += 1
    with_outcome = Incident.outcome.is_not(None)
    for month, clause, *g, severity, outcome in session.execute(
            select(month_of(Incident.created_at), IncidentClause.clause_key, *group, Incident.severity,
                   Incident.outcome).join(IncidentClause, Incident.id == IncidentClause.incident_id)
            .where(with_outcome)):
        out[_key(SANCTION, month, "", "", clause, *g, severity, outcome)] += 1
    for month, *g, outcome, role in session.execute(
            select(month_of(Incident.created_at), *group, Incident.outcome, Person.role)
            .join(Person, Person.id == Incident.subject_id).where(with_outcome)):
        out[_key(BY_ROLE, month, "", "", "", *g, "", outcome, role)] += 1
    dialect = session.get_bind().dialect.name
    for measure, later in ((TO_CLOSE, Incident.closed_at), (TO_ACT, Incident.first_action_at)):
        # The duration worked out by the database, as the triggers do, so it falls in the same bucket.
        for month, workflow, seconds, *g in session.execute(
                select(month_of(Incident.created_at), Incident.workflow_key,
                       seconds_between(later, Incident.created_at, dialect), *group).where(later.is_not(None))):
            out[_key(measure, month, workflow, "", "", *g, bucket=duration_bucket(seconds))] += 1
    for due_at, workflow, *g in session.execute(
            select(Deadline.due_at, Incident.workflow_key, *group).join(Incident, Incident.id == Deadline.incident_id)
            .where(Deadline.status == "running")):
        out[_key(DUE, "", workflow, "", "", *g, bucket=due_day(due_at))] += 1
    for month, status, finished_at, due_at, *g in session.execute(
            select(month_of(Incident.created_at), Deadline.status, Deadline.finished_at, Deadline.due_at, *group)
            .join(Incident, Incident.id == Deadline.incident_id)
            .where(Incident.workflow_key == PRESS_WORKFLOW, Deadline.key == FORWARD_DEADLINE)):
        outcome, bucket = press_outcome(status, finished_at, due_at)
        out[_key(PRESS, month, "", "", "", *g, outcome=outcome, bucket=bucket)] += 1
    removed = Incident.state == REMOVED_STATE
    for month, is_removed, *g in session.execute(
            select(month_of(Incident.created_at), removed, *group)
            .where(Incident.workflow_key == REMOVAL_WORKFLOW, removed | removal_refused())):
        out[_key(REMOVAL, month, "", "", "", *g, outcome="complied" if is_removed else "not_complied")] += 1
    for month, seconds, *g in session.execute(
            select(month_of(Incident.created_at), seconds_between(Deadline.finished_at, Deadline.started_at, dialect),
                   *group).join(Incident, Incident.id == Deadline.incident_id).where(*removal_timed())):
        out[_key(REMOVAL, month, "", "", "", *g, outcome="timed", bucket=duration_bucket(seconds))] += 1
    return out


def drift(session: Session) -> dict[Key, tuple[int, int]]:
    """Keys whose kept count differs from a recount: key -> (kept, should be). Empty when all is well."""
    kept, should = current(session), recount(session)
    return {key: (kept.get(key, 0), should.get(key, 0)) for key in set(kept) | set(should)
            if kept.get(key, 0) != should.get(key, 0)}


def _key(measure: str, month: str | None, workflow: str, state: str, clause: str, in_case_file: Any,
         restricted: Any, side: str, team_id: int | None, severity: str = "", outcome: str = "",
         subject_role: str = "", bucket: int = 0) -> Key:
    # SQLite gives the two flags back as 0/1 from an expression; PostgreSQL as booleans.
    return (measure, month, workflow, state, clause, bool(in_case_file), bool(restricted), side, team_id, severity,
            outcome, subject_role, bucket)
