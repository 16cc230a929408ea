"""Clause suggestions on an incident use what was said around the post: the reporter's note, the officer's note
when escalating, the incident's summary. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from app.services.escalation import TagReport, escalate_tag
from app.services.incidents import OpenRequest, PostInput
from app.services.intake import ReportInput, report_post
from app.services.suggestions import for_incident, open_offers

TEXT = "ok here's the full story then"  # one hint of press contact: not enough on its own
NOTE = "Replying to a reporter who asked for a quote"


def _clauses(incident, catalogues) -> list[str]:
    return [s.clause for s in for_incident(incident, catalogues).clauses]


def test_the_reporters_note_is_context_for_the_suggestions(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    plain = report_post(db, registry, OpenRequest(
        workflow_key="problem-solving", title="Post without a note",
        post=PostInput(platform="x", url="https://x.com/a/status/111", text=TEXT)),
        ReportInput(channel="member_report", reporter="A member"), actor=comms).incident
    noted = report_post(db, registry, OpenRequest(
        workflow_key="problem-solving", title="Post with a note",
        post=PostInput(platform="x", url="https://x.com/a/status/222", text=TEXT)),
        ReportInput(channel="member_report", reporter="A member", note=NOTE), actor=comms).incident
    db.commit()
    assert _clauses(plain, registry.catalogues) == []
    assert _clauses(noted, registry.catalogues) == ["rcr:2.13"]
    [offer] = open_offers(noted, registry.catalogues)
    assert offer.key == "clause:rcr:2.13" and "with the context: 'reporter', 'for a quote'" in offer.reason


def test_an_officers_note_when_escalating_a_tag_is_context_too(app, db, make, tmp_path):
    registry = app.extensions["breachdesk.workflows"]
    officer = make.user("officer")
    result = escalate_tag(db, registry, TagReport(platform="x", link="https://x.com/troll/status/333", text=TEXT,
                                                  note=NOTE), actor=officer, folder=tmp_path)
    db.commit()
    assert _clauses(result.incident, registry.catalogues) == ["rcr:2.13"]
