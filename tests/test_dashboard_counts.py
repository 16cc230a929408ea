"""The dashboards' running counts (incident_counts, kept by triggers) against the incidents themselves.

Each test changes incidents the ways the app and its operators can (open, move, close, reopen, change group,
cite and withdraw clauses, delete) and then checks, on both databases, that a recount from the rows agrees
(``counts.drift`` is empty), that folding keeps every figure, and that every user's dashboard reads the same
from the counts as row by row.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from app.models import CaseFile, Deadline, Incident, IncidentClause, IncidentCount, IncidentShare, Person, Team, User
from app.models.counts import (
    BY_ROLE,
    DUE,
    DURATION_BUCKET_STARTS,
    PRESS,
    REMOVAL,
    SANCTION,
    TO_ACT,
    TO_CLOSE,
    DurationBucket,
    bucket_value,
    duration_bucket,
    seconds_between,
)
from app.models.incidents import SEVERITIES
from app.permissions import visible_incidents
from app.services import audit, counts, dashboard
from app.services.demo import load_demo
from tests.conftest import login

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
COUNTED_SECTIONS = ("volume", "open_states", "due", "clauses", "timings", "removal", "press", "sanctions")
OUTCOMES = (None, "no further action", "advice", "removal requested", "formal warning")


def _registry(app):  # type: ignore[no-untyped-def]
    return app.extensions["breachdesk.workflows"]


def _shuffle_incidents(app, db, seed: int = 7) -> None:  # type: ignore[no-untyped-def]
    """Moves incidents around at random: states, closures and reopenings, months (a clock change's last hour
    among them), teams, restriction, case files, clauses cited and withdrawn, outcomes, severities, subjects and
    the subjects' roles."""
    rng = random.Random(seed)
    acts = random.Random(seed + 1)  # first actions: their own sequence, so the rest moves as it always has
    registry = _registry(app)
    teams = list(db.scalars(select(Team)))
    case_files = list(db.scalars(select(CaseFile)))
    users = list(db.scalars(select(User)))
    people = list(db.scalars(select(Person).order_by(Person.id)))
    for i in range(60):  # more than the demo's few, every workflow, some of them personal to someone
        definition = rng.choice(list(registry.current.values()))
        state = rng.choice(list(definition.states))
        created = NOW - timedelta(days=rng.randint(0, 450), hours=rng.randint(0, 23))
        db.add(Incident(reference=f"R-{seed}-{i}", kind=definition.kind, title="t", side=definition.side,
                        workflow_key=definition.key, workflow_version="1", state=state, created_at=created,
                        state_entered_at=created, team_id=rng.choice([None, *[t.id for t in teams]]),
                        assignee_id=rng.choice([None, *[u.id for u in users]]),
                        closed_at=created + timedelta(days=3) if definition.states[state].final else None,
                        first_action_at=created + timedelta(minutes=acts.randint(1, 20_000)) if i % 3 else None,
                        outcome=rng.choice(OUTCOMES), severity=rng.choice(SEVERITIES),
                        subject_id=rng.choice([None, *[p.id for p in people]])))
    db.flush()
    incidents = list(db.scalars(select(Incident).order_by(Incident.id)))
    for incident in incidents:
        definition = registry.get(incident.workflow_key)
        roll = rng.random()
        if roll < 0.3:
            state = rng.choice(list(definition.states))
            incident.state = state
            closed = max(incident.created_at, NOW - timedelta(days=rng.randint(0, 300)))
            incident.closed_at = closed if definition.states[state].final else None
        elif roll < 0.45:
            # 23:30 UTC on 31 March 2026 is 00:30 on 1 April in London (summer time): April's incident.
            incident.created_at = rng.choice([datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
                                              NOW - timedelta(days=rng.randint(0, 500))])
            if incident.closed_at is not None:
                incident.closed_at = incident.created_at + timedelta(days=rng.randint(0, 60))
        elif roll < 0.6:
            incident.team_id = rng.choice([None, *[t.id for t in teams]])
        elif roll < 0.7:
            incident.restricted = not incident.restricted
        elif roll < 0.8 and case_files:
            incident.case_file_id = rng.choice([None, *[c.id for c in case_files]])
        elif roll < 0.9:
            db.add(IncidentClause(incident_id=incident.id, clause_key=rng.choice(["rcr:2.8", "rcr:2.16", "rcr:2.33"]),
                                  catalogue_version="1", cited_at=NOW - timedelta(days=rng.randint(0, 400))))
        roll = rng.random()
        if roll < 0.15:
            incident.outcome = rng.choice(OUTCOMES)
        elif roll < 0.25:
            incident.severity = rng.choice(SEVERITIES)
        elif roll < 0.35:
            incident.subject_id = rng.choice([None, *[p.id for p in people]])
        elif roll < 0.45:  # a first action, some of them within the first minute
            incident.first_action_at = incident.created_at + timedelta(seconds=acts.choice([0, 59, 61, 86_400 * 9]))
        db.flush()
    _shuffle_deadlines(db, incidents, random.Random(seed + 2))
    _shuffle_removals(db, random.Random(seed + 3))
    for clause in db.scalars(select(IncidentClause).limit(3)):
        db.delete(clause)
    for clause in db.scalars(select(IncidentClause).limit(2)):
        clause.clause_key = "rcr:2.20"
    # A subject becomes an officer (or stops being one): their incidents with an outcome move with them.
    subjects = db.scalars(select(Person).join(Incident, Incident.subject_id == Person.id)
                          .where(Incident.outcome.is_not(None)).distinct().order_by(Person.id)).all()
    assert subjects, "some incidents with an outcome have a subject"
    for person in subjects[:4]:
        person.role = "contributor" if person.role == "officer" else "officer"
    db.flush()


# Due times on the edges of the dashboard's days and week (NOW is a Monday noon, UTC): midnight, a microsecond
# before it, NOW itself, exactly a week on, and the last microsecond of the seventh day.
EDGES = (datetime(2026, 6, 15, tzinfo=UTC), datetime(2026, 6, 14, 23, 59, 59, 999_999, tzinfo=UTC), NOW,
         NOW + timedelta(days=7), datetime(2026, 6, 22, 23, 59, 59, 999_999, tzinfo=UTC),
         datetime(2026, 6, 23, tzinfo=UTC))


def _shuffle_deadlines(db, incidents, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """Starts deadlines due from a month ago to a month ahead (some on the edges of a day or of the week), then
    meets, pauses, cancels, resumes, extends and deletes some of them."""
    press = [i for i in incidents if i.workflow_key == "press-referral"]
    assert press, "some incidents are press referrals (their 'forward' deadlines are counted by outcome)"
    for incident in [*rng.sample(incidents, k=min(len(incidents), 40)), *press]:
        for n in range(rng.randint(1, 3)):
            due = rng.choice([*EDGES, NOW + timedelta(hours=rng.randint(-24 * 30, 24 * 30), minutes=rng.randint(0, 59))])
            status = rng.choice(["running", "running", "running", "paused", "met", "cancelled"])
            # Met before or after the due time, or (as the app never writes) with no time at all.
            finished = rng.choice([None, due - timedelta(hours=1), due + timedelta(hours=1)]) if status == "met" else None
            db.add(Deadline(incident_id=incident.id, key="forward" if n == 0 else f"k{n}", title="t", why="w",
                            duration="10 days", calendar="england", started_at=due - timedelta(days=10), due_at=due,
                            status=status, finished_at=finished))
    for incident in press:  # every outcome on each press referral: within, late, waiting, stopped
        for status, due, finished in (("met", NOW, NOW - timedelta(hours=2)), ("met", NOW - timedelta(days=2), NOW),
                                      ("running", NOW + timedelta(days=3), None), ("cancelled", NOW, None)):
            db.add(Deadline(incident_id=incident.id, key="forward", title="t", why="w", duration="1 day",
                            calendar="england", started_at=due - timedelta(days=1), due_at=due, status=status,
                            finished_at=finished))
    db.flush()
    for deadline in db.scalars(select(Deadline).order_by(Deadline.id)).all():
        roll = rng.random()
        if roll < 0.1:
            deadline.status, deadline.finished_at = "met", rng.choice([NOW, deadline.due_at, None])
        elif roll < 0.15:
            deadline.status = "cancelled"
        elif roll < 0.2:
            deadline.status = "paused" if deadline.status == "running" else "running"
        elif roll < 0.3:
            deadline.due_at = rng.choice([*EDGES, deadline.due_at + timedelta(days=rng.randint(1, 9))])
        elif roll < 0.33:
            db.delete(deadline)
    db.flush()
    # Incidents with running deadlines change group and workflow: the deadlines' counts move with them.
    running = [db.get(Incident, i) for i in db.scalars(select(Deadline.incident_id).where(Deadline.status == "running")
                                                       .distinct().order_by(Deadline.incident_id))]
    assert len(running) >= 10
    teams = [None, *db.scalars(select(Team.id))]
    for n, incident in enumerate(running[:12]):
        if n % 3 == 0:
            incident.team_id = rng.choice(teams)
        elif n % 3 == 1:
            incident.restricted = not incident.restricted
        else:
            incident.workflow_key = rng.choice(["press-referral", "content-removal", "problem-solving"])
    db.flush()


REMOVAL_STATES = ("evidence_captured", "awaiting_compliance", "verified_removed", "non_compliant",
                  "awaiting_platform", "closed", "verified_removed")


def _shuffle_removals(db, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """Content-removal requests in every state, in and out of the period, with 'comply' deadlines met (with and
    without a finishing time), running and cancelled, some marked not complied with (twice in one statement for
    some); then removed, reopened, moved between groups, months and workflows, their deadlines changed and deleted."""
    teams = [None, *db.scalars(select(Team.id))]
    requests = []
    for i in range(21):
        state = REMOVAL_STATES[i % len(REMOVAL_STATES)]
        # Most in the period; some a year and more ago.
        created = NOW - timedelta(days=rng.choice([2, 40, 200, 330, 400] if i % 4 == 1 else [2, 40, 200]),
                                  hours=rng.randint(0, 23))
        request = Incident(reference=f"RM-{i}", kind="content_removal", title="t", side="college",
                           workflow_key="content-removal", workflow_version="1", state=state, created_at=created,
                           state_entered_at=created, team_id=rng.choice(teams), restricted=i % 7 == 3)
        db.add(request)
        requests.append(request)
    db.flush()
    for n, request in enumerate(requests):
        for _ in range(rng.randint(1, 2)):
            started = request.created_at + timedelta(hours=rng.randint(0, 30))
            status = rng.choice(["met", "met", "running", "cancelled"])
            finished = started + timedelta(minutes=rng.choice([30, 61, 300, 2_000, 9_000])) \
                if status == "met" and rng.random() < 0.8 else None
            db.add(Deadline(incident_id=request.id, key="comply", title="t", why="w", duration="2 days",
                            calendar="england", started_at=started, due_at=started + timedelta(days=2),
                            status=status, finished_at=finished))
        if n % 3:
            refusals = [audit.Entry(actor=None, action="incident.transition", incident=request,
                                    transition="mark_non_compliant") for _ in range(1 + n % 2)]
            audit.record_many(db, refusals)  # two in one statement for some: the first counts
    db.flush()
    for request in requests:
        roll = rng.random()
        if roll < 0.25:
            request.state = rng.choice(REMOVAL_STATES)
        elif roll < 0.35:
            request.team_id = rng.choice(teams)
        elif roll < 0.45:
            request.created_at = NOW - timedelta(days=rng.choice([5, 380]))
        elif roll < 0.5:
            request.workflow_key = "problem-solving"
        db.flush()
    for deadline in db.scalars(select(Deadline).join(Incident, Incident.id == Deadline.incident_id)
                               .where(Incident.reference.like("RM-%"), Deadline.key == "comply")
                               .order_by(Deadline.id)).all():
        roll = rng.random()
        if roll < 0.15:
            deadline.status, deadline.finished_at = "met", deadline.started_at + timedelta(hours=rng.randint(1, 90))
        elif roll < 0.25:
            deadline.status = "cancelled"
        elif roll < 0.3:
            deadline.started_at -= timedelta(hours=5)
        elif roll < 0.35:
            db.delete(deadline)
    db.flush()
    # Marked not complied with once already, and again: counted once. And a request reopened after removal.
    again = db.scalars(select(Incident).where(Incident.reference.in_(["RM-1", "RM-2"]))).all()
    audit.record_many(db, [audit.Entry(actor=None, action="incident.transition", incident=r,
                                       transition="mark_non_compliant") for r in again])
    removed = db.scalars(select(Incident).where(Incident.reference.like("RM-%"),
                                                Incident.state == "verified_removed")).first()
    if removed is not None:
        removed.state = "awaiting_compliance"
    db.flush()


def _boards(app, db, counted: bool) -> dict[int, dict[str, object]]:  # type: ignore[no-untyped-def]
    return {user.id: dashboard.build(db, user, _registry(app), "admin", NOW, only=COUNTED_SECTIONS,
                                     counted=counted).data
            for user in db.scalars(select(User).order_by(User.id))}


def test_counts_follow_every_change_and_folding_keeps_them(app, db):
    load_demo(db, _registry(app))
    db.commit()
    assert counts.drift(db) == {}, "the triggers counted the demo as it was opened and moved"
    _shuffle_incidents(app, db)
    db.commit()
    assert counts.drift(db) == {}
    kept_measures = {key[0] for key in counts.current(db)}
    assert {SANCTION, BY_ROLE} <= kept_measures, "outcomes by clause and by subject role are counted"
    assert {TO_CLOSE, TO_ACT} <= kept_measures, "times to close and to act are counted in duration buckets"
    assert DUE in kept_measures, "running deadlines are counted by the day they fall due"
    assert PRESS in kept_measures, "press referrals' forward deadlines are counted by outcome"
    removal = {key[10] for key in counts.current(db) if key[0] == REMOVAL}
    assert removal == {"complied", "not_complied", "timed"}, "content-removal requests are counted by outcome"

    rows_before = db.scalar(select(func.count()).select_from(IncidentCount))
    kept = counts.current(db)
    folded = counts.fold(db)
    db.commit()
    assert folded == rows_before
    assert counts.current(db) == kept and counts.drift(db) == {}
    assert db.scalar(select(func.count()).select_from(IncidentCount)) == len(kept), "one row per key after a fold"
    assert counts.fold(db) == 0, "nothing changed since the last fold: nothing is rewritten"
    db.commit()
    assert counts.current(db) == kept

    # One incident moves to another team: the fold rewrites the keys it changed, and only those.
    moved = db.scalar(select(Incident).where(Incident.reference.like("R-%"), Incident.closed_at.is_(None),
                                             Incident.team_id.is_not(None)).order_by(Incident.id).limit(1))
    assert moved is not None
    moved.team_id = None
    db.commit()
    changed = set(db.execute(select(*counts.KEY).where(IncidentCount.folded.is_(False))).all())
    rows = db.execute(select(IncidentCount.id, *counts.KEY)).all()
    rewritten = {row.id for row in rows if tuple(row[1:]) in changed}
    assert len(changed) >= 2 and len(rewritten) < len(rows) / 4, "a few keys changed, most did not"
    assert counts.fold(db) == len(rewritten)
    db.commit()
    assert {row.id for row in rows} - rewritten <= set(db.scalars(select(IncidentCount.id))), \
        "rows of unchanged keys are not rewritten"
    assert counts.drift(db) == {}
    assert db.scalar(select(func.count()).select_from(IncidentCount)) == len(counts.current(db))

    # Deleting an incident takes its counts and its citations' counts with it (the citations go by cascade).
    cited = db.scalar(select(IncidentClause.incident_id).join(Incident, Incident.id == IncidentClause.incident_id)
                      .where(Incident.reference.like("R-%")).limit(1))  # one of ours: nothing else refers to it
    assert cited is not None
    db.execute(delete(Incident).where(Incident.id == cited))
    db.commit()
    assert counts.drift(db) == {}
    # And its running deadlines' counts (the deadlines go by cascade).
    with_deadline = db.scalar(select(Deadline.incident_id).join(Incident, Incident.id == Deadline.incident_id)
                              .where(Incident.reference.like("R-%"), Deadline.status == "running").limit(1))
    assert with_deadline is not None
    db.execute(delete(Incident).where(Incident.id == with_deadline))
    db.commit()
    assert counts.drift(db) == {}


def test_a_rebuild_sums_a_freshly_loaded_table_into_one_folded_row_per_key_as_a_fold_would(app, db):
    load_demo(db, _registry(app))
    _shuffle_incidents(app, db)
    db.commit()
    rows_before = db.scalar(select(func.count()).select_from(IncidentCount))
    kept = counts.current(db)
    assert counts.rebuild(db) == rows_before
    db.commit()
    assert counts.current(db) == kept and counts.drift(db) == {}
    rows = db.execute(select(IncidentCount.folded, IncidentCount.n)).all()
    assert len(rows) == len(kept) and all(folded and n != 0 for folded, n in rows), "one folded row per key"
    assert counts.fold(db) == 0, "nothing left for a fold to do"


@pytest.mark.parametrize("personal_ids_limit", [dashboard.PERSONAL_IDS_LIMIT, 1],
                         ids=["personal incidents listed once", "too many to list"])
def test_every_users_dashboard_reads_the_same_from_the_counts_as_row_by_row(app, db, make, monkeypatch,
                                                                            personal_ids_limit):
    monkeypatch.setattr(dashboard, "PERSONAL_IDS_LIMIT", personal_ids_limit)
    load_demo(db, _registry(app))
    # People who see incidents only personally: the assignee of restricted and no-team incidents, a share.
    comms = make.user("comms", team="communications")
    regional = make.user("regional_officer", team="reps-north")
    make.user("admin")
    _shuffle_incidents(app, db, seed=11)
    incidents = list(db.scalars(select(Incident).where(Incident.case_file_id.is_(None)).order_by(Incident.id)))
    incidents[0].assignee_id, incidents[0].restricted = comms.id, True
    incidents[1].assignee_id, incidents[1].team_id = comms.id, None
    incidents[2].created_by_id = comms.id
    db.add(IncidentShare(incident_id=incidents[3].id, user_id=regional.id, reason="test", kind="share"))
    assert db.scalar(select(func.count()).select_from(CaseFile)), "the demo has a member's case file"
    db.commit()

    from_counts, from_rows = _boards(app, db, counted=True), _boards(app, db, counted=False)
    assert from_counts.keys() == from_rows.keys() and len(from_counts) >= 8
    admin = next(u for u in db.scalars(select(User).where(User.role == "admin")))
    assert from_counts[admin.id]["sanctions"].by_clause and any(from_counts[admin.id]["sanctions"].by_role.values())
    assert from_counts[admin.id]["due"].overdue and from_counts[admin.id]["due"].due_this_week
    removal = from_counts[admin.id]["removal"]
    assert removal.complied and removal.not_complied and removal.removal_n > 1, "every removal outcome is exercised"
    press = from_counts[admin.id]["press"]
    assert press.within and press.late and press.waiting and press.not_forwarded, "every outcome is exercised"
    for user_id, board in from_counts.items():
        for section in COUNTED_SECTIONS:
            assert board[section] == from_rows[user_id][section], (db.get(User, user_id).role, section)

    # The row-by-row part was exercised: comms sees the restricted and the no-team incident only as theirs.
    personal = db.scalar(select(func.count()).select_from(Incident).where(dashboard.Scope(comms, True).rows))
    assert personal >= 2
    listed = dashboard.Scope(comms, True, session=db).personal_ids
    assert (listed is not None and len(listed) == personal) if personal_ids_limit > 1 else listed is None

    # Above the exact limit the times come from the counts' histograms and the personal incidents: the same as
    # putting every incident the user may read in the buckets one by one.
    monkeypatch.setattr(dashboard, "EXACT_LIMIT", -1)  # every user, even one whose role sees no group
    for user in db.scalars(select(User).order_by(User.id)):
        timings = dashboard.build(db, user, _registry(app), "admin", NOW, only=["timings"]).timings
        assert all(t.approximate for t in timings)
        close, act = _histograms_row_by_row(db, user)
        assert {t.workflow: (t.closed, t.close_p50, t.close_p90) for t in timings if t.closed} == \
            {k: (f["n"], f["p50"], f["p90"]) for k, f in close.items()}, user.role
        assert {t.workflow: (t.acted, t.action_p50, t.action_p90) for t in timings if t.acted} == \
            {k: (f["n"], f["p50"], f["p90"]) for k, f in act.items()}, user.role


def test_times_to_removal_above_the_exact_limit_come_from_the_duration_buckets(app, db, make, monkeypatch, client):
    """Above REMOVAL_EXACT_LIMIT the time to removal is read from the counts' buckets plus the personal requests: the
    same as putting every timed removal the user may read in the buckets one by one; and the page says so."""
    load_demo(db, _registry(app))
    make.user("comms", team="communications")
    admin = make.user("admin")
    _shuffle_incidents(app, db, seed=13)
    db.commit()
    monkeypatch.setattr(dashboard, "REMOVAL_EXACT_LIMIT", -1)
    dialect = db.get_bind().dialect.name
    months = dashboard.months_to(NOW)
    seen = 0
    for user in db.scalars(select(User).order_by(User.id)):
        board = dashboard.build(db, user, _registry(app), "admin", NOW, only=["removal"]).removal
        buckets: dict[tuple[str, int], int] = {}
        for (seconds,) in db.execute(
                select(seconds_between(Deadline.finished_at, Deadline.started_at, dialect))
                .join(Incident, Incident.id == Deadline.incident_id)
                .where(Incident.created_at >= months[0].start, Incident.created_at < months[-1].end,
                       Incident.workflow_key == "content-removal", Incident.state == "verified_removed",
                       Deadline.key == "comply", Deadline.status == "met", Deadline.finished_at.is_not(None),
                       visible_incidents(user))):
            buckets[("all", duration_bucket(seconds))] = buckets.get(("all", duration_bucket(seconds)), 0) + 1
        expected = dashboard._histogram_percentiles(buckets).get("all", {})
        assert (board.removal_n, board.removal_p50, board.removal_p90) == \
            (expected.get("n", 0), expected.get("p50"), expected.get("p90")), user.role
        assert board.approximate
        seen += board.removal_n
    assert seen, "some users see timed removals"
    login(client, admin)
    html = client.get("/dashboard/admin").get_data(as_text=True)
    assert "timed; with this many, read from running counts in steps about 5% apart" in html
    monkeypatch.setattr(dashboard, "REMOVAL_EXACT_LIMIT", 1_000)
    assert "timed; with this many" not in client.get("/dashboard/admin").get_data(as_text=True)


def _histograms_row_by_row(db, user):  # type: ignore[no-untyped-def]
    dialect = db.get_bind().dialect.name
    months = dashboard.months_to(NOW)
    out = []
    for later in (Incident.closed_at, Incident.first_action_at):
        buckets: dict[tuple[str, int], int] = {}
        for key, seconds in db.execute(select(Incident.workflow_key, seconds_between(later, Incident.created_at, dialect))
                                       .where(Incident.created_at >= months[0].start, Incident.created_at < months[-1].end,
                                              later.is_not(None), visible_incidents(user))):
            buckets[(key, duration_bucket(seconds))] = buckets.get((key, duration_bucket(seconds)), 0) + 1
        out.append(dashboard._histogram_percentiles(buckets))
    return out


def test_times_over_a_big_cohort_come_from_duration_histograms_within_3_percent(app, db, make, monkeypatch, client,
                                                                               signed_in):
    admin = make.user("admin")
    created = NOW - timedelta(days=20)
    for i in range(200):
        db.add(Incident(reference=f"S-{i}", kind="reported_post", title="t", side="college",
                        workflow_key="problem-solving", workflow_version="1", state="closed", created_at=created,
                        state_entered_at=created, closed_at=created + timedelta(hours=1 + i),
                        first_action_at=created + timedelta(minutes=1 + i)))
    db.commit()
    monkeypatch.setattr(dashboard, "EXACT_LIMIT", 100)

    (timing,) = dashboard.build(db, admin, _registry(app), "admin", NOW, only=["timings"]).timings
    assert timing.approximate and (timing.closed, timing.acted) == (200, 200)
    # Exact nearest-rank figures: the 100th and 180th of 1..200 hours (and minutes).
    assert timing.close_p50 == pytest.approx(100 * 3600, rel=0.03) and timing.close_p50 != 100 * 3600
    assert timing.close_p90 == pytest.approx(180 * 3600, rel=0.03)
    assert timing.action_p50 == pytest.approx(100 * 60, rel=0.03)
    assert timing.action_p90 == pytest.approx(180 * 60, rel=0.03)

    (exact,) = dashboard.build(db, admin, _registry(app), "admin", NOW, only=["timings"], counted=False).timings
    assert not exact.approximate and (exact.close_p50, exact.close_p90) == (100 * 3600, 180 * 3600)

    # The page says the figures are approximate, and by how much.
    signed_in("admin")
    html = client.get("/dashboard/admin").get_data(as_text=True)
    assert "so each is within 3%" in html


def test_duration_buckets_are_the_same_in_the_database_and_in_python_and_each_is_within_3_percent(db):
    stored = db.execute(select(DurationBucket.bucket, DurationBucket.starts_at).order_by(DurationBucket.bucket)).all()
    assert [tuple(row) for row in stored] == list(enumerate(DURATION_BUCKET_STARTS))
    assert DURATION_BUCKET_STARTS[-1] > 10 * 365 * 86400
    rng = random.Random(3)
    for seconds in [60.5, 61, 3599, 3600, 86_400, 86_400 * 30, *(10 ** rng.uniform(1.8, 8.4) for _ in range(2000))]:
        assert bucket_value(duration_bucket(seconds)) == pytest.approx(seconds, rel=0.03, abs=1), seconds
    assert bucket_value(duration_bucket(59)) == 30 and duration_bucket(-1) == 0


def test_a_teams_dashboard_reads_only_its_own_teams_counts(app, db, make, dialect):
    """A communications officer's or regional officer's sums seek their own team's count rows through the index
    (migration 0031), rather than reading every team's rows of the months and dropping the others'."""
    from sqlalchemy import event

    comms = make.user("comms", team="communications")
    sums: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, *_args):  # type: ignore[no-untyped-def]
        if "FROM incident_counts" in statement and "team_id" in statement:
            sums.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        dashboard.build(db, comms, _registry(app), "comms", NOW, counted=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(sums) >= 5, "the counted sections read the counts"
    connection = db.connection()
    if dialect != "sqlite":  # on a table of a few rows any plan costs next to nothing: ask for an index
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    for statement, parameters in sums:
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
            ("EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN ") + statement, parameters).all())
        if dialect == "sqlite":
            assert "ix_incident_counts_measure_month_team (measure=? AND month=? AND team_id=?)" in plan, plan
        else:
            assert "ix_incident_counts_measure_month_team" in plan and "team_id =" in plan, plan
    db.rollback()
