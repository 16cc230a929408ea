"""The sweep's escalating transitions, taken a batch at a time (``take_transitions``): each incident ends exactly as
``take_transition`` one at a time would leave it, refusals and races are handled per incident, and the breach pass
finds its deadlines through the partial index of the unmarked ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, inspect, select, update

from app.clock import frozen_at
from app.models import AuditEvent, Deadline, Incident, IncidentLink, Person
from app.services import incidents as incidents_service
from app.services.audit import verify_chain
from app.services.incidents import IncidentChangedElsewhere, flush_version_checked, take_transition, take_transitions
from app.services.sweep import _because, passed_unmarked
from tests.deadlines.conftest import utc
from tests.deadlines.test_sweep import audit_rows, removal_requested, sweep

REQUESTED = utc(2026, 3, 10, 10, 0)
AFTER_A_DAY = REQUESTED + timedelta(hours=24, minutes=5)


def three_removals(db, registry, make) -> list[Incident]:
    """Three removal requests that differ in what the linked case copies: assignee, subject, severity, a short
    clock, a restricted file."""
    comms = make.user("comms", team="communications")
    subject = Person(name="Sam Rads", role="contributor")
    db.add(subject)
    db.commit()
    plain = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)
    with_subject = removal_requested(db, registry, comms, at=REQUESTED, patient_info=True, assignee=False,
                                     subject=subject)
    restricted = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False, subject=subject)
    restricted.restricted, restricted.severity = True, "high"
    db.commit()
    return [plain, with_subject, restricted]


def linked_case(db, incident: Incident) -> Incident:
    [link] = db.scalars(select(IncidentLink).where(IncidentLink.from_id == incident.id)).all()
    assert link.relation == "escalated_to"
    return db.get(Incident, link.to_id)


def outcome(db, incident: Incident) -> dict:
    """What a transition leaves behind, without ids, references and the breach marks (only the sweep writes those)."""
    db.expire_all()
    incident = db.get(Incident, incident.id)
    linked = linked_case(db, incident)
    rows = [r for r in audit_rows(db, incident) if r.at >= AFTER_A_DAY and r.action != "deadline.breached"]
    return {
        "incident": (incident.state, incident.version, incident.state_entered_at, incident.first_action_at,
                     incident.closed_at, incident.fields),
        "deadlines": sorted((d.key, d.status, d.finished_at, d.due_at) for d in incident.deadlines),
        # The two sets have their own users and people: what matters is that each is copied from the source.
        "copied": [(getattr(linked, column) == getattr(incident, column), getattr(linked, column) is None)
                   for column in ("subject_id", "assignee_id", "team_id")],
        "linked": (linked.workflow_key, linked.workflow_version, linked.title,
                   linked.summary == f"Opened from {incident.reference}.", linked.severity,
                   linked.calendar, linked.restricted,
                   linked.side, linked.state, linked.created_by_id, linked.version, linked.kind, linked.created_at,
                   sorted((d.key, d.status, d.due_at) for d in linked.deadlines)),
        "audit": [(r.action, r.actor_id, r.actor_label, r.from_state, r.to_state, r.transition, r.comment,
                   r.object_type, r.workflow_version, r.at,
                   {k: v for k, v in r.data.items() if k != "to"}) for r in rows],
        "linked_audit": [(r.action, r.actor_label, r.to_state, r.at, r.data) for r in audit_rows(db, linked)],
        "link_made_at": db.scalar(select(IncidentLink.created_at).where(IncidentLink.from_id == incident.id)),
    }


def test_a_batch_of_escalations_leaves_each_incident_as_one_transition_at_a_time_would(db, make, registry,
                                                                                      monkeypatch):
    batched = three_removals(db, registry, make)
    one_by_one = three_removals(db, registry, make)

    with monkeypatch.context() as unit_of_work, frozen_at(AFTER_A_DAY):  # first: their clocks stop before the sweep
        # One at a time as the ORM's flush writes a step, so the batch's own version-checked write is compared too;
        # and each linked case opened by open_incident, an object at a time, against the batch's open_incidents.
        unit_of_work.setattr(incidents_service, "write_moves_version_checked",
                             lambda session, _incidents, reference: flush_version_checked(session, reference))
        run_step = incidents_service._run_step
        unit_of_work.setattr(incidents_service, "_run_step",
                             lambda *args, openings, **kwargs: run_step(*args, openings=None, **kwargs))
        for incident in one_by_one:
            comply = next(d for d in incident.deadlines if d.key == "comply")
            take_transition(db, registry, incident, "mark_non_compliant", actor=None, as_role="comms",
                            comment=_because(comply))
            db.commit()
    report = sweep(db, registry, AFTER_A_DAY)
    assert sorted(report.escalations) == sorted(f"{i.reference}: Mark not complied with" for i in batched)

    for by_batch, alone in zip(batched, one_by_one, strict=True):
        assert outcome(db, by_batch) == outcome(db, alone)
    # The source's rows in the order one transition writes them: its link, then the step itself.
    assert [r.action for r in audit_rows(db, batched[1])][-3:] == [
        "deadline.breached", "incident.linked", "incident.transition"]
    assert linked_case(db, batched[1]).subject_id is not None
    assert linked_case(db, batched[2]).restricted is True
    db.rollback()  # verify_chain reads through a session of its own
    assert verify_chain(db) is None


def test_an_incident_that_cannot_take_the_step_is_skipped_and_the_rest_of_the_batch_escalates(db, make, registry):
    plain, moved_on, restricted = three_removals(db, registry, make)
    # Someone moved this one back by hand between the deadline passing and the sweep; its clock still runs.
    moved_on.state = "evidence_captured"
    moved_on.bump_version()
    db.commit()
    version = moved_on.version

    report = sweep(db, registry, AFTER_A_DAY)

    assert sorted(report.escalations) == sorted(f"{i.reference}: Mark not complied with" for i in (plain, restricted))
    db.expire_all()
    assert (db.get(Incident, moved_on.id).state, db.get(Incident, moved_on.id).version) == ("evidence_captured",
                                                                                           version)
    [skipped] = audit_rows(db, moved_on, "deadline.escalation_skipped")
    assert "cannot be taken now" in skipped.data["reason"]
    assert db.scalars(select(IncidentLink).where(IncidentLink.from_id == moved_on.id)).all() == []
    assert {db.get(Incident, i.id).state for i in (plain, restricted)} == {"non_compliant"}
    db.rollback()  # verify_chain reads through a session of its own
    assert verify_chain(db) is None


def test_a_second_deadline_moving_the_same_incident_is_taken_after_the_first(db, make, registry):
    [removal, *_] = three_removals(db, registry, make)
    comply = next(d for d in removal.deadlines if d.key == "comply")
    db.add(Deadline(incident_id=removal.id, key="comply_again", title="Removed again", why="A test clock.",
                    duration=comply.duration, calendar=comply.calendar, started_at=comply.started_at,
                    due_at=comply.due_at, status="running", reminders=[], on_breach=dict(comply.on_breach)))
    db.commit()

    report = sweep(db, registry, AFTER_A_DAY)

    assert report.escalations.count(f"{removal.reference}: Mark not complied with") == 1
    [skipped] = audit_rows(db, removal, "deadline.escalation_skipped")
    assert skipped.object_id == str(db.scalar(select(Deadline.id).where(Deadline.key == "comply_again")))
    assert db.scalar(select(func.count()).select_from(IncidentLink).where(IncidentLink.from_id == removal.id)) == 1


def test_take_transitions_moves_each_incident_once_per_call(db, make, registry):
    [removal, *_] = three_removals(db, registry, make)
    with pytest.raises(ValueError, match="each incident once"):
        take_transitions(db, registry, [(removal, None), (removal, None)], "mark_non_compliant", as_role="comms")


@pytest.mark.parametrize("split", [False, True], ids=["one set of columns", "found in a later set of columns"])
def test_an_incident_changed_by_someone_else_stops_the_batch_and_nothing_is_half_written(db, make, registry, split):
    removals = three_removals(db, registry, make)
    if split:  # the first is written in a set of columns of its own, ahead of the other two and of the conflict
        removals[0].first_action_at = None
        db.commit()
    changed = removals[2] if split else removals[1]
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    # Another user's transition lands after the sweep loaded the incidents.
    db.execute(update(Incident.__table__).where(Incident.__table__.c.id == changed.id)
               .values(version=changed.version + 1))
    with frozen_at(AFTER_A_DAY), pytest.raises(IncidentChangedElsewhere):
        take_transitions(db, registry, [(i, "Late.") for i in removals], "mark_non_compliant", as_role="comms")
    db.rollback()

    assert {db.get(Incident, i.id).state for i in removals} == {"awaiting_compliance"}
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert db.scalar(select(func.count()).select_from(Incident).where(Incident.workflow_key == "formal-action")) == 0


def test_an_incident_with_more_than_its_move_pending_is_written_whole(db, make, registry):
    removals = three_removals(db, registry, make)
    colleague = make.user("comms", team="communications")
    removals[0].assignee = colleague  # changed, not yet written, when the batch moves it
    versions = [i.version for i in removals]
    with frozen_at(AFTER_A_DAY):
        assert take_transitions(db, registry, [(i, "Late.") for i in removals], "mark_non_compliant",
                                as_role="comms") == [None, None, None]
    db.commit()
    db.expire_all()

    assert [db.get(Incident, i.id).state for i in removals] == ["non_compliant"] * 3
    assert db.get(Incident, removals[0].id).assignee_id == colleague.id
    assert [db.get(Incident, i.id).version for i in removals] == [v + 1 for v in versions]


def test_a_batch_is_written_by_one_statement_per_set_of_changed_columns(db, make, registry):
    removals = three_removals(db, registry, make)
    removals[0].first_action_at = None  # never acted on: its move sets it too, the others' do not
    db.commit()
    versions = [i.version for i in removals]
    updates: list[tuple[str, int]] = []

    def seen(_conn, _cursor, statement, parameters, _context, many):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE incidents"):
            updates.append((statement, len(parameters) if many else 1))

    event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        with frozen_at(AFTER_A_DAY):
            take_transitions(db, registry, [(i, "Late.") for i in removals], "mark_non_compliant", as_role="comms")
        db.commit()
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)
    assert sorted(("first_action_at" in statement, rows) for statement, rows in updates) == [(False, 2), (True, 1)]
    db.expire_all()
    stored = [db.get(Incident, i.id) for i in removals]
    assert [(i.state, i.version) for i in stored] == [("non_compliant", v + 1) for v in versions]
    assert [i.first_action_at for i in stored] == [AFTER_A_DAY, REQUESTED, REQUESTED]


def test_the_written_moves_are_left_for_no_flush_to_write_again(db, make, registry):
    from app.services.incidents import write_moves_version_checked

    removals = three_removals(db, registry, make)
    for incident in removals:
        incident.bump_version()
        incident.state = "non_compliant"
    write_moves_version_checked(db, removals, "A test batch")
    # Straight after the write, before any flush: marked modified, each would be walked (or written) again.
    assert not any(inspect(i).modified for i in removals) and not set(removals) & set(db.dirty)
    db.commit()
    db.expire_all()
    assert {db.get(Incident, i.id).state for i in removals} == {"non_compliant"}


def test_the_breach_pass_reads_only_the_deadlines_still_to_be_marked(db, dialect):
    """Deadlines marked breached stay running until someone acts; the claim must not walk past them every minute."""
    statement = passed_unmarked(datetime(2026, 3, 11, 10, 0, tzinfo=UTC)).limit(500)
    compiled = statement.compile(db.get_bind())
    connection = db.connection()
    if dialect == "sqlite":
        plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                          tuple(compiled.params[name] for name in compiled.positiontup)).all()
        assert "ix_deadlines_unbreached_due" in " ".join(str(row[-1]) for row in plan)
        return
    # The plan a worker ends up with: a statement run often is prepared and PostgreSQL may plan it once for any
    # parameters; such a generic plan can use the partial index only if the query's terms are its literal terms.
    # On a table of a few rows any plan costs next to nothing, so the question is put alone: no sequential scans,
    # and (until this test's transaction rolls back) none of the other indexes that lead with the status.
    names: list[str] = []
    numbered = re.sub(r"%\((\w+)\)s", lambda m: names.append(m.group(1)) or f"${len(names)}", str(compiled))
    connection.exec_driver_sql("DROP INDEX ix_deadlines_status_due_at, ix_deadlines_status_next_remind_at")
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    connection.exec_driver_sql(f"PREPARE passed_unmarked AS {numbered}")
    values = ", ".join(f"'{compiled.params[name]}'" for name in names)  # a datetime and an int: no quoting issues
    plan = connection.exec_driver_sql(f"EXPLAIN EXECUTE passed_unmarked({values})").all()
    connection.exec_driver_sql("DEALLOCATE passed_unmarked")
    assert "ix_deadlines_unbreached_due" in " ".join(row[0] for row in plan)


def test_a_deadline_that_reassigns_hands_the_incident_on_and_a_race_undoes_the_sweep(db, make, registry,
                                                                                     monkeypatch):
    """``reassign`` (no shipped workflow uses it yet; a deadline row carries its own rule) gives the incident to
    the first reader with the role; if someone moves the incident on meanwhile, the sweep says so instead of
    failing on the database's version check."""
    from app.services import sweep as sweep_service

    plain, racing, _restricted = three_removals(db, registry, make)
    admin = make.user("admin")
    for incident in (plain, racing):
        next(d for d in incident.deadlines if d.key == "comply").on_breach = {"reassign": "admin"}
    db.commit()
    version = plain.version

    report = sweep(db, registry, AFTER_A_DAY)
    assert f"{plain.reference}: reassigned to {admin.email}" in report.escalations
    db.expire_all()
    assert (db.get(Incident, plain.id).assignee_id, db.get(Incident, plain.id).version) == (admin.id, version + 1)
    [handed] = audit_rows(db, plain, "incident.reassigned")
    assert handed.data["to"] == admin.email

    # Another user's change lands between the sweep reading the incident and handing it on.
    racing = db.get(Incident, racing.id)
    next(d for d in racing.deadlines if d.key == "comply").breached_at = None
    db.commit()
    with_role = sweep_service.Recipients.with_role

    def raced(self, incident, role):  # type: ignore[no-untyped-def]
        db.execute(update(Incident.__table__).where(Incident.__table__.c.id == incident.id)
                   .values(version=Incident.__table__.c.version + 1))
        return with_role(self, incident, role)

    monkeypatch.setattr(sweep_service.Recipients, "with_role", raced)
    with frozen_at(AFTER_A_DAY), pytest.raises(IncidentChangedElsewhere):
        sweep_service.run_sweep(db, registry, AFTER_A_DAY)
    db.rollback()


def test_the_breach_pass_tells_exactly_who_may_read_each_incident_whether_loaded_whole_or_as_a_plain_row(
        db, make, registry):
    """Most passed deadlines are read as plain rows (``PassedIncident``) with their shares and case files; the
    people told must be those ``can_view`` names on the whole incident: the assignee who may read it, else every
    active team member who may (a restricted file: its author and who it is shared with now; a member's case file:
    its current rep, not a rep who handed it on)."""
    from datetime import date

    from app.models import CaseFileRep, IncidentShare, User
    from app.permissions import can_view
    from app.services import cases as case_service

    comms = make.user("comms", team="communications")
    colleague = make.user("comms", team="communications")
    lapsed = make.user("comms", team="communications")
    revoked = make.user("comms", team="communications")
    gone = make.user("comms", team="communications", active=False)
    rep, new_rep = make.user("rep", team="north-west"), make.user("rep", team="north-west")
    regional = make.user("regional_officer", team="north-west")

    moved = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)  # its file moves it: loaded whole
    unassigned = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False, assignee=False)
    restricted = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False, assignee=False)
    restricted.restricted = True
    db.add_all([IncidentShare(incident_id=restricted.id, user_id=colleague.id, reason="Covers the case",
                              granted_by_id=comms.id),
                IncidentShare(incident_id=restricted.id, user_id=lapsed.id, reason="Covered last week",
                              granted_by_id=comms.id, expires_at=REQUESTED + timedelta(hours=1)),
                IncidentShare(incident_id=restricted.id, user_id=revoked.id, reason="Asked by mistake",
                              granted_by_id=comms.id, revoked_at=REQUESTED)])
    left = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False, assignee=False)
    left.assignee_id = gone.id  # their account is disabled: the team is told instead
    with frozen_at(REQUESTED):
        member = case_service.add_member(db, case_service.MemberDetails(
            name="Morag Member", membership_number="M-1001", employer="Northshire NHS Trust",
            joined_on=date(2020, 1, 6), subs_in_order=True, consent_given=True), actor=rep)
        case_file = case_service.open_case_file(db, registry, member=member, title="Posts about the ward rota",
                                                issue_arose_on=date(2026, 2, 20),
                                                workflow_key="employer-disciplinary", rep=rep, actor=rep)
        db.flush()
    [track] = case_file.tracks
    assert track.assignee_id == rep.id  # who handed it on, and may no longer read it: the team is told instead
    [handed_on] = case_file.reps
    handed_on.ended_at = REQUESTED
    case_file.reps.append(CaseFileRep(user_id=new_rep.id, assigned_by_id=regional.id))
    plain = [unassigned, restricted, left, track]
    for incident in plain:
        for running in incident.deadlines:
            running.on_breach = None  # told only, not moved: read as a plain row
    db.commit()
    assert next(d for d in moved.deadlines if d.key == "comply").on_breach == {"transition": "mark_non_compliant"}
    breached_at = REQUESTED + timedelta(days=14)
    passed = {(d.incident_id, d.id) for d in db.scalars(select(Deadline).where(
        Deadline.status == "running", Deadline.due_at <= breached_at))}
    assert {incident_id for incident_id, _ in passed} >= {i.id for i in plain}

    sweep(db, registry, breached_at)

    db.expire_all()
    told: dict[str, set[str]] = {}
    for message in overdue_messages(db):
        for incident in [moved, *plain]:
            if incident.reference in message.subject or f"- {incident.reference}:" in message.body:
                told.setdefault(incident.reference, set()).add(message.to_address)
    with frozen_at(breached_at):
        for incident in [moved, *plain]:
            incident = db.get(Incident, incident.id)
            assignee = incident.assignee
            expected = ({assignee.email} if assignee is not None and can_view(assignee, incident) else
                        {u.email for u in db.scalars(select(User).where(User.team_id == incident.team_id))
                         if u.active and can_view(u, incident)})
            assert told.get(incident.reference) == expected, incident.reference
    assert told[restricted.reference] == {comms.email, colleague.email}  # the author and the live share
    assert told[track.reference] == {new_rep.email, regional.email}  # the current rep, not the one before
    assert told[left.reference] == {comms.email, colleague.email, lapsed.email, revoked.email}
    assert told[moved.reference] == {comms.email}


def overdue_messages(db):
    from app.models import OutboxMessage

    return [m for m in db.scalars(select(OutboxMessage)) if "Overdue" in m.subject]


def test_an_incident_a_later_batch_moves_is_named_at_its_new_step_in_every_message(db, make, registry, monkeypatch):
    """An overdue e-mail names the incident's current step when the pass ends. A deadline read as a plain row in one
    batch must not keep the step its incident had then, if a later batch's escalation moves it."""
    from app.models import OutboxMessage
    from app.services import sweep as sweep_module

    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)
    comply = next(d for d in removal.deadlines if d.key == "comply")
    db.add(Deadline(incident_id=removal.id, key="chase", title="Chase the author", why="A check before the limit",
                    duration="20 hours", calendar=comply.calendar, started_at=REQUESTED,
                    due_at=comply.due_at - timedelta(hours=4), reminders=[], on_breach=None))
    db.commit()
    monkeypatch.setattr(sweep_module, "BATCH", 1)  # "chase" alone in the first batch, "comply" in the second

    report = sweep(db, registry, AFTER_A_DAY)

    assert report.breaches == 2 and len(report.escalations) == 1
    db.expire_all()
    step = db.get(Incident, removal.id).state
    assert step != "awaiting_compliance"
    [digest] = [m for m in db.scalars(select(OutboxMessage)) if m.to_address == comms.email and "Overdue" in m.subject]
    named = re.findall(r"Current step: ([^.]+)\.", digest.body)
    assert named == [step.replace("_", " ")] * 2


def test_each_claim_starts_past_the_last_deadline_claimed_and_ties_across_batches_are_all_breached(
        db, make, registry, monkeypatch):
    """The breach pass claims in (due time, id) order, each claim from where the last one ended: rows it has marked
    stay in PostgreSQL's partial index until the commit, and claiming from the start read past all of them again.
    Deadlines due at the very same moment on either side of a batch's end are each breached once."""
    from app.services import sweep as sweep_module

    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)
    comply = next(d for d in removal.deadlines if d.key == "comply")
    # With microseconds: the cursor's due time must be bound as SQLite stores it, or the tie would sort apart.
    tied = comply.due_at - timedelta(hours=4) + timedelta(microseconds=123456)
    chases = [Deadline(incident_id=removal.id, key=f"chase-{n}", title="Chase the author", why="A check",
                       duration="20 hours", calendar=comply.calendar, started_at=REQUESTED,
                       due_at=tied - timedelta(hours=1) if n == 0 else tied, reminders=[], on_breach=None)
              for n in range(5)]
    db.add_all(chases)
    db.commit()
    monkeypatch.setattr(sweep_module, "BATCH", 2)  # batches: (earlier, tie), (tie, tie), (tie, comply), ()
    claim = sweep_module._claim_passed
    cursors: list[object] = []

    def claimed_after(*args, **kwargs):  # type: ignore[no-untyped-def]
        cursors.append(args[-1])
        return claim(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "_claim_passed", claimed_after)
    claims: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "breached_at IS NULL" in statement and statement.lstrip().startswith("SELECT"):
            claims.append(statement)

    event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        report = sweep(db, registry, AFTER_A_DAY)
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)

    assert report.breaches == 6
    db.expire_all()
    assert all(db.get(Deadline, d.id).breached_at is not None for d in [*chases, comply])
    breached = [r.object_id for r in audit_rows(db, removal, "deadline.breached")]
    assert sorted(breached) == sorted(str(d.id) for d in [*chases, comply])
    assert len(claims) == 4
    assert "(deadlines.due_at, deadlines.id) >" not in claims[0]
    assert all("(deadlines.due_at, deadlines.id) >" in statement for statement in claims[1:])
    # Each claim after the first starts past the last deadline of the batch before.
    assert cursors == [None, *((d.due_at, d.id) for d in (chases[1], chases[3], comply))]


def test_a_passed_deadline_that_the_batchs_transition_stops_is_not_escalated_again(db, make, registry):
    """Two passed deadlines of one removal both escalate by "mark_non_compliant". The first moves the incident, and
    the step's effect stops "comply"; the second, stopped meanwhile, must then be left alone: not refused and
    recorded as a skipped escalation, not taken twice."""
    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)
    comply = next(d for d in removal.deadlines if d.key == "comply")
    db.add(Deadline(incident_id=removal.id, key="chase", title="Chase the author", why="A check before the limit",
                    duration="20 hours", calendar=comply.calendar, started_at=REQUESTED,
                    due_at=comply.due_at - timedelta(hours=4), reminders=[],
                    on_breach={"transition": "mark_non_compliant"}))
    db.commit()

    report = sweep(db, registry, AFTER_A_DAY)

    assert report.breaches == 2
    assert report.escalations == [f"{removal.reference}: Mark not complied with"]
    db.expire_all()
    assert db.get(Deadline, comply.id).status != "running"
    assert [r.transition for r in audit_rows(db, removal, "incident.transition") if r.at >= AFTER_A_DAY] == [
        "mark_non_compliant"]
    assert audit_rows(db, removal, "deadline.escalation_skipped") == []


def test_a_passed_incident_carries_every_column_that_decides_who_may_read_it():
    from app.models.incidents import VISIBILITY_COLUMNS
    from app.services.sweep import _PASSED_INCIDENT, PassedIncident

    assert set(VISIBILITY_COLUMNS) <= set(_PASSED_INCIDENT)
    assert [f for f in PassedIncident.__dataclass_fields__][:1] == ["id"]  # the claim passes the id first
