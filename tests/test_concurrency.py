"""Two people acting on one incident at once: exactly one wins, the others are told, nothing half-written."""

import threading

from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db as database
from app.models import AuditEvent, Incident, User
from app.services.incidents import IncidentChangedElsewhere, OpenRequest, open_incident, take_transition
from app.workflow import TransitionNotAllowed

THREADS = 8
ROUNDS = 4
CHOICES = [
    ("triage", {"clauses": ["rcr:2.9"], "severity": "high"}, None),
    ("close_no_breach", {}, "not a breach after all"),
]


def _race(app, incident_id: int, actor_id: int) -> tuple[list[str], list[str]]:
    registry = app.extensions["breachdesk.workflows"]
    barrier = threading.Barrier(THREADS)
    winners: list[str] = []
    told: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        session = database.session  # thread-scoped: every thread has its own session and connection
        try:
            version = session.get(Incident, incident_id).version
            session.rollback()
            key, values, comment = CHOICES[n % 2]
            barrier.wait(timeout=30)
            incident = session.get(Incident, incident_id)
            actor = session.get(User, actor_id)
            take_transition(session, registry, incident, key, actor=actor, values=values, comment=comment,
                            expected_version=version)
            session.commit()
            with lock:
                winners.append(key)
        except (IncidentChangedElsewhere, StaleDataError, TransitionNotAllowed) as refused:
            session.rollback()
            with lock:
                told.append(type(refused).__name__)
        finally:
            database.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return winners, told


def test_conflicting_transitions_one_wins_each_time_and_audit_matches(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    admin = make.user("admin")
    for round_number in range(ROUNDS):
        incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving",
                                                           title=f"race {round_number}"), actor=admin)
        db.commit()
        incident_id = incident.id
        db.remove() if hasattr(db, "remove") else database.session.remove()

        winners, told = _race(app, incident_id, admin.id)

        assert len(winners) == 1, (winners, told)
        assert len(told) == THREADS - 1
        fresh = database.session.get(Incident, incident_id)
        assert fresh.version == 2  # opened at 1, moved exactly once
        expected_state = "triaged" if winners[0] == "triage" else "closed_no_breach"
        assert fresh.state == expected_state
        transitions = database.session.scalar(
            select(func.count()).select_from(AuditEvent)
            .where(AuditEvent.incident_id == incident_id, AuditEvent.action == "incident.transition"))
        assert transitions == 1
        database.session.remove()


def test_the_same_post_reported_by_several_people_at_once_opens_one_incident(app, db, make):
    """Each reporter checks for the post before opening an incident; without serialising those
    checks, simultaneous reports could each find nothing and open an incident of their own."""
    from app.models import Post, Report
    from app.services.incidents import PostInput
    from app.services.intake import ReportInput, check_post, report_post

    registry = app.extensions["breachdesk.workflows"]
    comms_ids = [make.user("comms", team="communications").id for _ in range(THREADS)]
    database.session.remove()
    barrier = threading.Barrier(THREADS)
    joined: list[bool] = []
    lock = threading.Lock()

    def reporter(actor_id: int, n: int) -> None:
        session = database.session
        try:
            post = check_post(PostInput(platform="x", url=f"https://twitter.com/Dr_Race/status/1234567890?s={n}",
                                        text="Same post, reported by everyone at once"))
            barrier.wait(timeout=30)
            result = report_post(session, registry,
                                 OpenRequest(workflow_key="problem-solving", title="Race to report", post=post),
                                 ReportInput(channel="staff"), actor=session.get(User, actor_id))
            session.commit()
            with lock:
                joined.append(result.joined)
        finally:
            database.session.remove()

    threads = [threading.Thread(target=reporter, args=(actor_id, n)) for n, actor_id in enumerate(comms_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    session = database.session
    assert sorted(joined) == [False] + [True] * (THREADS - 1)
    assert session.scalar(select(func.count()).select_from(Incident)) == 1
    assert session.scalar(select(func.count()).select_from(Post)) == 1
    assert session.scalar(select(func.count()).select_from(Report)) == THREADS
    database.session.remove()


def test_two_imports_of_the_same_posts_at_once_open_each_incident_once(app, db, make):
    """Two monitoring exports holding the same posts, imported at the same moment, in opposite orders: each post
    opens one incident and the other file's row joins it as a further report. On PostgreSQL each batch takes its
    posts' locks in one statement, in the same order in both writers, so neither waits on the other for ever."""
    from app.models import Post, Report
    from app.services import imports

    registry = app.extensions["breachdesk.workflows"]
    posts = 40
    actor_ids = [make.user("comms", team="communications").id for _ in range(2)]
    database.session.remove()

    def rows(reporter: str, order: range) -> list[imports.SourceRow]:
        return [imports.SourceRow(line=n + 2, original=[], values={
            "platform": "x", "url": f"https://x.com/someone/status/{5_000_000 + n}", "author_handle": "someone",
            "text": f"Post {n}", "reporter": reporter}) for n in order]

    batches = [rows("Brandwatch", range(posts)), rows("Talkwalker", range(posts - 1, -1, -1))]
    barrier = threading.Barrier(2)
    outcomes: list[list[str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def importer(actor_id: int, batch: list[imports.SourceRow]) -> None:
        session = database.session
        try:
            barrier.wait(timeout=30)  # before any statement: on SQLite the first to start holds the write lock
            done = imports.import_posts_batch(session, registry, batch, actor=session.get(User, actor_id))
            session.commit()
            with lock:
                outcomes.append([o.status for o in done])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            with lock:
                failures.append(error)
        finally:
            database.session.remove()

    threads = [threading.Thread(target=importer, args=pair) for pair in zip(actor_ids, batches, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == [] and len(outcomes) == 2, failures
    assert sorted(set(statuses) for statuses in outcomes) == [{imports.IMPORTED}, {imports.JOINED}]
    session = database.session
    assert session.scalar(select(func.count()).select_from(Incident)) == posts
    assert session.scalar(select(func.count()).select_from(Post)) == posts
    assert session.scalar(select(func.count()).select_from(Report)) == 2 * posts
    database.session.remove()
