"""Running counts of incidents for the dashboards, kept by the database itself.

Triggers (migrations 0015, 0020 and 0022) add a row to ``incident_counts`` for every change that moves a count: +1
for the incident's new position, -1 for its old one. They only ever INSERT, so two transactions moving incidents
in opposite directions never wait on each other's rows (an UPDATE of shared counter rows could deadlock on
PostgreSQL). ``app.services.counts.fold`` sums the rows into one per key now and then; a count is the sum of
``n`` over its key either way, so folding never changes a figure.

A count's key holds what the dashboards group by (month, workflow, state, clause; severity, outcome and the
subject's role for sanctions; a duration's bucket for the times to close and to act) and the incident's *group*
(``app.permissions.GroupColumns``): whether it is a case-file track, restricted, its side and its team. That is
what lets a count respect access control: the role's view of a group is a WHERE clause on these columns.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from math import sqrt
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Float, Index, Integer, String, cast, false, func, literal, select, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.audit import NOT_COMPLIED_TRANSITION, AuditEvent
from app.models.base import Base, BigId
from app.models.deadlines import Deadline
from app.models.incidents import Incident

# Measures. A month is the calendar month in Europe/London (``calendar_months``), '' where it does not apply.
NO_MONTH = ""
OPENED = "opened"  # by the month the incident was opened; workflow_key set
CLOSED = "closed"  # by the month it was closed; workflow_key set
OPEN = "open"  # open now, by workflow_key and state
CITED = "cited"  # clause citations, by the month cited and clause_key
# Over incidents with an outcome, by the month they were opened (migration 0020):
SANCTION = "sanction"  # one per cited clause: clause_key, severity, outcome
BY_ROLE = "by_role"  # the subject's role and the outcome (incidents with a subject)
# Histograms of durations, by the month opened, workflow_key and ``bucket`` (migration 0022):
TO_CLOSE = "to_close"  # closed_at - created_at, of closed incidents
TO_ACT = "to_act"  # first_action_at - created_at, of incidents with a first action
# Running deadlines by the UTC day they fall due (``bucket``: ``due_day``), their incident's workflow_key and group
# (migration 0023):
DUE = "due"
# The measures whose rows have no month (NO_MONTH): a sum of one names it all the same, so that it reaches a team's
# rows through the index on (measure, month, team_id) (migration 0031).
UNDATED = frozenset({OPEN, DUE})
# The press referrals' 'forward' deadlines by the month their incident was opened and ``outcome`` (migration 0026):
# within / late / stopped once settled; live (running, paused) and undated (met, no finishing time) by the UTC day
# they fall due (``bucket``), since whether they are late changes with the clock.
PRESS = "press"
PRESS_WORKFLOW, FORWARD_DEADLINE = "press-referral", "forward"
# Content-removal requests by the month opened and ``outcome`` (migration 0027): complied (in the removed state),
# not_complied (marked not complied with, and not removed), and timed: each met 'comply' deadline of a removed
# request, in the duration bucket of its finished_at - started_at.
REMOVAL = "removal"
REMOVAL_WORKFLOW, REMOVED_STATE, COMPLY_DEADLINE = "content-removal", "verified_removed", "comply"


def removal_refused() -> ColumnElement[bool]:
    """A request marked not complied with: an audit row of that transition (it stays when the request is closed
    afterwards). Read once as a set through the partial index ix_audit_events_not_complied (the transition as a
    literal, so both databases can use it), not probed once per request (bench/RESULTS.md run 21)."""
    return Incident.id.in_(select(AuditEvent.incident_id).where(
        AuditEvent.transition == literal(NOT_COMPLIED_TRANSITION, literal_execute=True)))


def removal_timed() -> list[ColumnElement[bool]]:
    """The 'comply' deadlines that time a removal, joined to their incident: met, with a finishing time, of a
    request in the removed state."""
    return [Incident.workflow_key == REMOVAL_WORKFLOW, Incident.state == REMOVED_STATE,
            Deadline.key == COMPLY_DEADLINE, Deadline.status == "met", Deadline.finished_at.is_not(None)]


# Duration buckets: [0, 60.5 s), then each about 5% wider than the one before, the last open-ended (past ten
# years). Whole-second bounds + 0.5 s, so a duration of whole seconds is never on a bound whatever floating-point
# noise the database's date arithmetic adds. Migration 0022 wrote the same list into ``duration_buckets`` (a test
# checks they agree): the triggers find a duration's bucket there, the dashboards with ``duration_bucket``.
DURATION_GROWTH = 1.05
_TEN_YEARS = 10 * 365.25 * 86400


def _bucket_starts() -> tuple[float, ...]:
    starts, k = [0.0], 0
    while starts[-1] < _TEN_YEARS:
        starts.append(round(60 * DURATION_GROWTH ** k) + 0.5)
        k += 1
    return tuple(starts)


DURATION_BUCKET_STARTS = _bucket_starts()


def duration_bucket(seconds: float) -> int:
    """The bucket a duration falls in (a negative one, which cannot happen, in the first)."""
    return max(0, bisect_right(DURATION_BUCKET_STARTS, seconds) - 1)


def bucket_value(bucket: int) -> float:
    """The duration a bucket stands for, in whole seconds: its geometric middle (at most about 2.5% from any
    duration in it); half a minute for the first; the start of the last, open-ended one."""
    if bucket == 0:
        return 30.0
    if bucket >= len(DURATION_BUCKET_STARTS) - 1:
        return float(round(DURATION_BUCKET_STARTS[-1]))
    return float(round(sqrt(DURATION_BUCKET_STARTS[bucket] * DURATION_BUCKET_STARTS[bucket + 1])))


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """Seconds from ``earlier`` to ``later`` in SQL, as migration 0022's triggers work them out (so a duration read
    by a query falls in the same bucket as the triggers counted it in)."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return cast(func.extract("epoch", later - earlier), Float)


_EPOCH_DAY = date(1970, 1, 1)


def due_day(instant: datetime) -> int:
    """The UTC day an instant falls on, as days since 1970-01-01: the ``bucket`` of a running deadline's ``due``
    count (migration 0023 works it out from the stored value the same way)."""
    return (instant.astimezone(UTC).date() - _EPOCH_DAY).days


def press_outcome(status: str, finished_at: datetime | None, due_at: datetime) -> tuple[str, int]:
    """A forward deadline's (``outcome``, ``bucket``) in the ``press`` counts, as migration 0026 gives them."""
    if status == "cancelled":
        return "stopped", 0
    if status == "met" and finished_at is not None:
        return ("within" if finished_at <= due_at else "late"), 0
    return ("undated" if status == "met" else "live"), due_day(due_at)


def day_start(day: int) -> datetime:
    """Midnight UTC starting ``day`` (``due_day``'s inverse)."""
    return datetime.combine(_EPOCH_DAY + timedelta(days=day), time(0), UTC)


# An incident's group and assignment by id, for the dashboards' "due" (migration 0021; PostgreSQL only).
GROUP_BY_ID_INDEX = "ix_incidents_group_by_id"


class CalendarMonth(Base):
    """The UTC instant each Europe/London calendar month starts (1990-2100), so SQLite triggers can find an
    instant's UK month without time-zone support."""

    __tablename__ = "calendar_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-03"
    starts_at: Mapped[datetime] = mapped_column(unique=True)


class IncidentCount(Base):
    __tablename__ = "incident_counts"
    __table_args__ = (
        # A team's dashboard reads its own team's rows; every-team views read by (measure, month) (migration 0031).
        Index("ix_incident_counts_measure_month_team", "measure", "month", "team_id"),
        # The slices with rows no fold has summed yet (migration 0028).
        Index("ix_incident_counts_unfolded", "measure", "month", sqlite_where=text("NOT folded"),
              postgresql_where=text("NOT folded")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    measure: Mapped[str] = mapped_column(String(8))
    month: Mapped[str | None] = mapped_column(String(7))
    workflow_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    clause_key: Mapped[str] = mapped_column(String(64))
    in_case_file: Mapped[bool] = mapped_column(Boolean)
    restricted: Mapped[bool] = mapped_column(Boolean)
    side: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(Integer)
    # '' where a measure does not use them (the triggers of 0015 leave them at that default).
    severity: Mapped[str] = mapped_column(String(16), server_default="")
    outcome: Mapped[str] = mapped_column(String(64), server_default="")
    subject_role: Mapped[str] = mapped_column(String(32), server_default="")
    bucket: Mapped[int] = mapped_column(Integer, server_default="0")  # TO_CLOSE, TO_ACT; 0 elsewhere
    n: Mapped[int] = mapped_column(Integer)
    # Written by a fold (the sum of its key); the triggers' change rows leave it false.
    folded: Mapped[bool] = mapped_column(Boolean, server_default=false())


class DurationBucket(Base):
    """``DURATION_BUCKET_STARTS`` as a table (migration 0022), for the triggers to look a duration's bucket up."""

    __tablename__ = "duration_buckets"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    starts_at: Mapped[float] = mapped_column(Float, unique=True)  # seconds
