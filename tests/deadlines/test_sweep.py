"""The deadline sweep: escalating passed deadlines, reminders, pauses, the tribunal clock, warnings,
agreed extensions and the ``deadlines sweep`` command.

Every change happens at a fixed time (``frozen_at``), because the services read ``app.clock.utcnow``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, func, null, select, text, update

from app.clock import frozen_at
from app.models import (
    AuditEvent,
    Deadline,
    DeadlineExtension,
    Incident,
    IncidentLink,
    OutboxMessage,
    Person,
    User,
    Warning,
)
from app.models.deadlines import NO_MORE_REMINDERS
from app.services import deadlines as deadline_service
from app.services.incidents import OpenRequest, PostInput, open_incident, take_transition
from app.services.sweep import run_sweep
from app.timing import LONDON
from tests.conftest import csrf_token, login
from tests.deadlines.conftest import uk, utc

ROOT = Path(__file__).resolve().parents[2]
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")

POST_TEXT = "Interesting case today! (label visible: NHS 943 476 5919)"


# --- helpers ---------------------------------------------------------------------------------------


def open_case(db, registry, workflow: str, actor, *, at: datetime, **request) -> Incident:
    with frozen_at(at):
        incident = open_incident(db, registry, OpenRequest(workflow_key=workflow, title=request.pop("title", "Case"),
                                                           **request), actor=actor)
        db.commit()
    return incident


def step(db, registry, incident: Incident, key: str, actor, *, at: datetime, values=None, comment=None) -> None:
    with frozen_at(at):
        take_transition(db, registry, incident, key, actor=actor, values=values or {}, comment=comment)
        db.commit()


def sweep(db, registry, now: datetime):
    with frozen_at(now):
        report = run_sweep(db, registry, now)
        db.commit()
    return report


def deadline(incident: Incident, key: str) -> Deadline:
    [found] = [d for d in incident.deadlines if d.key == key and d.is_live] or [
        d for d in incident.deadlines if d.key == key]
    return found


def audit_rows(db, incident: Incident | None = None, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if incident is not None:
        query = query.where(AuditEvent.incident_id == incident.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.scalars(query))


def outbox(db) -> list[OutboxMessage]:
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def overdue_notices(db, address: str) -> list[OutboxMessage]:
    return [m for m in outbox(db) if m.to_address == address and "Overdue" in m.subject]


def removal_requested(db, registry, comms, *, at: datetime, patient_info: bool, assignee=True,
                      subject: Person | None = None) -> Incident:
    incident = open_case(
        db, registry, "content-removal", comms, at=at, title="Contributor's story shows a labelled scan",
        summary="Contributor disclosed their own diagnosis in the thread.",
        assignee=comms if assignee else None, subject=subject,
        post=PostInput(platform="instagram", url="https://www.instagram.com/stories/samrads/",
                       author_handle="samrads", posted_at=at - timedelta(hours=3), text=POST_TEXT),
    )
    step(db, registry, incident, "request_removal", comms, at=at,
         values={"requested_via": "direct_message", "asked_who": "The author", "patient_info": patient_info})
    return incident


def tribunal_clock(db, registry, rep, *, edt: str, at: datetime) -> Incident:
    incident = open_case(db, registry, "employment-tribunal", rep, at=at, title="Dismissal may lead to a claim",
                         assignee=rep)
    step(db, registry, incident, "record_trigger", rep, at=at, values={"effective_date_of_termination": edt})
    return incident


def member_case(db, registry, rep, *, at: datetime, subject: Person | None = None) -> Incident:
    return open_case(db, registry, "employer-disciplinary", rep, at=at, title="Disciplinary over Facebook comments",
                     summary="Member is anxious and on sick leave.", assignee=rep, subject=subject)


# --- content removal: the 24-hour clock and escalation to formal action ----------------------------


def test_unremoved_post_is_marked_non_compliant_and_escalated_to_formal_action_once(db, make, registry):
    comms = make.user("comms", team="communications")
    contributor = Person(name="Sam Rads", role="contributor")
    db.add(contributor)
    db.commit()
    requested = utc(2026, 3, 10, 10, 0)
    removal = removal_requested(db, registry, comms, at=requested, patient_info=False, subject=contributor)

    comply = deadline(removal, "comply")
    assert comply.due_at == requested + timedelta(hours=24)

    early = sweep(db, registry, comply.due_at - timedelta(minutes=1))
    assert early.breaches == 0 and early.escalations == []
    assert removal.state == "awaiting_compliance"
    assert audit_rows(db, removal, "deadline.breached") == []

    late = sweep(db, registry, comply.due_at + timedelta(minutes=1))
    assert late.breaches == 1
    assert late.escalations == [f"{removal.reference}: Mark not complied with"]
    db.expire_all()
    removal = db.get(Incident, removal.id)
    assert removal.state == "non_compliant"
    [formal] = db.scalars(select(Incident).where(Incident.workflow_key == "formal-action")).all()
    [link] = db.scalars(select(IncidentLink)).all()
    assert (link.from_id, link.to_id, link.relation) == (removal.id, formal.id, "escalated_to")
    assert formal.subject_id == contributor.id  # the formal action is about the same contributor
    assert deadline(removal, "comply").breached_at == comply.due_at + timedelta(minutes=1)
    [breached] = audit_rows(db, removal, "deadline.breached")
    assert breached.actor_label == "system" and breached.data["deadline"] == "comply"
    [automatic] = audit_rows(db, removal, "incident.transition")[-1:]
    assert automatic.transition == "mark_non_compliant"
    assert (automatic.from_state, automatic.to_state) == ("awaiting_compliance", "non_compliant")
    assert automatic.actor_label == "system" and automatic.actor_id is None
    assert "was due" in automatic.comment

    again = sweep(db, registry, comply.due_at + timedelta(hours=2))
    assert (again.breaches, again.escalations) == (0, [])
    assert db.scalar(select(func.count()).select_from(Incident).where(Incident.workflow_key == "formal-action")) == 1
    assert len(audit_rows(db, removal, "deadline.breached")) == 1


def _sweep_beside(db, registry, passed: datetime, first: str, then: str, incident_id: int):  # type: ignore[no-untyped-def]
    """A sweep as of ``passed`` while a user's transaction runs ``first`` and then, once the sweep waits for a lock
    (or has finished), ``then``. Should the two deadlock, PostgreSQL fails the sweep."""
    from tests.concurrent_writer import beside_another_writer

    return beside_another_writer(first, then, {"id": incident_id}, lambda: sweep(db, registry, passed))


_HEAD = "SELECT last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"


def test_a_sweep_leaves_an_incident_someone_is_changing_to_the_next_sweep_instead_of_waiting_for_it(
        db, make, registry, dialect):
    """PostgreSQL: a user's transaction has the incident locked (its step's UPDATE) and will want the audit chain head
    next. A sweep that waited for that incident while holding the head would deadlock with it; the sweep claims the
    incidents it moves with SKIP LOCKED instead, and the next sweep escalates it."""
    if dialect != "postgresql":
        pytest.skip("SQLite's writers take the whole database in turn: a sweep never meets a user's row lock")
    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=utc(2026, 3, 10, 10, 0), patient_info=False)
    removal_id, passed = removal.id, deadline(removal, "comply").due_at + timedelta(minutes=1)

    first = _sweep_beside(db, registry, passed, "UPDATE incidents SET title = title WHERE id = :id", _HEAD,
                          removal_id)

    assert (first.breaches, first.escalations) == (0, [])
    db.expire_all()
    assert db.get(Incident, removal_id).state == "awaiting_compliance"
    second = sweep(db, registry, passed + timedelta(minutes=1))
    assert second.breaches == 1 and len(second.escalations) == 1
    assert db.get(Incident, removal_id).state == "non_compliant"


def test_a_sweep_lets_go_of_the_deadlines_of_an_incident_it_leaves(db, make, registry, dialect):
    """PostgreSQL: the deadlines of an incident someone is changing are not kept locked by the sweep that leaves it
    (the one changing it may be about to stop them: a second sweep escalating that incident would otherwise wait
    for them while holding the audit chain head)."""
    from sqlalchemy import text

    from app.extensions import db as database

    if dialect != "postgresql":
        pytest.skip("SQLite's writers take the whole database in turn: a sweep never meets a user's row lock")
    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=utc(2026, 3, 10, 10, 0), patient_info=False)
    due = deadline(removal, "comply").due_at
    removal_id, passed = removal.id, due + timedelta(minutes=1)
    sweep(db, registry, due - timedelta(hours=1))  # its reminder goes: the later sweep's reminders leave it alone
    with database.engine.connect() as user, database.engine.connect() as probe:
        user.execute(text("UPDATE incidents SET title = title WHERE id = :id"), {"id": removal_id})
        try:
            with frozen_at(passed):
                report = run_sweep(db, registry, passed)  # not committed: its locks are still held
            free = probe.execute(text("SELECT id FROM deadlines WHERE incident_id = :id FOR UPDATE NOWAIT"),
                                 {"id": removal_id}).all()
        finally:
            probe.rollback()
            db.rollback()
            user.rollback()
    assert report.breaches == 0 and len(free) == 1


def test_a_sweep_does_not_block_rows_added_that_point_at_the_incident_it_moves(db, make, registry, dialect):
    """PostgreSQL: someone holding the audit chain head adds an audit row about the incident (its foreign key takes a
    KEY SHARE lock on the incident) while the sweep, which has locked that incident to move it, waits for the head.
    The sweep's lock (FOR NO KEY UPDATE) lets the row in, so the two do not deadlock."""
    if dialect != "postgresql":
        pytest.skip("SQLite's writers take the whole database in turn: a sweep never meets a user's row lock")
    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=utc(2026, 3, 10, 10, 0), patient_info=False)
    removal_id, passed = removal.id, deadline(removal, "comply").due_at + timedelta(minutes=1)

    report = _sweep_beside(db, registry, passed, _HEAD,
                           "INSERT INTO audit_events (at, actor_label, action, incident_id, data, prev_hash, hash) "
                           "VALUES (now(), 'someone', 'incident.commented', :id, '{}', 'x', 'y')", removal_id)

    assert report.breaches == 1 and len(report.escalations) == 1
    db.expire_all()
    assert db.get(Incident, removal_id).state == "non_compliant"


def test_patient_identifying_post_must_come_down_within_four_hours(db, make, registry):
    comms = make.user("comms", team="communications")
    requested = utc(2026, 3, 10, 10, 0)
    removal = removal_requested(db, registry, comms, at=requested, patient_info=True)
    comply = deadline(removal, "comply")
    assert comply.due_at == requested + timedelta(hours=4)
    assert comply.duration == "4 hours"

    assert sweep(db, registry, requested + timedelta(hours=3, minutes=59)).breaches == 0
    assert sweep(db, registry, requested + timedelta(hours=4, minutes=1)).escalations == [
        f"{removal.reference}: Mark not complied with"]


# --- reminders --------------------------------------------------------------------------------------


def test_tribunal_limit_reminders_go_once_each_at_nine_in_the_morning(db, make, registry):
    rep = make.user("rep", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 1, 9, 0))
    limitation = deadline(claim, "limitation")
    assert limitation.due_at == uk(2026, 8, 30, 17, 0)
    # "6 weeks" before Sunday 30 August is Sunday 19 July, at 09:00 UK time (08:00 UTC in summer).
    six_weeks = uk(2026, 7, 19, 9, 0)

    sweep(db, registry, six_weeks - timedelta(minutes=1))
    assert outbox(db) == []

    sweep(db, registry, six_weeks + timedelta(minutes=1))
    [reminder] = outbox(db)
    assert reminder.to_address == rep.email
    assert reminder.incident_id == claim.id and reminder.status == "pending"
    assert reminder.subject == f"[Breachdesk] {claim.reference}: Reminder: 'Tribunal claim limit' is due soon"
    assert "remind:6 weeks" in reminder.dedupe_key

    sweep(db, registry, six_weeks + timedelta(hours=5))
    sweep(db, registry, uk(2026, 8, 1, 12, 0))
    assert len(outbox(db)) == 1

    # "2 weeks" before: Sunday 16 August, 09:00.
    sweep(db, registry, uk(2026, 8, 16, 8, 59))
    assert len(outbox(db)) == 1
    sweep(db, registry, uk(2026, 8, 16, 9, 1))
    sweep(db, registry, uk(2026, 8, 16, 12, 0))
    assert Counter(m.dedupe_key.split(":remind:")[1].split(":")[0] for m in outbox(db)) == {
        "6 weeks": 1, "2 weeks": 1}
    assert {m.to_address for m in outbox(db)} == {rep.email}


def test_unassigned_reminder_goes_once_to_each_team_member_who_may_see_the_case(db, make, registry):
    comms = make.user("comms", team="communications")
    colleague = make.user("comms", team="communications")
    outsider = make.user("comms", team="other-comms")
    make.user("comms", team="communications", active=False)
    requested = utc(2026, 3, 10, 10, 0)
    removal = removal_requested(db, registry, comms, at=requested, patient_info=False, assignee=False)
    remind_at = deadline(removal, "comply").due_at - timedelta(hours=2)

    sweep(db, registry, remind_at - timedelta(minutes=1))
    assert outbox(db) == []
    sweep(db, registry, remind_at + timedelta(minutes=1))
    assert sorted(m.to_address for m in outbox(db)) == sorted([comms.email, colleague.email])
    assert outsider.email not in {m.to_address for m in outbox(db)}

    sweep(db, registry, remind_at + timedelta(minutes=30))
    assert len(outbox(db)) == 2


def test_sweep_summary_counts_the_reminders_it_queued(db, make, registry):
    """The worker and `deadlines sweep` print this count; it must match what went into the outbox."""
    comms = make.user("comms", team="communications")
    make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=utc(2026, 3, 10, 10, 0), patient_info=False,
                                assignee=False)
    remind_at = deadline(removal, "comply").due_at - timedelta(hours=2)

    report = sweep(db, registry, remind_at + timedelta(minutes=1))
    assert len(outbox(db)) == 2
    assert report.reminders == 2
    assert sweep(db, registry, remind_at + timedelta(minutes=2)).reminders == 0


def test_a_sweep_records_each_deadlines_next_reminder_and_works_it_out_again_when_the_due_time_moves(
        db, make, registry):
    """A sweep reads only deadlines whose next reminder is due or not yet worked out (``next_remind_at``),
    so each must be right: the next reminder's time, none left once all have gone, and worked out anew (and
    sent for the new due time) after an agreed extension."""
    rep = make.user("rep", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 1, 9, 0))
    limitation = deadline(claim, "limitation")
    assert limitation.next_remind_at is None  # new: the next sweep works it out

    sweep(db, registry, utc(2026, 6, 1, 10, 0))
    assert db.get(Deadline, limitation.id).next_remind_at == uk(2026, 7, 19, 9, 0)  # "6 weeks" before
    sweep(db, registry, uk(2026, 7, 19, 9, 1))
    assert len(outbox(db)) == 1 and db.get(Deadline, limitation.id).next_remind_at == uk(2026, 8, 16, 9, 0)

    with frozen_at(uk(2026, 7, 20, 10, 0)):
        deadline_service.agree_extension(db, claim, db.get(Deadline, limitation.id), actor=rep,
                                         reason="Early conciliation certificate late", agreed_by="ACAS",
                                         new_due=uk(2026, 9, 30, 17, 0))
        db.commit()
    assert db.get(Deadline, limitation.id).next_remind_at is None  # the due time moved: work it out again
    sweep(db, registry, uk(2026, 7, 20, 10, 5))
    # 6 weeks before 30 September is 19 August; the "6 weeks" reminder goes again, for the new due time.
    assert db.get(Deadline, limitation.id).next_remind_at == uk(2026, 8, 19, 9, 0)
    sweep(db, registry, uk(2026, 8, 19, 9, 1))
    sweep(db, registry, uk(2026, 9, 16, 9, 1))
    assert len(outbox(db)) == 3
    assert db.get(Deadline, limitation.id).next_remind_at == NO_MORE_REMINDERS


# --- escalation by notifying a role -----------------------------------------------------------------


def test_tag_not_referred_in_a_working_day_is_brought_to_the_director(db, make, registry):
    officer = make.user("officer")
    director = make.user("director_of_comms")
    make.user("director_of_comms", active=False)
    tag = open_case(db, registry, "antagonistic-tag", officer, at=utc(2026, 3, 10, 10, 0),
                    title="Officer tagged in a hostile thread")
    refer = deadline(tag, "refer")
    assert refer.due_at == uk(2026, 3, 11, 17, 0)  # one working day: end of Wednesday

    assert sweep(db, registry, uk(2026, 3, 11, 16, 59)).escalations == []
    report = sweep(db, registry, uk(2026, 3, 11, 17, 1))
    assert report.escalations == [f"{tag.reference}: notified director_of_comms"]
    [notice] = [m for m in outbox(db) if m.to_address == director.email]
    assert notice.subject == (f"[Breachdesk] {tag.reference}: "
                              "Overdue: 'Referred to the Director of Communications'")
    assert tag.state == "tag_logged" and refer.status == "running" and refer.breached_at is not None

    assert sweep(db, registry, uk(2026, 3, 12, 9, 0)).escalations == []
    assert len([m for m in outbox(db) if m.to_address == director.email]) == 1


def test_director_in_the_owning_team_is_told_once_about_an_overdue_referral(db, make, registry):
    """The Director usually sits in the communications team, so they are both a team recipient of the
    overdue notice and the role the deadline escalates to; one event should be one e-mail."""
    officer = make.user("officer")
    make.user("comms", team="communications")
    director = make.user("director_of_comms", team="communications")
    tag = open_case(db, registry, "antagonistic-tag", officer, at=utc(2026, 3, 10, 10, 0),
                    title="Officer tagged in a hostile thread")
    sweep(db, registry, uk(2026, 3, 11, 17, 1))
    to_director = [m.subject for m in outbox(db) if m.to_address == director.email]
    assert to_director == [f"[Breachdesk] {tag.reference}: Overdue: 'Referred to the Director of Communications'"]


def test_regional_officer_of_the_reps_team_hears_when_the_member_was_not_contacted(db, make, registry):
    """A rep and their regional officer work in a regional team (the demo uses "reps-north"); the
    contact_member deadline escalates to the regional officer, who must be able to see the case."""
    rep = make.user("rep", team="reps-north")
    regional = make.user("regional_officer", team="reps-north")
    case = member_case(db, registry, rep, at=utc(2026, 3, 2, 9, 0))
    report = sweep(db, registry, uk(2026, 3, 4, 17, 1))
    assert report.breaches == 1
    assert [m.to_address for m in overdue_notices(db, regional.email)] == [regional.email], (
        f"{case.reference} was given team {case.team.key if case.team else None!r}, so the regional officer "
        "of the rep's team cannot see it and the escalation reached nobody")


def test_deadline_missed_again_after_an_agreed_extension_is_reported_again(db, make, registry):
    rep = make.user("rep", team="reps")
    regional = make.user("regional_officer", team="reps")
    case = member_case(db, registry, rep, at=utc(2026, 3, 2, 9, 0))
    contact = deadline(case, "contact_member")
    assert contact.due_at == uk(2026, 3, 4, 17, 0)

    sweep(db, registry, uk(2026, 3, 4, 17, 1))
    assert len(overdue_notices(db, rep.email)) == 1
    assert len(overdue_notices(db, regional.email)) == 1

    with frozen_at(uk(2026, 3, 5, 9, 0)):
        deadline_service.agree_extension(db, case, contact, actor=rep, reason="Member in hospital",
                                         agreed_by="Branch secretary", by="2 working days")
        db.commit()
    assert contact.due_at == uk(2026, 3, 6, 17, 0)  # two working days after Wednesday's due time
    assert sweep(db, registry, uk(2026, 3, 6, 16, 0)).breaches == 0

    missed_again = sweep(db, registry, uk(2026, 3, 6, 17, 1))
    assert missed_again.breaches == 1
    assert len(overdue_notices(db, rep.email)) == 2, "the rep is not told the extended deadline passed"
    assert len(overdue_notices(db, regional.email)) == 2, "the regional officer is not told either"


# --- paused clocks ----------------------------------------------------------------------------------


def test_waiting_on_the_employer_stops_the_clock_and_moves_the_due_time_by_the_pause(db, make, registry):
    rep = make.user("rep", team="reps")
    case = member_case(db, registry, rep, at=utc(2026, 3, 2, 9, 0))
    step(db, registry, case, "check_membership", rep, at=utc(2026, 3, 2, 10, 0), values={"subs_in_order": True})
    step(db, registry, case, "start_support", rep, at=utc(2026, 3, 2, 10, 5))
    step(db, registry, case, "record_suspension", rep, at=utc(2026, 3, 2, 11, 0),
         values={"suspended_from": "2026-03-02", "review_date": "2026-03-20"})
    review = deadline(case, "suspension_review")
    assert review.status == "running" and review.due_at == uk(2026, 3, 20, 17, 0)
    original_due = review.due_at

    paused_at, resumed_at = utc(2026, 3, 5, 10, 0), utc(2026, 3, 23, 14, 30)
    step(db, registry, case, "wait_on_employer", rep, at=paused_at, comment="HR investigator off sick")
    assert case.state == "waiting_on_employer"
    assert review.status == "paused" and review.paused_at == paused_at

    # Past the original due time, but the clock is stopped: nothing is overdue.
    while_paused = sweep(db, registry, uk(2026, 3, 21, 12, 0))
    assert while_paused.breaches == 0
    assert review.breached_at is None and review.due_at == original_due

    step(db, registry, case, "employer_resumed", rep, at=resumed_at)
    db.expire_all()
    review = db.get(Deadline, review.id)
    assert review.status == "running" and review.paused_at is None
    assert review.due_at - original_due == resumed_at - paused_at == timedelta(days=18, hours=4, minutes=30)
    assert review.paused_seconds == int((resumed_at - paused_at).total_seconds())
    assert review.due_at == utc(2026, 4, 7, 21, 30)


# --- the employment tribunal clock -------------------------------------------------------------------


def test_tribunal_limit_runs_three_months_less_a_day_and_conciliation_adds_day_a_to_day_b(db, make, registry):
    rep = make.user("rep", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 2, 9, 0))
    limitation = deadline(claim, "limitation")
    assert limitation.due_at.astimezone(LONDON).replace(tzinfo=None) == datetime(2026, 8, 30, 17, 0)
    assert limitation.due_at == utc(2026, 8, 30, 16, 0)  # BST

    step(db, registry, claim, "notify_acas", rep, at=utc(2026, 7, 1, 10, 0), values={"day_a": "2026-07-01"})
    assert deadline(claim, "conciliation_period").due_at == uk(2026, 9, 23, 17, 0)  # 12 weeks from Day A
    step(db, registry, claim, "record_certificate", rep, at=utc(2026, 7, 22, 10, 0),
         values={"day_b": "2026-07-21", "certificate_number": "R123456/26/01"})

    # 20 days from Day A to Day B are not counted: 30 August + 20 days = Saturday 19 September.
    assert limitation.due_at == uk(2026, 9, 19, 17, 0)
    assert limitation.status == "running"
    assert deadline(claim, "conciliation_period").status == "met"


def test_tribunal_limit_leaves_at_least_a_month_after_the_certificate(db, make, registry):
    rep = make.user("rep", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 2, 9, 0))
    step(db, registry, claim, "notify_acas", rep, at=utc(2026, 8, 25, 10, 0), values={"day_a": "2026-08-25"})
    step(db, registry, claim, "record_certificate", rep, at=utc(2026, 8, 28, 15, 0),
         values={"day_b": "2026-08-28", "certificate_number": "R654321/26/02"})
    # 30 August + 3 days would be 2 September, but one month after Day B (28 September) is later.
    assert deadline(claim, "limitation").due_at == uk(2026, 9, 28, 17, 0)


def test_limit_is_not_reported_overdue_while_conciliation_stops_the_clock(db, make, registry):
    """ACAS was notified before the limit ran out, so the limit cannot pass during conciliation: it ends
    at least a month after the certificate, whenever that comes."""
    rep = make.user("rep", team="reps")
    regional = make.user("regional_officer", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 2, 9, 0))
    step(db, registry, claim, "notify_acas", rep, at=utc(2026, 8, 1, 10, 0), values={"day_a": "2026-08-01"})

    during = sweep(db, registry, uk(2026, 9, 1, 12, 0))
    assert during.breaches == 0, "the claim limit was reported as passed during early conciliation"
    assert overdue_notices(db, rep.email) == [] and overdue_notices(db, regional.email) == []


def test_limit_moved_on_by_the_certificate_is_reported_when_it_really_passes(db, make, registry):
    rep = make.user("rep", team="reps")
    regional = make.user("regional_officer", team="reps")
    claim = tribunal_clock(db, registry, rep, edt="2026-05-31", at=utc(2026, 6, 2, 9, 0))
    step(db, registry, claim, "notify_acas", rep, at=utc(2026, 8, 1, 10, 0), values={"day_a": "2026-08-01"})
    sweep(db, registry, uk(2026, 9, 1, 12, 0))  # the worker runs every minute, conciliation or not
    step(db, registry, claim, "record_certificate", rep, at=utc(2026, 9, 14, 10, 0),
         values={"day_b": "2026-09-12", "certificate_number": "R777777/26/03"})
    limitation = deadline(claim, "limitation")
    # 30 August + 42 days = 11 October; one month after Day B is 12 October, which is later.
    assert limitation.due_at == uk(2026, 10, 12, 17, 0)
    notices_before = len(overdue_notices(db, regional.email))

    passed = sweep(db, registry, uk(2026, 10, 12, 17, 1))
    assert passed.breaches == 1, "the real (moved) claim limit passed and the sweep did not notice"
    assert len(overdue_notices(db, regional.email)) == notices_before + 1


# --- warnings ---------------------------------------------------------------------------------------


def _to_hearing_held(db, registry, case, rep) -> None:
    step(db, registry, case, "check_membership", rep, at=utc(2026, 3, 2, 10, 0))
    step(db, registry, case, "start_support", rep, at=utc(2026, 3, 2, 10, 5))
    step(db, registry, case, "notify_allegations", rep, at=utc(2026, 3, 9, 10, 0),
         values={"allegations": "Comments about a manager on Facebook", "evidence_received": True})
    step(db, registry, case, "schedule_hearing", rep, at=utc(2026, 3, 10, 10, 0),
         values={"hearing_at": "2026-03-20T10:00"})
    step(db, registry, case, "hold_hearing", rep, at=utc(2026, 3, 20, 12, 0))


def test_first_written_warning_is_live_for_six_months_then_expires(db, make, registry, client, signed_in):
    rep = db.get(User, signed_in("rep", team="reps").id)
    member = Person(name="Jordan Price", role="member")
    db.add(member)
    db.commit()
    case = member_case(db, registry, rep, at=utc(2026, 3, 2, 9, 0), subject=member)
    _to_hearing_held(db, registry, case, rep)
    step(db, registry, case, "issue_first_written_warning", rep, at=utc(2026, 3, 23, 12, 0),
         values={"outcome": "first_written_warning"})

    [warning] = db.scalars(select(Warning)).all()
    assert (warning.person_id, warning.incident_id, warning.level) == (member.id, case.id, "first_written_warning")
    assert (warning.issued_on, warning.expires_on, warning.status) == (date(2026, 3, 23), date(2026, 9, 23), "live")
    assert case.outcome == "first_written_warning" and deadline(case, "appeal_window").status == "running"

    with frozen_at(utc(2026, 4, 1, 12, 0)):  # during the warning's life (the page judges by date)
        page = client.get(f"/people/{member.id}").get_data(as_text=True)
    live_section = page.split("<h2>Live warnings</h2>")[1].split("<h2>Incidents</h2>")[0]
    assert "First written warning" in live_section and "No live warnings" not in live_section

    assert sweep(db, registry, uk(2026, 9, 22, 12, 0)).expired_warnings == 0
    db.expire_all()
    assert db.get(Warning, warning.id).status == "live"
    assert sweep(db, registry, uk(2026, 9, 24, 12, 0)).expired_warnings == 1
    db.expire_all()
    assert db.get(Warning, warning.id).status == "expired"
    [expired] = audit_rows(db, action="warning.expired")
    assert expired.object_id == str(warning.id) and expired.actor_label == "system"
    assert expired.data["expires_on"] == "2026-09-23"
    assert sweep(db, registry, uk(2026, 9, 25, 12, 0)).expired_warnings == 0

    client.delete_cookie("session")  # the April visit's session has long since timed out
    login(client, db.get(User, rep.id))
    page = client.get(f"/people/{member.id}").get_data(as_text=True)
    live_section = page.split("<h2>Live warnings</h2>")[1].split("<h2>Incidents</h2>")[0]
    assert "No live warnings" in live_section and "First written warning" not in live_section
    assert "1 expired warning(s)" in page


# --- agreed extensions, through the incident page ------------------------------------------------------


def _extension_form(client, incident_id: int, deadline_id: int) -> dict[str, str]:
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    prefix = f"extend-{deadline_id}-"
    token = re.search(rf'name="{prefix}csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        rf'value="([^"]+)"[^>]*name="{prefix}csrf_token"', page)
    version = re.search(rf'name="{prefix}version" type="hidden" value="([^"]*)"', page)
    assert token and version, f"no extension form for deadline {deadline_id} on the incident page"
    return {f"{prefix}csrf_token": token.group(1), f"{prefix}version": version.group(1)}


def test_rep_records_an_agreed_extension_on_the_incident_page(db, make, registry, client, signed_in):
    rep = db.get(User, signed_in("rep", team="reps").id)
    case = member_case(db, registry, rep, at=datetime.now(UTC))
    contact = deadline(case, "contact_member")
    case_id, deadline_id, due_before = case.id, contact.id, contact.due_at
    url = f"/incidents/{case_id}/deadlines/{deadline_id}/extend"
    prefix = f"extend-{deadline_id}-"
    later_day = (due_before.astimezone(LONDON) + timedelta(days=7)).date()

    def unchanged() -> None:
        db.expire_all()
        assert db.get(Deadline, deadline_id).due_at == due_before
        assert db.scalar(select(func.count()).select_from(DeadlineExtension)) == 0
        assert audit_rows(db, action="deadline.extended") == []

    # No reason: refused, saying what is missing, and nothing changes.
    form = _extension_form(client, case_id, deadline_id)
    refused = client.post(url, data={**form, f"{prefix}new_due": later_day.isoformat(), f"{prefix}reason": "",
                                     f"{prefix}agreed_by": "Jane Smith, HR adviser"})
    assert refused.status_code in (400, 422)
    assert "Say why the extension was agreed." in refused.get_data(as_text=True)
    unchanged()

    # An earlier date is not an extension.
    earlier_day = (due_before.astimezone(LONDON) - timedelta(days=1)).date()
    form = _extension_form(client, case_id, deadline_id)
    refused = client.post(url, data={**form, f"{prefix}new_due": earlier_day.isoformat(),
                                     f"{prefix}reason": "Member asked", f"{prefix}agreed_by": "Jane Smith"})
    assert refused.status_code == 422
    assert "must move the deadline later" in refused.get_data(as_text=True)
    unchanged()

    form = _extension_form(client, case_id, deadline_id)
    done = client.post(url, data={**form, f"{prefix}new_due": later_day.isoformat(),
                                  f"{prefix}reason": "Member in hospital until next week",
                                  f"{prefix}agreed_by": "Jane Smith, HR adviser at the employer"})
    assert done.status_code == 302, done.get_data(as_text=True)
    db.expire_all()
    moved = db.get(Deadline, deadline_id)
    assert moved.due_at == datetime.combine(later_day, datetime.min.time().replace(hour=17), LONDON)
    assert moved.due_at > due_before
    [extension] = moved.extensions
    assert extension.reason == "Member in hospital until next week"
    assert extension.agreed_by == "Jane Smith, HR adviser at the employer"
    assert extension.previous_due_at == due_before and extension.recorded_by_id == rep.id
    [audited] = audit_rows(db, action="deadline.extended")
    assert audited.incident_id == case_id and audited.actor_id == rep.id
    assert audited.data["agreed_by"] == "Jane Smith, HR adviser at the employer"
    assert "Member in hospital until next week" in client.get(f"/incidents/{case_id}").get_data(as_text=True)


def test_someone_who_cannot_see_the_case_cannot_extend_its_deadline(db, make, registry, app):
    rep = make.user("rep", team="reps")
    case = member_case(db, registry, rep, at=datetime.now(UTC))
    contact = deadline(case, "contact_member")
    other_rep = make.user("rep", team="reps")
    client = app.test_client()
    assert login(client, other_rep).status_code == 302
    token = csrf_token(client, "/incidents/new")
    prefix = f"extend-{contact.id}-"
    response = client.post(f"/incidents/{case.id}/deadlines/{contact.id}/extend",
                           data={f"{prefix}csrf_token": token, f"{prefix}version": str(case.version),
                                 f"{prefix}extend_by": "5 working days", f"{prefix}reason": "Asked nicely",
                                 f"{prefix}agreed_by": "Nobody"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Deadline, contact.id).extensions == []


# --- the command --------------------------------------------------------------------------------------


SUMMARY = re.compile(r"^\d+ reminder\(s\) queued, \d+ deadline\(s\) passed, \d+ escalation\(s\), "
                     r"\d+ warning\(s\) expired$", re.MULTILINE)


@pytest.fixture
def command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env["BREACHDESK_DATABASE_URL"] = f"sqlite:///{tmp_path}/sweep.sqlite3"
    env["BREACHDESK_SECRET_KEY"] = "sweep-test"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BREACHDESK, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120)

    return run


def test_sweep_command_runs_as_of_a_given_time_and_prints_a_summary(command):
    assert command("db", "upgrade").returncode == 0
    demo = command("demo")
    assert demo.returncode == 0, demo.stderr

    # Well after the demo's cases were opened: the 4-hour removal and the tag referral have passed.
    later = (datetime.now(LONDON) + timedelta(days=40)).strftime("%Y-%m-%dT12:00")
    what_if = command("deadlines", "sweep", "--now", later)
    assert what_if.returncode == 0, what_if.stderr
    assert SUMMARY.search(what_if.stdout), what_if.stdout
    assert "escalated" in what_if.stdout and "Mark not complied with" in what_if.stdout
    assert "notified director_of_comms" in what_if.stdout

    swept = command("deadlines", "sweep", "--now", "2026-12-20T12:00")
    assert swept.returncode == 0, swept.stderr
    assert SUMMARY.search(swept.stdout), swept.stdout
    assert "0 deadline(s) passed, 0 escalation(s)" in swept.stdout  # nothing is escalated twice

    nonsense = command("deadlines", "sweep", "--now", "nonsense")
    assert nonsense.returncode != 0
    assert "nonsense" in nonsense.stderr and "ISO 8601" in nonsense.stderr
    assert "Traceback" not in nonsense.stderr


# --- many passed deadlines at once: the batched path -------------------------------------------------


def test_many_passed_deadlines_are_each_recorded_and_told_once_across_batches(db, make, registry, monkeypatch):
    from app.services import audit
    from app.services import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "BATCH", 7)  # 20 deadlines: three batches, the last one partial
    comms = make.user("comms", team="communications")
    opened = datetime(2026, 3, 2, 10, tzinfo=UTC)
    incidents = [removal_requested(db, registry, comms, at=opened + timedelta(minutes=i), patient_info=False)
                 for i in range(20)]
    later = opened + timedelta(days=10)

    first = sweep(db, registry, later)
    again = sweep(db, registry, later + timedelta(hours=1))

    assert first.breaches == 20 and again.breaches == 0
    breached = audit_rows(db, action="deadline.breached")
    assert sorted(row.incident_id for row in breached) == sorted(i.id for i in incidents)
    [digest] = overdue_notices(db, comms.email)  # one e-mail for the sweep, not one per deadline
    assert digest.subject == "[Breachdesk] Overdue: 20 deadlines have passed"
    assert digest.incident_id is None
    for incident in incidents:
        assert digest.body.count(f"- {incident.reference}: 'Content removed', due ") == 1
        assert f"{{base_url}}/incidents/{incident.id}\n" in digest.body
    assert "more" not in digest.body
    db.commit()  # verify_chain reads through its own connection
    assert audit.verify_chain(db) is None


def test_a_digest_lists_the_first_deadlines_and_links_to_the_overdue_queue_for_the_rest(db, make, registry,
                                                                                         monkeypatch):
    from app.services import notifications

    monkeypatch.setattr(notifications, "DIGEST_LIMIT", 5)
    comms = make.user("comms", team="communications")
    opened = datetime(2026, 3, 2, 10, tzinfo=UTC)
    incidents = [removal_requested(db, registry, comms, at=opened + timedelta(minutes=i), patient_info=False)
                 for i in range(8)]

    sweep(db, registry, opened + timedelta(days=10))

    [digest] = overdue_notices(db, comms.email)
    assert digest.subject == "[Breachdesk] Overdue: 8 deadlines have passed"
    listed = [i for i in incidents if f"- {i.reference}: " in digest.body]
    assert listed == incidents[:5], "the soonest due are listed first"
    assert "…and 3 more. Every overdue incident you may read: {base_url}/incidents?overdue=1&sort=due" in digest.body
    assert "deliberately leaves out the details" in digest.body
    assert POST_TEXT not in digest.body and "labelled scan" not in digest.body  # no case details


def test_someone_both_in_the_team_and_the_escalation_role_finds_each_deadline_once_in_their_digest(db, make,
                                                                                                   registry):
    officer = make.user("officer")
    colleague = make.user("comms", team="communications")
    director = make.user("director_of_comms", team="communications")
    tags = [open_case(db, registry, "antagonistic-tag", officer, at=utc(2026, 3, 10, 10, minute),
                      title="Officer tagged in a hostile thread") for minute in (0, 5)]

    report = sweep(db, registry, uk(2026, 3, 11, 17, 1))

    assert report.breaches == 2 and len(report.escalations) == 2
    [to_director] = [m for m in outbox(db) if m.to_address == director.email]
    assert to_director.subject == "[Breachdesk] Overdue: 2 deadlines have passed"
    for tag in tags:
        assert to_director.body.count(f"- {tag.reference}: 'Referred to the Director of Communications'") == 1
    [to_colleague] = [m for m in outbox(db) if m.to_address == colleague.email]
    assert to_colleague.subject == to_director.subject



def test_each_team_member_is_told_of_the_teams_deadlines_and_their_own_in_one_e_mail(db, make, registry):
    # The sweep files deadlines by audience (everyone in the team for an unassigned incident, the assignee
    # otherwise); each person still gets exactly the deadlines they are told of, under a key of their own.
    alice = make.user("comms", team="communications")
    bob = make.user("comms", team="communications")
    carol = make.user("comms", team="communications")
    opened = datetime(2026, 3, 2, 10, tzinfo=UTC)
    unassigned = [removal_requested(db, registry, alice, at=opened + timedelta(minutes=i), patient_info=False,
                                    assignee=False) for i in range(2)]
    alices_own = removal_requested(db, registry, alice, at=opened + timedelta(minutes=5), patient_info=False)

    sweep(db, registry, opened + timedelta(days=10))

    [to_alice] = overdue_notices(db, alice.email)
    [to_bob] = overdue_notices(db, bob.email)
    [to_carol] = overdue_notices(db, carol.email)
    assert to_alice.subject == "[Breachdesk] Overdue: 3 deadlines have passed"
    assert to_bob.subject == to_carol.subject == "[Breachdesk] Overdue: 2 deadlines have passed"
    for incident in unassigned:
        for message in (to_alice, to_bob, to_carol):
            assert message.body.count(f"- {incident.reference}: ") == 1
    assert f"- {alices_own.reference}: " in to_alice.body
    assert alices_own.reference not in to_bob.body + to_carol.body
    assert to_bob.body == to_carol.body  # told of the same deadlines: the same wording…
    keys = {to_alice.dedupe_key, to_bob.dedupe_key, to_carol.dedupe_key}
    assert len(keys) == 3 and to_bob.dedupe_key.endswith(f":user:{bob.id}")  # …each under a key of their own
    assert to_bob.dedupe_key.removesuffix(f":user:{bob.id}") == to_carol.dedupe_key.removesuffix(f":user:{carol.id}")


def test_a_deadline_whose_breach_rule_is_stored_as_anything_but_an_object_is_marked_and_told_without_an_escalation(
        db, make, registry):
    comms = make.user("comms", team="communications")
    opened = datetime(2026, 3, 2, 10, tzinfo=UTC)
    incident = removal_requested(db, registry, comms, at=opened, patient_info=False)
    # JSON's null (as the ORM stores None), SQL's NULL, and an array: none of them is a rule.
    for stored, as_text in ((JSON.NULL, "null"), (null(), None), ([], "[]")):
        db.execute(update(OutboxMessage).values(dedupe_key=None))  # each round's notice is a new one
        db.execute(update(Deadline).where(Deadline.incident_id == incident.id)
                   .values(on_breach=stored, breached_at=None, status="running"))
        db.commit()
        assert db.scalar(text("SELECT CAST(on_breach AS TEXT) FROM deadlines")) == as_text
        state = db.scalar(select(Incident.state).where(Incident.id == incident.id))
        told_before = len(overdue_notices(db, comms.email))

        report = sweep(db, registry, opened + timedelta(days=10))

        assert report.breaches == 1 and report.escalations == []
        assert db.scalar(select(Incident.state).where(Incident.id == incident.id)) == state
        assert db.scalar(select(Deadline.breached_at).where(Deadline.incident_id == incident.id)) is not None
        assert len(overdue_notices(db, comms.email)) == told_before + 1
