"""Members' case files: parallel tracks, meetings, outcomes that start the right clocks, reallocation,
need-to-know access, the rep's week, advice that becomes a case, and bad input refused with nothing saved."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.clock import frozen_at
from app.models import AuditEvent, CaseFile, Deadline, Incident, IncidentShare, Meeting, Member, Warning
from app.services import ServiceError
from app.services import cases as case_service
from app.services.audit import verify_chain
from app.services.incidents import take_transition
from app.services.sweep import run_sweep
from app.workflow import TransitionNotAllowed
from tests.conftest import csrf_token, login

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # no bank holidays near it


@pytest.fixture
def registry(app):  # type: ignore[no-untyped-def]
    return app.extensions["breachdesk.workflows"]


@pytest.fixture
def people(make):  # type: ignore[no-untyped-def]
    return {
        "rep": make.user("rep", team="north-west", name="Rita Rep"),
        "rep2": make.user("rep", team="north-west", name="Ravi Rep"),
        "other_rep": make.user("rep", team="north-west", name="Olga Otherrep"),
        "ro": make.user("regional_officer", team="north-west", name="Rona Regional"),
        "far_ro": make.user("regional_officer", team="south-east", name="Sam Southeast"),
        "comms": make.user("comms", team="communications"),
        "officer": make.user("officer"),
        "admin": make.user("admin"),
    }


def _member(db, rep, number="M-1001", **kw):  # type: ignore[no-untyped-def]
    details = case_service.MemberDetails(name=kw.pop("name", "Morag Member"), membership_number=number,
                                         employer=kw.pop("employer", "Northshire NHS Trust"),
                                         joined_on=kw.pop("joined_on", date(2020, 1, 6)), subs_in_order=True,
                                         consent_given=True, **kw)
    return case_service.add_member(db, details, actor=rep)


def _open(db, registry, rep, *, workflow="employer-disciplinary", number="M-1001", **kw):  # type: ignore[no-untyped-def]
    member = _member(db, rep, number, **kw)
    case_file = case_service.open_case_file(db, registry, member=member, title="Posts about the ward rota",
                                            issue_arose_on=date(2026, 2, 20), workflow_key=workflow, rep=rep,
                                            actor=rep)
    db.commit()
    return case_file


def _step(db, registry, incident, key, actor, comment=None, **values):  # type: ignore[no-untyped-def]
    take_transition(db, registry, incident, key, actor=actor, values=values, comment=comment)
    db.commit()
    return incident


def _to_hearing_held(db, registry, track, rep):  # type: ignore[no-untyped-def]
    _step(db, registry, track, "check_membership", rep, subs_in_order=True)
    _step(db, registry, track, "start_support", rep)
    _step(db, registry, track, "notify_allegations", rep, allegations="Posted about a colleague's rota on X.")
    _step(db, registry, track, "schedule_hearing", rep, invitation_received_on="2026-03-02",
          hearing_at="2026-03-09T10:00", place="HR meeting room 2", companion="Rita Rep")
    _step(db, registry, track, "hold_hearing", rep, hearing_notes="Manager read the posts aloud.")


def test_a_case_file_holds_its_member_first_track_and_rep(db, registry, people) -> None:
    with frozen_at(MONDAY):
        case_file = _open(db, registry, people["rep"])
    track = case_file.tracks[0]
    assert case_file.reference.startswith("CF-") and case_file.reference[3:] == track.reference[3:]
    assert track.workflow_key == "employer-disciplinary" and track.subject.name == "Morag Member"
    assert track.assignee_id == people["rep"].id and track.team_id == people["rep"].team_id
    assert case_file.current_rep_ids() == {people["rep"].id}
    assert case_file.member.person.role == "member" and case_file.member.consent_recorded_at is not None
    check = case_service.membership_check(db, registry, case_file)
    assert check.subs_in_order and check.qualifies is True and check.qualifying == "4 weeks"


def test_the_four_week_rule_is_checked_from_the_workflow_file(db, registry, people) -> None:
    case_file = _open(db, registry, people["rep"], joined_on=date(2026, 2, 2))  # issue arose 2026-02-20
    check = case_service.membership_check(db, registry, case_file)
    assert check.qualifies is False and "inside the first 4 weeks" in check.explanation


def test_a_membership_number_already_used_is_refused_and_nothing_saved(db, registry, people) -> None:
    _open(db, registry, people["rep"])
    with pytest.raises(ServiceError, match="M-1001 is already on file"):
        _member(db, people["rep"], "M-1001", name="Someone Else")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Member)) == 1


def test_hearing_rescheduled_when_the_companion_cannot_attend(db, registry, people) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        track = _open(db, registry, rep).tracks[0]
        _step(db, registry, track, "check_membership", rep)
        _step(db, registry, track, "start_support", rep)
        _step(db, registry, track, "notify_allegations", rep, allegations="Shared a photo of colleagues.")
        _step(db, registry, track, "schedule_hearing", rep, invitation_received_on="2026-03-02",
              hearing_at="2026-03-09T10:00", place="HR room", companion="Rita Rep",
              documents_received="Investigation report, screenshots")
        _step(db, registry, track, "companion_unavailable", rep, original_hearing_date="2026-03-09")
        propose = next(d for d in track.deadlines if d.key == "propose_new_time")
        # Five working days from the day after the proposed date: 10..16 March, due at 17:00 UK time.
        assert propose.due_at == datetime(2026, 3, 16, 17, 0, tzinfo=UTC)
        _step(db, registry, track, "confirm_new_time", rep, hearing_at="2026-03-13T14:00", place="HR room")
    meetings = db.scalars(select(Meeting).where(Meeting.incident_id == track.id).order_by(Meeting.id)).all()
    assert [(m.status, m.scheduled_at.date()) for m in meetings] == [("rescheduled", date(2026, 3, 9)),
                                                                     ("scheduled", date(2026, 3, 13))]
    assert meetings[0].invitation_received_on == date(2026, 3, 2)
    assert meetings[0].documents_received == "Investigation report, screenshots"
    assert next(d for d in track.deadlines if d.key == "propose_new_time").status == "met"


def test_investigation_meetings_are_recorded_with_their_notes(db, registry, people) -> None:
    rep = people["rep"]
    track = _open(db, registry, rep).tracks[0]
    _step(db, registry, track, "check_membership", rep)
    _step(db, registry, track, "start_support", rep)
    _step(db, registry, track, "schedule_investigation_meeting", rep, invitation_received_on="2026-02-23",
          meeting_at="2026-02-26T11:00", place="Ward office", companion="Rita Rep")
    _step(db, registry, track, "investigation_meeting_held", rep, meeting_notes="Member explained the post.")
    meeting = db.scalar(select(Meeting).where(Meeting.incident_id == track.id))
    assert (meeting.kind, meeting.status, meeting.place, meeting.notes) == (
        "investigation_meeting", "held", "Ward office", "Member explained the post.")
    assert track.state == "investigation"


def test_a_hearing_before_the_invitation_is_refused(db, registry, people) -> None:
    rep = people["rep"]
    track = _open(db, registry, rep).tracks[0]
    _step(db, registry, track, "check_membership", rep)
    _step(db, registry, track, "start_support", rep)
    _step(db, registry, track, "notify_allegations", rep, allegations="x")
    with pytest.raises(TransitionNotAllowed) as refused:
        take_transition(db, registry, track, "schedule_hearing", actor=rep,
                        values={"invitation_received_on": "2026-03-10", "hearing_at": "2026-03-09T10:00"})
    assert "Hearing date and time must be after Invitation received on (2026-03-10)" in refused.value.reason
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Meeting)) == 0
    assert db.get(Incident, track.id).state == "allegations_notified"


def test_impossible_dates_and_a_warning_expiring_before_it_starts_are_refused(db, registry, people) -> None:
    rep = people["rep"]
    track = _open(db, registry, rep).tracks[0]
    _step(db, registry, track, "check_membership", rep)
    _step(db, registry, track, "start_support", rep)
    with pytest.raises(TransitionNotAllowed, match="give a date as YYYY-MM-DD"):
        take_transition(db, registry, track, "record_suspension", actor=rep,
                        values={"suspended_from": "2026-02-30", "review_date": "2026-03-10"})
    db.rollback()
    track = db.get(Incident, track.id)
    _step(db, registry, track, "notify_allegations", rep, allegations="x")
    _step(db, registry, track, "schedule_hearing", rep, invitation_received_on="2026-03-02",
          hearing_at="2026-03-09T10:00")
    _step(db, registry, track, "hold_hearing", rep)
    with pytest.raises(TransitionNotAllowed, match="Warning expires on .* must be after Warning starts on"):
        take_transition(db, registry, track, "issue_final_written_warning", actor=rep,
                        values={"outcome": "final_written_warning", "warning_starts_on": "2026-03-12",
                                "warning_expires_on": "2026-03-01"})
    db.rollback()
    with pytest.raises(TransitionNotAllowed, match="Outcome is required"):
        take_transition(db, registry, db.get(Incident, track.id), "issue_final_written_warning", actor=rep,
                        values={})
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Warning)) == 0


def test_outcome_starts_the_appeal_window_and_the_employers_policy_can_change_it(db, registry, people) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        default = _open(db, registry, rep).tracks[0]
        longer = _open(db, registry, rep, number="M-2002", employer="Southshire Council",
                       employer_appeal_window="10 working days").tracks[0]
        for track in (default, longer):
            _to_hearing_held(db, registry, track, rep)
            _step(db, registry, track, "issue_final_written_warning", rep, outcome="final_written_warning")
    due = {t.id: next(d for d in t.deadlines if d.key == "appeal_window").due_at for t in (default, longer)}
    assert due[default.id] == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)   # 5 working days after Monday 2 March
    assert due[longer.id] == datetime(2026, 3, 16, 17, 0, tzinfo=UTC)   # 10 working days
    warning = db.scalar(select(Warning).where(Warning.incident_id == default.id))
    assert (warning.level, warning.issued_on, warning.expires_on) == ("final_written_warning", date(2026, 3, 2),
                                                                       date(2027, 3, 2))


def test_a_malformed_employer_appeal_window_is_refused(db, registry, people) -> None:
    with pytest.raises(ServiceError, match="Employer's appeal window"):
        _member(db, people["rep"], employer_appeal_window="fortnightish")


def test_appeal_inside_the_window_then_dismissed_and_the_warning_expires(db, registry, people) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        case_file = _open(db, registry, rep)
        track = case_file.tracks[0]
        _to_hearing_held(db, registry, track, rep)
        _step(db, registry, track, "issue_final_written_warning", rep, outcome="final_written_warning")
        _step(db, registry, track, "lodge_appeal", rep)
    appeal = db.scalar(select(Incident).where(Incident.workflow_key == "disciplinary-appeal"))
    assert appeal.case_file_id == case_file.id and appeal.assignee_id == rep.id
    assert next(d for d in track.deadlines if d.key == "appeal_window").status == "met"
    with frozen_at(MONDAY + timedelta(days=3)):
        _step(db, registry, appeal, "schedule_hearing", rep, hearing_at="2026-03-20T10:00", heard_by="Director of HR")
        _step(db, registry, appeal, "hold_hearing", rep, hearing_notes="Grounds heard.")
        _step(db, registry, appeal, "dismiss_appeal", rep)
    assert appeal.state == "dismissed"
    warning = db.scalar(select(Warning).where(Warning.incident_id == track.id))
    with frozen_at(datetime(2027, 3, 3, 9, 0, tzinfo=UTC)):
        run_sweep(db, registry)
        db.commit()
    assert db.get(Warning, warning.id).status == "expired"


def test_dismissal_starts_the_tribunal_clock_and_prompts_the_regulator_check(db, registry, people) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        case_file = _open(db, registry, rep)
        track = case_file.tracks[0]
        _to_hearing_held(db, registry, track, rep)
        _step(db, registry, track, "record_dismissal", rep, "Gross misconduct.", outcome="summary_dismissal",
              effective_date_of_termination="2026-03-02")
    db.refresh(case_file)
    tribunal = next(t for t in case_file.tracks if t.workflow_key == "employment-tribunal")
    assert tribunal.state == "limitation_running"
    limitation = next(d for d in tribunal.deadlines if d.key == "limitation")
    assert limitation.due_at.astimezone(UTC).date() == date(2026, 6, 1)  # 3 months less 1 day
    assert case_file.regulator_check == "pending"
    with frozen_at(MONDAY + timedelta(days=7)):
        _step(db, registry, tribunal, "notify_acas", rep, day_a="2026-03-09")
        status = {d.key: d.status for d in tribunal.deadlines}
        # Conciliation stops the limitation clock; its own 12-week period runs meanwhile.
        assert status == {"limitation": "paused", "conciliation_period": "running"}
        hcpc = case_service.open_track(db, registry, case_file, "regulator-ftp-hcpc", actor=rep)
        db.commit()
    assert hcpc.case_file_id == case_file.id and case_file.regulator_check == "track_opened"
    assert {t.workflow_key for t in case_file.tracks} == {"employer-disciplinary", "employment-tribunal",
                                                          "regulator-ftp-hcpc"}


def test_advice_becomes_a_case_and_keeps_its_history(db, registry, people) -> None:
    rep = people["rep"]
    case_file = _open(db, registry, rep, workflow="advice")
    advice = case_file.tracks[0]
    _step(db, registry, advice, "record_question", rep, question="Should I accept a friend request from a client?")
    _step(db, registry, advice, "give_advice", rep, advice="No: keep professional boundaries.",
          clauses=["hcpc:1.9", "employer:service-user-contact"])
    take_transition(db, registry, advice, "become_case", actor=rep, comment="Manager has now called a meeting.")
    db.commit()
    db.refresh(case_file)
    assert [t.workflow_key for t in case_file.tracks] == ["advice", "employer-disciplinary"]
    assert {c.clause_key for c in advice.clauses} == {"hcpc:1.9", "employer:service-user-contact"}
    assert advice.fields["question"].startswith("Should I accept")


def test_reallocation_keeps_history_and_moves_access(db, registry, people) -> None:
    rep, rep2 = people["rep"], people["rep2"]
    case_file = _open(db, registry, rep)
    track = case_file.tracks[0]
    case_service.reallocate(db, case_file, rep2, actor=people["ro"], reason="Rita is on leave for a month.")
    db.commit()
    assert case_file.current_rep_ids() == {rep2.id} and len(case_file.reps) == 2
    assert case_file.reps[0].ended_at is not None and track.assignee_id == rep2.id
    assert case_service.get_case_file(db, case_file.id, rep2) is case_file
    with pytest.raises(Exception, match="No such case file"):
        case_service.get_case_file(db, case_file.id, rep)  # the old rep no longer reads the member's file
    db.commit()  # the refused look is audited
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.incident_id == track.id)).all()
    assert "case_file.reallocated" in actions and "incident.opened" in actions
    with pytest.raises(ServiceError, match="cannot hold this case"):
        case_service.reallocate(db, case_file, people["far_ro"], actor=people["ro"], reason="wrong region")
    db.rollback()
    assert verify_chain(db) is None


def test_the_reps_week(db, registry, people) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        case_file = _open(db, registry, rep)
        track = case_file.tracks[0]
        _step(db, registry, track, "check_membership", rep)
        _step(db, registry, track, "start_support", rep)
        _step(db, registry, track, "notify_allegations", rep, allegations="x")
        _step(db, registry, track, "schedule_hearing", rep, invitation_received_on="2026-03-02",
              hearing_at="2026-03-09T10:00")
        _step(db, registry, track, "hold_hearing", rep)
        _step(db, registry, track, "issue_first_written_warning", rep, outcome="first_written_warning",
              warning_starts_on="2025-09-20")
        week = case_service.rep_week(db, rep, now=MONDAY + timedelta(days=1))
    assert [c.id for c in week.cases] == [case_file.id]
    assert [d.key for d in week.due] == ["appeal_window"]
    assert [w.level for w, _cf in week.warnings] == ["first_written_warning"]  # expires 20 March 2026
    other = case_service.rep_week(db, people["rep2"], now=MONDAY + timedelta(days=1))
    assert other.cases == [] and other.due == [] and other.warnings == []


# --------------------------------------------------------------------------------------------- access


def _case_urls(case_file: CaseFile) -> list[str]:
    track = case_file.tracks[0]
    return [f"/cases/{case_file.id}", f"/cases/{case_file.id}/bundle", f"/cases/{case_file.id}/bundle.pdf",
            f"/incidents/{track.id}", f"/people/{track.subject_id}", f"/incidents/{track.id}/export.json"]


@pytest.mark.parametrize("who", ["other_rep", "comms", "officer", "far_ro"])
def test_no_one_else_sees_the_members_file_by_any_url(db, registry, people, client, who) -> None:
    case_file = _open(db, registry, people["rep"])
    login(client, people[who])
    for url in _case_urls(case_file):
        response = client.get(url)
        assert response.status_code == 404, (who, url, response.status_code)
        assert "Morag" not in response.get_data(as_text=True)
    listing = client.get("/incidents").get_data(as_text=True)
    assert case_file.tracks[0].reference not in listing
    assert client.get("/cases").status_code in (200, 404)
    assert "Morag" not in client.get("/cases").get_data(as_text=True)
    assert client.get("/my").status_code == 200 and "Morag" not in client.get("/my").get_data(as_text=True)


def test_the_rep_and_regional_officer_see_it_and_an_admin_must_give_a_reason(db, registry, people, client) -> None:
    case_file = _open(db, registry, people["rep"])
    for who in ("rep", "ro"):
        login(client, people[who])
        for url in _case_urls(case_file):
            assert client.get(url).status_code == 200, (who, url)
        client.post("/logout", data={"csrf_token": csrf_token(client, "/incidents")})
    login(client, people["admin"])
    page = client.get(f"/cases/{case_file.id}")
    assert page.status_code == 403 and "Morag" not in page.get_data(as_text=True)
    token = csrf_token(client, f"/cases/{case_file.id}")
    refused = client.post(f"/cases/{case_file.id}/break-glass", data={"csrf_token": token, "reason": "x"})
    assert refused.status_code == 400
    granted = client.post(f"/cases/{case_file.id}/break-glass",
                          data={"csrf_token": token, "reason": "Subject access request from the member."})
    assert granted.status_code == 302
    assert "Morag Member" in client.get(f"/cases/{case_file.id}").get_data(as_text=True)
    shares = db.scalars(select(IncidentShare).where(IncidentShare.user_id == people["admin"].id)).all()
    assert [s.kind for s in shares] == ["break_glass"] and "Subject access" in shares[0].reason


# ------------------------------------------------------------------------------------------ web forms


def test_opening_a_case_through_the_form(db, people, client) -> None:
    login(client, people["rep"])
    token = csrf_token(client, "/cases/new")
    form = {"csrf_token": token, "name": "Nia <b>Member</b>", "membership_number": "M-77", "employer": "Trust",
            "title": "Facebook post", "workflow": "employer-disciplinary", "rep": str(people["rep"].id),
            "joined_on": "2019-05-01", "issue_arose_on": "2026-02-01", "subs_in_order": "y", "consent_given": "y"}
    response = client.post("/cases/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nia &lt;b&gt;Member&lt;/b&gt;" in page and "<b>Member</b>" not in page
    assert "Employer disciplinary (union support)" in page and "Member contacted" in page
    again = client.post("/cases/new", data={**form, "csrf_token": csrf_token(client, "/cases/new")})
    assert again.status_code == 400 and "M-77 is already on file" in again.get_data(as_text=True)
    bad_date = client.post("/cases/new", data={**form, "membership_number": "M-78", "joined_on": "2026-02-30",
                                               "csrf_token": csrf_token(client, "/cases/new")})
    assert bad_date.status_code == 400 and "Not a valid date value" in bad_date.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(CaseFile)) == 1


def test_hearing_bundle_pdf_has_every_section_and_the_evidence_hashes(db, registry, people, client) -> None:
    rep = people["rep"]
    with frozen_at(MONDAY):
        case_file = _open(db, registry, rep, name="Zoë Ångström")
        track = case_file.tracks[0]
        _to_hearing_held(db, registry, track, rep)
        _step(db, registry, track, "issue_final_written_warning", rep, outcome="final_written_warning")
        _step(db, registry, track, "review_outcome_letter", rep, manager_had_authority=True,
              written_reasons_given=True, appeal_right_explained=False)
    login(client, rep)
    token = csrf_token(client, f"/incidents/{track.id}")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    added = client.post(f"/incidents/{track.id}/evidence", data={"csrf_token": token, "description": "Letter",
                        "file": (io.BytesIO(png), "outcome-letter.png")}, content_type="multipart/form-data")
    assert added.status_code == 302
    response = client.get(f"/cases/{case_file.id}/bundle.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for section in ("1. Chronology", "2. Allegations", "3. Evidence", "4. Meetings and hearings",
                    "5. Outcomes and warnings", "6. Deadlines", "7. Rep's checklist"):
        assert section in text, section
    import hashlib
    digest = hashlib.sha256(png).hexdigest()
    assert digest[:32] in text.replace("\n", "")
    words = " ".join(text.split())  # table cells wrap lines
    assert "Zoë Ångström" in words and "Posted about a colleague's rota" in words and "HR meeting room 2" in words
    assert f"{track.reference} " in words and "final written warning" in words.lower()
    assert f"Page 1 of {len(reader.pages)}" in text and len(reader.pages) >= 2
    html = client.get(f"/cases/{case_file.id}/bundle").get_data(as_text=True)
    assert "7. Rep's checklist" in html and digest in html
    exports = db.scalars(select(AuditEvent).where(AuditEvent.action == "case_file.bundle_exported")).all()
    assert sorted(e.data["format"] for e in exports) == ["html", "pdf"]


def test_deadline_rows_of_a_case_survive_a_reallocation(db, registry, people) -> None:
    case_file = _open(db, registry, people["rep"])
    before = db.scalars(select(Deadline.id).where(Deadline.incident_id == case_file.tracks[0].id)).all()
    case_service.reallocate(db, case_file, people["rep2"], actor=people["rep"], reason="Handing over to Ravi.")
    db.commit()
    assert db.scalars(select(Deadline.id).where(Deadline.incident_id == case_file.tracks[0].id)).all() == before
