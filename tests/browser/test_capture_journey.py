"""The communications team's capture journey in headless Chromium: log a reported post with a screenshot and an
NHS number in its text, accept the suggestions, request removal (the 4-hour path), let the deadline pass on a
fixed clock, and follow the workflow's escalation into formal action."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.clock import frozen_at
from app.extensions import db
from app.models import Deadline, EvidenceFile, Incident, IncidentLink, Report
from app.services.sweep import run_sweep

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("seeded")]

NHS_NUMBER = "943 476 5919"  # a valid check digit
POST_TEXT = f"Bed 4 on our ward today, NHS {NHS_NUMBER}, waited 14 hours for a scan. Disgraceful. #NHS"
POST_URL = "https://twitter.com/Dr_Journey/status/1790000000000000001?s=20"
AUTHOR = "Dr Jo Urney"
TITLE = f"X (Twitter) post by {AUTHOR}"


def _step(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("details.transition").filter(has=page.locator("summary", has_text=re.compile(rf"^{title}$")))


def test_comms_logs_a_post_with_patient_information_through_to_formal_action(page: Page, sign_in, live_server,
                                                                               screenshot) -> None:
    sign_in("comms")
    screenshot_bytes = page.screenshot()  # a real PNG to attach as the post's screenshot

    # --- log the post -------------------------------------------------------------------------------------
    page.get_by_role("link", name="Log a post").click()
    expect(page.get_by_role("heading", name="Log a reported post")).to_be_visible()
    screenshot(page, "form-empty")
    page.get_by_label("Reported how").select_option("member_report")
    page.get_by_label("Reported by", exact=True).fill("A member on the ward")
    page.locator("select[name=platform]").select_option("x")
    page.get_by_label("Post's address (URL)").fill(POST_URL)
    page.get_by_label("Author's handle").fill("@Dr_Journey")
    posted = (datetime.now(UTC) - timedelta(days=1)).astimezone(ZoneInfo("Europe/London"))
    page.get_by_label("Posted at (UK time)").fill(posted.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("The post's text").fill(POST_TEXT)
    page.get_by_label("Screenshots or files").set_input_files(
        files=[{"name": "ward-post.png", "mimeType": "image/png", "buffer": screenshot_bytes}])
    page.get_by_label("New author's name").fill(AUTHOR)
    page.get_by_label("New author's role").select_option("contributor")
    page.locator("select[name='handles-0-platform']").select_option("instagram")
    page.locator("input[name='handles-0-handle']").fill("dr.journey")
    page.get_by_label("Workflow").select_option("content-removal")
    screenshot(page, "form-filled")
    page.get_by_role("button", name="Log the post").click()

    expect(page).to_have_url(re.compile(r"/incidents/\d+$"))
    incident_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".flash-success")).to_contain_text("1 file are stored with their SHA-256")
    expect(page.get_by_label("Current state")).to_have_text("Evidence captured")
    expect(page.locator("article.post mark.pii")).to_have_text(NHS_NUMBER)  # the NHS number is marked
    expect(page.locator("ul.evidence")).to_contain_text(hashlib.sha256(screenshot_bytes).hexdigest())
    screenshot(page, "incident-logged")

    # --- suggestions shown, then accepted -----------------------------------------------------------------
    suggestions = page.locator("section.suggestions")
    expect(suggestions).to_contain_text("Possible patient-identifying information")
    expect(suggestions.get_by_role("button", name="Accept: Cite rcr:2.8")).to_be_visible()
    expect(suggestions.get_by_role("button", name="Accept: Raise severity to critical")).to_be_visible()
    screenshot(page, "suggestions")
    suggestions.get_by_role("button", name="Accept: Cite rcr:2.8").click()
    expect(page.locator(".flash-success")).to_have_text("Accepted: Cite rcr:2.8.")
    page.get_by_role("button", name="Accept: Raise severity to critical").click()
    expect(page.locator(".flash-success")).to_have_text("Accepted: Raise severity to critical.")
    expect(page.locator(".facts .sev")).to_have_text("critical")
    expect(page.get_by_text("Every suggestion has been accepted or rejected.")).to_be_visible()
    cited = page.locator("h2", has_text="Clauses cited").locator("xpath=following-sibling::ul[1]")
    expect(cited).to_contain_text("rcr:2.8")
    screenshot(page, "suggestions-accepted")

    # --- removal requested: the 4-hour path is ticked because the patient information was confirmed ---------
    step = _step(page, "Request removal")
    step.locator("summary").click()
    patient_info = step.get_by_label("Patient-identifying information present")
    expect(patient_info).to_be_checked()
    step.get_by_label("Requested via").select_option("email")
    step.get_by_label("Who was asked").fill("Dr Xavier Example, the author (by e-mail)")
    step.get_by_label("Comment").fill("E-mailed the author asking for the post to come down within four hours.")
    screenshot(page, "request-removal")
    step.get_by_role("button", name="Request removal").click()
    expect(page.get_by_label("Current state")).to_have_text("Awaiting compliance")
    deadlines = page.locator("ul.deadlines")
    expect(deadlines).to_contain_text("Content removed")
    expect(deadlines).to_contain_text(re.compile(r"\((3 h \d+ min|4 h 0 min) left\)"))
    expect(page.locator("ol.history > li").last).to_contain_text(
        "Who was askedDr Xavier Example, the author (by e-mail)")
    screenshot(page, "removal-requested")

    # --- the deadline passes (fixed clock): the sweep takes the workflow's breach step ------------------------
    with live_server.app.app_context():
        deadline = db.session.scalar(select(Deadline).where(Deadline.incident_id == incident_id,
                                                            Deadline.key == "comply"))
        assert deadline is not None and deadline.due_at - deadline.started_at == timedelta(hours=4)
        after = deadline.due_at + timedelta(minutes=1)
        with frozen_at(after):
            report = run_sweep(db.session, live_server.app.extensions["breachdesk.workflows"], after)
        db.session.commit()
        reference = db.session.get(Incident, incident_id).reference
        assert f"{reference}: Mark not complied with" in report.escalations
        reports = db.session.scalars(select(Report).where(Report.incident_id == incident_id)).all()
        assert [(r.channel, r.reporter) for r in reports] == [("member_report", "A member on the ward")]
        assert db.session.scalar(select(EvidenceFile.original_name)
                                 .where(EvidenceFile.incident_id == incident_id)) == "ward-post.png"
    db.session.remove()

    page.reload()
    expect(page.get_by_label("Current state")).to_have_text("Not complied with")
    history = page.locator("ol.history > li")
    expect(history.last).to_contain_text("took Mark not complied with: Awaiting compliance → Not complied with")
    expect(history.last).to_contain_text("Taken automatically: 'Content removed' was due")
    expect(page.get_by_text("No deadline is running.")).to_be_visible()
    screenshot(page, "non-compliant")

    # --- formal action was opened and linked; comms takes its first step ---------------------------------------
    linked = page.locator("aside").get_by_role("link", name=re.compile(r"^BD-"))
    expect(linked).to_have_count(1)
    expect(page.locator("aside")).to_contain_text("Escalated to:")
    linked.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Formal action against a contributor: {TITLE}")
    expect(page.get_by_label("Current state")).to_have_text("Opened")
    expect(page.locator(".facts")).to_contain_text(AUTHOR)
    expect(page.locator(".facts .sev")).to_have_text("critical")
    screenshot(page, "formal-action-opened")
    step = _step(page, "Start investigation")
    step.locator("summary").click()
    step.get_by_label("Comment").fill("Refused to remove a post identifying a patient (2.33); gathering the evidence.")
    step.get_by_role("button", name="Start investigation").click()
    expect(page.get_by_label("Current state")).to_have_text("Investigation")
    expect(page.locator(".flash-success")).to_have_text(re.compile(r": Start investigation — done\.$"))
    screenshot(page, "formal-action-investigation")

    with live_server.app.app_context():
        formal_id = db.session.scalar(select(IncidentLink.to_id).where(IncidentLink.from_id == incident_id,
                                                                       IncidentLink.relation == "escalated_to"))
        formal = db.session.get(Incident, formal_id)
        assert formal.workflow_key == "formal-action" and formal.state == "investigation"
        assert formal.subject is not None and formal.subject.name == AUTHOR
    db.session.remove()


def test_a_bad_capture_is_refused_in_the_browser_with_nothing_stored(page: Page, sign_in, live_server,
                                                                      screenshot) -> None:
    sign_in("comms")
    with live_server.app.app_context():
        before = db.session.query(Incident).count()
    db.session.remove()
    page.get_by_role("link", name="Log a post").click()
    page.get_by_label("Post's address (URL)").fill("twitter.com/someone/status/1")
    page.get_by_label("Author's handle").fill("@some one<script>")
    future = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZoneInfo("Europe/London"))
    page.get_by_label("Posted at (UK time)").fill(future.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("The post's text").fill("<script>alert('x')</script>")
    page.get_by_label("Screenshots or files").set_input_files(
        files=[{"name": "shot.png", "mimeType": "image/png", "buffer": b"%PDF-1.4 really a pdf"}])
    page.get_by_role("button", name="Log the post").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Nothing was saved")
    expect(summary).to_contain_text("starting https://")
    expect(summary).to_contain_text("That time is in the future")
    expect(summary).to_contain_text("has characters no platform allows")
    # The text is kept in the form, as typed, and never run.
    expect(page.get_by_label("The post's text")).to_have_value("<script>alert('x')</script>")
    screenshot(page, "refused")
    # Fix the address, the handle and the time: the mismatched file is reported next, still nothing stored.
    page.get_by_label("Post's address (URL)").fill("https://x.com/someone/status/1234567")
    page.get_by_label("Author's handle").fill("@someone")
    page.get_by_label("Posted at (UK time)").fill("2026-01-05T10:00")
    page.get_by_label("Screenshots or files").set_input_files(
        files=[{"name": "shot.png", "mimeType": "image/png", "buffer": b"%PDF-1.4 really a pdf"}])
    page.get_by_role("button", name="Log the post").click()
    expect(page.get_by_role("alert")).to_contain_text("which does not match its .png extension")
    screenshot(page, "refused-file")
    with live_server.app.app_context():
        assert db.session.query(Incident).count() == before
    db.session.remove()


def test_the_capture_form_fits_a_phone(page: Page, sign_in, screenshot) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("comms")
    page.goto("/posts/new")
    expect(page.get_by_role("heading", name="Log a reported post")).to_be_visible()
    screenshot(page, "phone")
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"] + 1, f"the capture form scrolls sideways on a phone: {widths}"
