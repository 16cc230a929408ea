"""The transition service against a real database: refusals write nothing; versions and migration.

Runs on SQLite and PostgreSQL (through the ``app`` fixture).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from app.models import AuditEvent, Incident, Person, User, WorkflowVersion
from app.services import NotFound
from app.services.incidents import (
    IncidentChangedElsewhere,
    OpenRequest,
    PostInput,
    definition_for,
    open_incident,
    take_transition,
)
from app.services.workflow_versions import MigrationBlocked, migrate_open_incidents
from app.workflow import TransitionNotAllowed, WorkflowRegistry
from app.workflow.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
BRAND = "brand-permission"


@dataclass(frozen=True)
class Snapshot:
    state: str
    version: int
    workflow_version: str
    closed: bool
    fields: dict
    audit_rows_for_incident: int
    audit_rows: int


def snapshot(db: Session, incident: Incident) -> Snapshot:
    """What is stored, read afresh from the database."""
    db.expire_all()
    stored = db.get(Incident, incident.id)
    assert stored is not None
    return Snapshot(
        state=stored.state, version=stored.version, workflow_version=stored.workflow_version,
        closed=stored.closed_at is not None, fields=dict(stored.fields or {}),
        audit_rows_for_incident=db.scalar(select(func.count(AuditEvent.id))
                                          .where(AuditEvent.incident_id == incident.id)),
        audit_rows=db.scalar(select(func.count(AuditEvent.id))),
    )


def registry_of(app: Flask) -> WorkflowRegistry:
    return app.extensions["breachdesk.workflows"]


def open_one(db: Session, registry: WorkflowRegistry, actor: User, workflow: str = "content-removal", *,
             post: bool = True) -> Incident:
    subject = Person(name="Dr Example", role="officer")
    db.add(subject)
    incident = open_incident(
        db, registry,
        OpenRequest(workflow_key=workflow, title="A reported post", subject=subject,
                    post=PostInput(platform="x", text="The post.") if post else None),
        actor=actor,
    )
    db.commit()
    return incident


# --- refusals change nothing ------------------------------------------------------------------


REFUSALS = {
    "wrong-state": ("admin", "verify_removed", {}, None,
                    "'Verify removal' cannot be taken now: the incident is at 'Evidence captured'. "
                    "Someone may have moved it on; reload to see its current state."),
    "wrong-role": ("director_of_comms", "request_removal", {"requested_via": "email", "asked_who": "The author"}, None,
                   "Your role may not take 'Request removal'."),
    "bad-field": ("admin", "request_removal", {"requested_via": "carrier_pigeon", "asked_who": "The author"}, None,
                  "Check the form: Requested via: choose one of: email, direct_message, phone."),
    "undeclared-field": ("admin", "request_removal",
                         {"requested_via": "email", "asked_who": "The author", "state": "closed"}, None,
                         "Check the form: 'state' is not a field of 'Request removal'."),
    "missing-comment": ("admin", "close_no_action", {}, "  ", "'Close, no action needed' needs a comment saying why."),
    "unknown-step": ("admin", "delete", {}, None, "'delete' is not a step of the Content removal request workflow."),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_transition_changes_nothing(app: Flask, db: Session, make, case: str) -> None:  # type: ignore[no-untyped-def]
    role, transition, values, comment, reason = REFUSALS[case]
    registry = registry_of(app)
    incident = open_one(db, registry, make.user("admin"))
    actor = make.user(role)
    before = snapshot(db, incident)

    with pytest.raises(TransitionNotAllowed) as caught:
        take_transition(db, registry, incident, transition, actor=actor, values=values, comment=comment,
                        expected_version=incident.version)
    assert caught.value.reason == reason
    db.commit()  # even committing afterwards stores nothing: the refusal came before any change

    assert snapshot(db, incident) == before
    assert before.state == "evidence_captured" and before.version == 1


def test_the_first_transition_records_the_first_action_time(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """Set once, to the first transition's audit time (the dashboards' time to first action reads it)."""
    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_one(db, registry, admin)
    assert incident.first_action_at is None
    take_transition(db, registry, incident, "request_removal", actor=admin,
                    values={"requested_via": "email", "asked_who": "The author"})
    db.commit()
    take_transition(db, registry, incident, "mark_non_compliant", actor=admin, comment="Still up.")
    db.commit()
    times = db.scalars(select(AuditEvent.at).where(AuditEvent.incident_id == incident.id,
                                                   AuditEvent.action == "incident.transition")
                       .order_by(AuditEvent.id)).all()
    db.expire_all()
    assert len(times) == 2 and db.get(Incident, incident.id).first_action_at == times[0]


@dataclass
class Recorded:
    statements: list[str]  # as sent to the database
    flushes: int


@contextmanager
def recording(db: Session) -> Iterator[Recorded]:
    """The statements the session sends and the flushes it makes while the block runs."""
    from sqlalchemy import event

    recorded = Recorded([], 0)

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        recorded.statements.append(" ".join(statement.split()))

    def flushing(_session, _context, _instances) -> None:  # type: ignore[no-untyped-def]
        recorded.flushes += 1

    event.listen(db.get_bind(), "before_cursor_execute", seen)
    event.listen(db, "before_flush", flushing)
    try:
        yield recorded
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)
        event.remove(db, "before_flush", flushing)


def test_an_outcome_recorded_by_a_transition_is_written_with_the_move_in_one_update(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """The step's record_outcome goes in the version-checked UPDATE that moves the incident, not in a second one."""
    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_one(db, registry, admin)
    take_transition(db, registry, incident, "report_to_platform", actor=admin, values={})
    db.commit()
    with recording(db) as recorded:
        take_transition(db, registry, incident, "record_platform_outcome", actor=admin,
                        values={"platform_decision": "removed"})
        db.commit()
    updates = [statement for statement in recorded.statements if statement.upper().startswith("UPDATE INCIDENTS")]
    assert len(updates) == 1 and "outcome" in updates[0] and "version" in updates[0]
    db.expire_all()
    stored = db.get(Incident, incident.id)
    assert (stored.state, stored.outcome) == ("platform_outcome", "removed")


def test_a_step_that_stops_a_clock_and_tells_a_role_moves_first_flushes_once_and_locks_its_rows_before_the_chain_head(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """The version-checked move first, by a statement of its own (no flush: write_moves_version_checked), then the
    rest at once when the audit chain head is read (reading the role's users does not flush on the way), and the
    chain head moves on without a flush of its own. The step's own rows are written, so locked, before the head: the
    sweep claims deadlines and then waits for the head, so a transition holding the head while it waited for a
    claimed deadline would deadlock with it."""
    from app.models import Deadline, OutboxMessage

    registry = registry_of(app)
    officer = make.user("officer")
    director = make.user("director_of_comms")
    incident = open_one(db, registry, officer, "antagonistic-tag", post=False)
    with recording(db) as recorded:
        take_transition(db, registry, incident, "refer_to_director", actor=officer)
        db.commit()
    assert recorded.flushes == 1
    statements = recorded.statements
    writes = [s for s in statements if s.split()[0] in ("UPDATE", "INSERT", "DELETE")]
    assert writes[0].startswith("UPDATE incidents SET") and "WHERE incidents.id = ? AND incidents.version = ?" in \
        writes[0].replace("%(old_id)s::INTEGER", "?").replace("%(old_version)s::INTEGER", "?"), writes
    stopped = next(n for n, s in enumerate(statements) if s.startswith("UPDATE deadlines SET"))
    head = next(n for n, s in enumerate(statements) if s.startswith("SELECT audit_chain_head."))
    assert stopped < head, statements
    db.expire_all()
    assert db.scalar(select(Deadline.status).where(Deadline.incident_id == incident.id)) == "met"
    assert db.scalars(select(OutboxMessage.to_address).where(OutboxMessage.incident_id == incident.id)).all() == \
        [director.email]


def test_a_step_taken_on_an_incident_just_opened_does_not_read_its_deadlines_back(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """As a linked track opened with its first step: the new incident is known to have no deadlines."""
    registry = registry_of(app)
    admin = make.user("admin")
    with recording(db) as recorded:
        incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A post"),
                                 actor=admin)
        take_transition(db, registry, incident, "close_no_breach", actor=admin, comment="Not a breach")
        db.commit()
    assert [s for s in recorded.statements if s.upper().startswith("SELECT") and "FROM deadlines" in s] == []
    assert db.get(Incident, incident.id).state == "closed_no_breach"


def test_the_step_an_incident_takes_as_it_is_opened_is_written_in_one_flush(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """A linked track's first step (``take_opening_step``): nobody else can see the new row yet, so no version-checked
    UPDATE goes ahead of the step; the move, its clocks and its audit row are written together."""
    from app.services.incidents import take_opening_step

    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A post"), actor=admin)
    with recording(db) as recorded:
        take_opening_step(db, registry, incident, "close_no_breach", actor=admin, as_role=None, values={},
                          comment="Not a breach")
    db.commit()
    assert recorded.flushes == 1
    db.expire_all()
    stored = db.get(Incident, incident.id)
    assert (stored.state, stored.version) == ("closed_no_breach", 2)
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.incident_id == incident.id, AuditEvent.action == "incident.transition")) == 1


def test_a_step_that_opens_a_linked_case_writes_it_set_wise_and_its_audit_rows_in_one_chain_extension(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """The officer's one-step escalation to a problem-solving case: the linked case opened as the sweep's escalations
    open theirs (``LinkedOpenings``), no incident object flushed for it, and the three audit rows (the case opened, the
    link, the step) appended by one extension of the chain, in that order."""
    from app.models import Deadline, IncidentLink

    registry = registry_of(app)
    officer, director = make.user("officer"), make.user("director_of_comms")
    tag = open_one(db, registry, officer, "antagonistic-tag", post=False)
    take_transition(db, registry, tag, "refer_to_director", actor=officer)
    take_transition(db, registry, tag, "assess", actor=director, comment="Antagonistic, and not the first.")
    db.commit()
    with recording(db) as recorded:
        take_transition(db, registry, tag, "open_problem_solving", actor=director, comment="A pattern of tags.")
        db.commit()
    assert len([s for s in recorded.statements if s.startswith("UPDATE audit_chain_head")]) == 1
    assert recorded.flushes == 1  # the linked case's rows go by statements of their own, not by an object's flush
    db.expire_all()
    [link] = db.scalars(select(IncidentLink).where(IncidentLink.from_id == tag.id)).all()
    case = db.get(Incident, link.to_id)
    assert (link.relation, case.workflow_key, case.state, case.subject_id) == (
        "referred_to", "problem-solving", registry.get("problem-solving").initial, tag.subject_id)
    assert db.scalars(select(Deadline.key).where(Deadline.incident_id == case.id)).all() == ["triage"]
    rows = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(3)).all()[::-1]
    assert [(r.action, r.incident_id) for r in rows] == [
        ("incident.opened", case.id), ("incident.linked", tag.id), ("incident.transition", tag.id)]
    assert rows[1].data == {"relation": "referred_to", "to": case.reference}
    # Written together, each at its own time (the clock runs here): the case opened when it was created, the step
    # when the incident entered its new state.
    stored_tag = db.get(Incident, tag.id)
    assert (rows[0].at, rows[2].at) == (case.created_at, stored_tag.state_entered_at)
    assert rows[0].at > rows[2].at  # the case is opened once the step's effects have run
    db.rollback()
    from app.services.audit import verify_chain

    assert verify_chain(db) is None


def test_an_incidents_opened_row_holds_the_time_it_was_created_whichever_way_it_is_opened(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """One at a time (``open_incident``: a linked track with a first step, a members' case) or set-wise: the
    "incident.opened" row's time is the incident's ``created_at`` (the clock runs here), not whenever the row is
    written."""
    from app.services.incidents import open_incidents

    registry = registry_of(app)
    admin = make.user("admin")
    alone = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A post"), actor=admin)
    [opened] = open_incidents(db, registry, [OpenRequest(workflow_key="problem-solving", title="Another")],
                              actor=admin)
    db.commit()
    for incident_id in (alone.id, opened.id):
        created = db.get(Incident, incident_id).created_at
        assert db.scalar(select(AuditEvent.at).where(AuditEvent.incident_id == incident_id,
                                                     AuditEvent.action == "incident.opened")) == created


def test_an_opening_takes_the_audit_chain_head_before_the_reference_counter(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """Every writer takes the two in the same order, so two openings (or a sweep opening linked incidents while it
    holds the head) never wait for each other (see app.services.audit on the order of locks)."""
    registry = registry_of(app)
    admin = make.user("admin")
    with recording(db) as recorded:
        open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A post"), actor=admin)
        db.commit()
    statements = recorded.statements
    head = next(n for n, s in enumerate(statements) if s.startswith("SELECT audit_chain_head."))
    counter = next(n for n, s in enumerate(statements) if s.startswith("INSERT INTO reference_counters"))
    assert head < counter, statements


def test_a_guard_refusal_changes_nothing(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    registry = registry_of(app)
    incident = open_one(db, registry, make.user("admin"), post=False)
    before = snapshot(db, incident)
    with pytest.raises(TransitionNotAllowed) as caught:
        take_transition(db, registry, incident, "request_removal", actor=make.user("admin"),
                        values={"requested_via": "email", "asked_who": "The author"})
    assert caught.value.reason == "'Request removal' is not possible yet: Capture the post or attach evidence first."
    db.commit()
    assert snapshot(db, incident) == before


def test_someone_who_cannot_see_the_incident_is_told_it_does_not_exist(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    registry = registry_of(app)
    incident = open_one(db, registry, make.user("admin"))
    before = snapshot(db, incident)
    with pytest.raises(NotFound):
        take_transition(db, registry, incident, "request_removal", actor=make.user("rep"),
                        values={"requested_via": "email", "asked_who": "The author"})
    db.commit()
    assert snapshot(db, incident) == before


def test_a_stale_expected_version_writes_nothing(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_one(db, registry, admin)
    loaded_version = incident.version
    take_transition(db, registry, incident, "request_removal", actor=admin,
                    values={"requested_via": "email", "asked_who": "The author"},
                    expected_version=loaded_version)
    db.commit()
    before = snapshot(db, incident)
    assert before.version == loaded_version + 1

    with pytest.raises(IncidentChangedElsewhere) as caught:
        take_transition(db, registry, incident, "verify_removed", actor=admin, expected_version=loaded_version)
    assert str(caught.value) == (
        f"{incident.reference} was changed by someone else while you were working on it. "
        "Nothing you entered was saved; the page now shows its current state."
    )
    db.commit()
    assert snapshot(db, incident) == before


def test_a_change_committed_by_another_session_is_not_overwritten(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """The in-memory incident is stale, so expected_version passes; the UPDATE … WHERE version catches it."""
    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_one(db, registry, admin)
    with Session(bind=db.get_bind()) as other:
        other.execute(update(Incident).where(Incident.id == incident.id).values(version=Incident.version + 1))
        other.commit()
    audit_before = db.scalar(select(func.count(AuditEvent.id)))
    db.commit()

    with pytest.raises(IncidentChangedElsewhere):
        take_transition(db, registry, incident, "request_removal", actor=admin,
                        values={"requested_via": "email", "asked_who": "The author"},
                        expected_version=incident.version)
    db.rollback()
    after = snapshot(db, incident)
    assert (after.state, after.version, after.audit_rows) == ("evidence_captured", 2, audit_before)


def test_a_step_rolled_back_with_its_savepoint_leaves_the_incident_as_stored(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    """Inside a savepoint the move is written by the flush, whose rollback takes the object back to what is stored:
    the next step is judged on the incident's real step and version."""
    registry = registry_of(app)
    admin = make.user("admin")
    incident = open_one(db, registry, admin)
    savepoint = db.begin_nested()
    take_transition(db, registry, incident, "report_to_platform", actor=admin, values={})
    savepoint.rollback()

    assert (incident.state, incident.version) == ("evidence_captured", 1)
    with pytest.raises(TransitionNotAllowed):
        take_transition(db, registry, incident, "record_platform_outcome", actor=admin,
                        values={"platform_decision": "removed"})
    db.rollback()
    assert (snapshot(db, incident).state, snapshot(db, incident).version) == ("evidence_captured", 1)


def test_a_step_on_an_incident_with_more_than_its_move_pending_writes_it_all(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    registry = registry_of(app)
    admin = make.user("admin")
    colleague = make.user("comms", team="communications")
    incident = open_one(db, registry, admin)
    with db.no_autoflush:  # so that the change is still pending when the step moves it (reading facts flushes)
        incident.assignee = colleague
        take_transition(db, registry, incident, "report_to_platform", actor=admin, values={})
    assert not inspect(incident).modified
    db.commit()

    stored = snapshot(db, incident)
    assert (stored.state, stored.version) == ("awaiting_platform", 2)
    assert db.get(Incident, incident.id).assignee_id == colleague.id


def test_a_driver_that_cannot_count_an_executemanys_rows_has_the_flush_write_the_move(app: Flask, db: Session, make,
                                                                                      monkeypatch) -> None:  # type: ignore[no-untyped-def]
    registry = registry_of(app)
    admin = make.user("admin")
    counted, uncounted = open_one(db, registry, admin), open_one(db, registry, admin)
    flushes = []
    for incident, counts_rows in ((counted, True), (uncounted, False)):
        with monkeypatch.context() as driver:
            driver.setattr(db.get_bind().dialect, "supports_sane_multi_rowcount", counts_rows)
            with recording(db) as recorded:
                take_transition(db, registry, incident, "report_to_platform", actor=admin, values={})  # no effects
                db.commit()
        flushes.append(recorded.flushes)
    assert flushes == [0, 1]  # the move written by its own statement, or by the flush
    assert [(snapshot(db, i).state, snapshot(db, i).version) for i in (counted, uncounted)] == \
        [("awaiting_platform", 2)] * 2


def test_an_incident_not_yet_stored_is_written_by_the_flush(app: Flask, db: Session, make) -> None:  # type: ignore[no-untyped-def]
    from app.services.incidents import write_moves_version_checked

    registry = registry_of(app)
    admin = make.user("admin")
    stored = open_one(db, registry, admin)
    columns = {c.key: getattr(stored, c.key) for c in Incident.__table__.columns if c.key not in ("id", "reference")}
    new = Incident(**columns, reference="BD-TEST-0001")
    db.add(new)
    new.version = 2  # a move of an incident the session has not written yet
    write_moves_version_checked(db, [new], new.reference)
    db.commit()
    assert db.scalar(select(Incident.version).where(Incident.reference == "BD-TEST-0001")) == 2


# --- workflow versions --------------------------------------------------------------------------


def copy_workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder, ignore=shutil.ignore_patterns("*.md", "*~"))
    return folder


ON_HOLD_STATE = """states:
  on_hold:
    title: On hold
    description: Waiting for the requester.
"""
ON_HOLD_TRANSITIONS = """
  - key: put_on_hold
    title: Put on hold
    from: [requested, content_submitted]
    to: on_hold
    roles: [comms, admin]
    comment: optional

  - key: resume
    title: Resume
    from: [on_hold]
    to: requested
    roles: [comms, admin]
    comment: optional
"""


def with_on_hold(tmp_path: Path) -> Path:
    folder = copy_workflows(tmp_path)
    path = folder / f"{BRAND}.yaml"
    text = path.read_text()
    assert text.count("\nstates:\n") == 1 and text.rstrip().splitlines()[-1].startswith("    ")
    path.write_text(text.replace("\nstates:\n", "\n" + ON_HOLD_STATE, 1).rstrip("\n") + "\n" + ON_HOLD_TRANSITIONS)
    return folder


def migrated_rows(db: Session, incident: Incident) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident.id,
                                                    AuditEvent.action == "incident.workflow_migrated")))


def test_open_incidents_keep_their_version_until_migrated(app: Flask, db: Session, make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old_registry = registry_of(app)
    old = old_registry.get(BRAND)
    admin = make.user("admin")
    waiting = open_one(db, old_registry, admin, BRAND)
    submitted = open_one(db, old_registry, admin, BRAND)
    take_transition(db, old_registry, submitted, "submit_content", actor=admin, values={"intended_use": "A poster"})
    finished = open_one(db, old_registry, admin, BRAND)
    take_transition(db, old_registry, finished, "refuse", actor=admin, comment="no")
    db.commit()
    stored = db.scalar(select(WorkflowVersion.source).where(WorkflowVersion.workflow_key == BRAND,
                                                            WorkflowVersion.version == old.version))
    assert stored == old.source_text

    # The file changes: a new state and two transitions. Start-up would now load this registry.
    new_registry = load_registry(with_on_hold(tmp_path), old_registry.catalogues)
    new = new_registry.get(BRAND)
    assert new.version != old.version and "on_hold" in new.states

    # The old incident still runs on the version it was opened on, rebuilt from the stored text.
    running = definition_for(db, new_registry, waiting)
    assert running.version == old.version and "on_hold" not in running.states
    assert running.source_path == f"{BRAND}@{old.version}.yaml"
    with pytest.raises(TransitionNotAllowed) as caught:
        take_transition(db, new_registry, waiting, "put_on_hold", actor=admin)
    assert caught.value.reason == f"'put_on_hold' is not a step of the {old.title} workflow."
    take_transition(db, new_registry, waiting, "submit_content", actor=admin, values={"intended_use": "A mug"})
    take_transition(db, new_registry, waiting, "request_changes", actor=admin, comment="smaller logo")
    db.commit()
    assert snapshot(db, waiting).workflow_version == old.version
    assert snapshot(db, waiting).state == "requested"

    # A dry run says what would move and moves nothing.
    before = [snapshot(db, i) for i in (waiting, submitted, finished)]
    would = migrate_open_incidents(db, new_registry, BRAND, actor=admin, dry_run=True)
    assert [i.id for i in would] == [waiting.id, submitted.id]
    db.commit()
    assert [snapshot(db, i) for i in (waiting, submitted, finished)] == before

    moved = migrate_open_incidents(db, new_registry, BRAND, actor=admin)
    db.commit()
    assert [i.id for i in moved] == [waiting.id, submitted.id]
    for incident, earlier in zip((waiting, submitted), before, strict=False):
        now = snapshot(db, incident)
        assert (now.workflow_version, now.state, now.version) == (new.version, earlier.state, earlier.version + 1)
        rows = migrated_rows(db, incident)
        assert len(rows) == 1
        assert rows[0].data == {"from_version": old.version, "to_version": new.version}
        assert (rows[0].from_state, rows[0].to_state, rows[0].actor_id) == (earlier.state, earlier.state, admin.id)
        assert now.audit_rows_for_incident == earlier.audit_rows_for_incident + 1
    # Closed incidents stay on their version (only the total of audit rows elsewhere has grown).
    assert replace(snapshot(db, finished), audit_rows=0) == replace(before[2], audit_rows=0)
    assert migrated_rows(db, finished) == []
    assert db.scalar(select(WorkflowVersion.source).where(WorkflowVersion.workflow_key == BRAND,
                                                          WorkflowVersion.version == new.version)) is not None

    # Migrated incidents take the new transitions.
    take_transition(db, new_registry, waiting, "put_on_hold", actor=admin)
    take_transition(db, new_registry, submitted, "put_on_hold", actor=admin)
    db.commit()
    assert snapshot(db, waiting).state == snapshot(db, submitted).state == "on_hold"

    # Migrating again moves nothing and writes nothing.
    audit_total = snapshot(db, waiting).audit_rows
    assert migrate_open_incidents(db, new_registry, BRAND, actor=admin) == []
    db.commit()
    assert snapshot(db, waiting).audit_rows == audit_total


WITHOUT_CONTENT_SUBMITTED = """\
key: brand-permission
title: Logo and brand permission
side: college
kind: brand_request
clauses: ["rcr:2.12"]
retention: short
open_roles: [officer, comms, admin]
initial: requested
states:
  requested:
    title: Requested
  approved:
    title: Approved
    final: true
  refused:
    title: Refused
    final: true
transitions:
  - key: approve
    title: Approve
    from: [requested]
    to: approved
    roles: [comms, admin]
  - key: refuse
    title: Refuse
    from: [requested]
    to: refused
    roles: [comms, admin]
    comment: required
"""


def test_migration_is_refused_when_a_state_in_use_disappears(app: Flask, db: Session, make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old_registry = registry_of(app)
    old = old_registry.get(BRAND)
    admin = make.user("admin")
    waiting = open_one(db, old_registry, admin, BRAND)
    submitted = open_one(db, old_registry, admin, BRAND)
    take_transition(db, old_registry, submitted, "submit_content", actor=admin, values={"intended_use": "A poster"})
    db.commit()

    folder = copy_workflows(tmp_path)
    (folder / f"{BRAND}.yaml").write_text(WITHOUT_CONTENT_SUBMITTED)
    new_registry = load_registry(folder, old_registry.catalogues)
    new = new_registry.get(BRAND)
    assert "content_submitted" not in new.states

    before = [snapshot(db, i) for i in (waiting, submitted)]
    for dry_run in (True, False):
        with pytest.raises(MigrationBlocked) as caught:
            migrate_open_incidents(db, new_registry, BRAND, actor=admin, dry_run=dry_run)
        assert str(caught.value) == (
            f"cannot move {BRAND}: the current file has no state 'content_submitted', where 1 open incident(s) "
            f"stand (e.g. {submitted.reference}). Add the state back or finish those incidents first; "
            "nothing was moved."
        )
    db.commit()  # nothing was pending
    assert [snapshot(db, i) for i in (waiting, submitted)] == before
    assert all(s.workflow_version == old.version for s in before)
    assert migrated_rows(db, waiting) == migrated_rows(db, submitted) == []
    assert db.scalar(select(func.count(WorkflowVersion.id)).where(WorkflowVersion.version == new.version)) == 0

    # Both keep working on the old version; once the stranded one is finished, migration goes through.
    take_transition(db, new_registry, submitted, "approve", actor=admin)
    db.commit()
    moved = migrate_open_incidents(db, new_registry, BRAND, actor=admin)
    db.commit()
    assert [i.id for i in moved] == [waiting.id]
    assert snapshot(db, waiting).workflow_version == new.version
    assert snapshot(db, submitted).workflow_version == old.version


def test_only_the_column_effects_at_the_head_of_a_step_go_with_the_move() -> None:
    """A later set_severity must not change what an earlier effect reads (open_linked copies the severity)."""
    from app.services.effects import apply_row_effects
    from app.workflow.definition import Ref

    values = {"severity": "high", "outcome": "upheld"}
    severity, outcome = Ref("set_severity", {"field": "severity"}), Ref("record_outcome", {"field": "outcome"})
    linked = Ref("open_linked", {"workflow": "formal-action", "relation": "escalated_to"})

    at_the_head = Incident(severity="low")
    apply_row_effects(at_the_head, (severity, outcome, linked), values)
    assert (at_the_head.severity, at_the_head.outcome) == ("high", "upheld")

    after_another = Incident(severity="low")
    apply_row_effects(after_another, (outcome, linked, severity), values)
    assert (after_another.severity, after_another.outcome) == ("low", "upheld")
