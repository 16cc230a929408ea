"""Retention with a fixed clock: due, not due, held; the malformed period refused with file and line."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.clock import frozen_at
from app.models import AuditEvent, EvidenceFile, Incident, RetentionRecord
from app.services import holds
from app.services.audit import verify_chain
from app.services.retention import delete_files, load_policy, run_retention
from app.workflow.source import DefinitionError
from tests.conftest import ROOT
from tests.dataprotection.helpers import at, incident, person


def _run(app, db, **kw):
    return run_retention(db, app.extensions["breachdesk.workflows"], app.extensions["breachdesk.retention"],
                         folder=app.config["BREACHDESK"].evidence_path, **kw)


def test_retention_due_not_due_and_held(app, db, make):
    admin = make.user("admin")
    with frozen_at(at(2019, 1, 1)):
        author = person(db, "Alice Example", handle="@alice_ex")
        due = incident(app, db, admin, author, title="Alice Example posted a patient photo", text="look at this",
                       closed=at(2019, 3, 1), reporter="Ben Reporter")
        recent = incident(app, db, admin, author, title="Later case", closed=at(2023, 6, 1))
        held = incident(app, db, admin, person(db, "Held Person"), title="Held case", closed=at(2019, 2, 1))
        # An officer whose term ended in 2021: kept six years from then, not from closure.
        officer = person(db, "Olive Officer", role="officer", office_ended_on=date(2021, 5, 1))
        in_office = incident(app, db, admin, officer, title="Officer case", closed=at(2019, 1, 10))
        holds.place_hold(db, actor=admin, incident=held, reason="Tribunal claim expected")
        db.commit()
    stored = app.config["BREACHDESK"].evidence_path / due.evidence_files[0].stored_name
    assert stored.exists()

    with frozen_at(at(2025, 3, 2)):
        listed = _run(app, db, dry_run=True)
        db.rollback()
        assert [i.reference for i in listed.done] == [due.reference]
        assert [i.reference for i in listed.held] == [held.reference]
        assert db.scalar(select(RetentionRecord.id)) is None  # the dry run changed nothing

        report = _run(app, db, actor=admin)
        db.commit()
        delete_files(report)

    db.expire_all()
    gone = db.get(Incident, due.id)
    assert gone.subject_id is None and gone.summary is None and "Alice" not in gone.title
    assert all(p.text is None and p.author_handle is None for p in gone.posts)
    assert all(r.reporter is None and r.note is None for r in gone.reports)
    assert gone.workflow_key == "problem-solving" and gone.closed_at is not None and gone.severity
    assert db.scalar(select(EvidenceFile.id).where(EvidenceFile.incident_id == due.id)) is None
    assert not stored.exists()
    for kept in (recent, held, in_office):
        assert db.get(Incident, kept.id).subject_id is not None and db.get(Incident, kept.id).evidence_files
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"retention.anonymised", "retention.evidence_deleted", "retention.run"} <= actions
    db.rollback()
    assert verify_chain(db) is None


def test_a_malformed_period_stops_loading_with_file_and_line(tmp_path):
    source = (ROOT / "workflows" / "data-protection" / "retention.yaml").read_text()
    broken = source.replace("keep: 6 years\n    from: closure", "keep: six years\n    from: closure", 1)
    line = broken.splitlines().index("    keep: six years") + 1
    target = tmp_path / "retention.yaml"
    target.write_text(broken)
    with pytest.raises(DefinitionError) as raised:
        load_policy(target)
    assert f"retention.yaml, line {line}" in str(raised.value) and "'six years' is not a period" in str(raised.value)


def test_breachdesk_workflows_check_refuses_a_bad_retention_file(tmp_path, monkeypatch):
    import shutil

    from click.testing import CliRunner

    from app.cli import cli

    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    target = tmp_path / "workflows" / "data-protection" / "retention.yaml"
    target.write_text(target.read_text().replace("keep: 1 year", "keep: 1 working day"))
    monkeypatch.setenv("BREACHDESK_WORKFLOWS_PATH", str(tmp_path / "workflows"))
    result = CliRunner().invoke(cli, ["workflows", "check"])
    assert result.exit_code == 1
    assert "retention.yaml, line" in result.output and "not a period" in result.output


def test_a_members_details_go_with_their_last_case_file(app, db, make):
    """Six years after the last track of a member's case file closes, the tracks are anonymised and the member's
    details (branch, workplace, manager, access needs…) are cleared; the membership number stays."""
    from app.services import cases as case_service

    registry = app.extensions["breachdesk.workflows"]
    rep = make.user("rep", team="north")
    with frozen_at(at(2018, 1, 1)):
        member = case_service.add_member(db, case_service.MemberDetails(
            name="Mo Member", membership_number="RT-1", branch="North", workplace="Ward 7", manager="Pat Boss",
            access_needs="Step-free access"), actor=rep)
        case_file = case_service.open_case_file(db, registry, member=member, title="Mo's case", issue_arose_on=None,
                                                workflow_key="advice", rep=rep, actor=rep)
        track = case_file.tracks[0]
        track.state, track.closed_at = "closed", at(2018, 2, 1)
        db.commit()
    with frozen_at(at(2024, 6, 1)):
        report = _run(app, db, actor=rep)
        db.commit()
    assert [i.reference for i in report.done] == [track.reference]
    db.expire_all()
    member = db.get(type(member), member.id)
    assert (member.branch, member.workplace, member.manager, member.access_needs) == (None, None, None, None)
    assert member.membership_number == "RT-1"
    assert db.get(Incident, track.id).subject_id is None
    assert db.scalar(select(RetentionRecord.removed).where(RetentionRecord.incident_id == track.id))[
        "member_details"] == 4
