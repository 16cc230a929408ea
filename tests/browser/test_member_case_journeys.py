"""The union side in headless Chromium: a rep runs a member's case from referral to an expired warning, and a
dismissal case where the tribunal clock runs, conciliation pauses it and a regulator track opens alongside."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.clock import frozen_at
from app.extensions import db
from app.models import CaseFile, Warning
from app.services.sweep import run_sweep

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("seeded")]


def _step(page: Page, title: str):  # type: ignore[no-untyped-def]
    step = page.locator("details.transition").filter(
        has=page.locator("summary", has_text=re.compile(rf"^{re.escape(title)}$")))
    step.locator("summary").click()
    return step


def _take(page: Page, title: str, state: str, **fields: str) -> None:
    """Open a step, fill its fields by label, take it, and wait for the new state."""
    step = _step(page, title)
    for label, value in fields.items():
        step.get_by_label(label, exact=True).fill(value)
    step.get_by_role("button", name=title).click()
    expect(page.get_by_label("Current state")).to_have_text(state)


def _track(page: Page, title: str) -> None:
    page.locator("article.track").filter(has_text=title).get_by_role("link").first.click()


def _day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def test_a_rep_runs_a_members_case_from_referral_to_an_expired_warning(page: Page, sign_in, live_server,
                                                                        screenshot) -> None:
    sign_in("rep")
    page.get_by_role("link", name="My week").click()
    expect(page.get_by_role("heading", name="My week")).to_be_visible()
    page.get_by_role("link", name="New member case").first.click()
    page.get_by_label("Member's name").fill("Priya Shah")
    page.get_by_label("Membership number", exact=True).fill("NW-55120")
    page.get_by_label("Employer", exact=True).fill("Northshire NHS Trust")
    page.get_by_label("Job title").fill("Sonographer")
    page.get_by_label("Joined the union on").fill("2018-04-01")
    page.get_by_label("Subscriptions in order").check()
    page.get_by_label("The member consents to the union holding this information").check()
    page.get_by_label("Case title").fill("Disciplinary over a TikTok filmed in the scan room")
    page.get_by_label("The issue arose on").fill(_day(-7))
    screenshot(page, "new-case")
    page.get_by_role("button", name="Open the case file").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disciplinary over a TikTok filmed in the scan room")
    expect(page.locator(".flash-success")).to_contain_text("opened for Priya Shah")
    expect(page.locator("dd.qualifying")).to_contain_text("Joined 01 Apr 2018")
    expect(page.locator("article.track .clock-owner")).to_have_text("employer")
    case_url = page.url
    screenshot(page, "case-file")

    _track(page, "Employer disciplinary")
    _take(page, "Record membership check", "Membership checked")
    _take(page, "Support the member", "Employer investigation")
    _take(page, "Record allegations", "Allegations notified",
          **{"Allegations as written by the employer": "Filmed a video in the scan room and posted it on TikTok."})
    _take(page, "Record hearing date", "Hearing scheduled", **{
        "Invitation received on": _day(0), "Hearing date and time": f"{_day(7)}T10:00", "Place": "HR room 2",
        "Companion": "Alex Steward"})
    _take(page, "Companion cannot attend", "Hearing being rescheduled",
          **{"Date the employer proposed": _day(7)})
    expect(page.locator("ul.deadlines")).to_contain_text("Alternative hearing time proposed")
    _take(page, "Record new hearing date", "Hearing scheduled",
          **{"New hearing date and time": f"{_day(9)}T14:00", "Place": "HR room 2"})
    _take(page, "Record hearing held", "Hearing held", **{"Notes of the hearing": "Member apologised; no patient shown."})
    _take(page, "Record final written warning", "Outcome notified")
    expect(page.locator("ul.deadlines")).to_contain_text("Appeal lodged")
    screenshot(page, "outcome")
    _take(page, "Record appeal lodged", "Closed, appeal opened")

    page.goto(case_url)
    expect(page.locator("table.meetings .meeting-status")).to_have_text(["rescheduled", "held"])
    expect(page.locator("ul.warnings")).to_contain_text("Final written warning")
    _track(page, "Disciplinary appeal")
    _take(page, "Record hearing date", "Hearing scheduled",
          **{"Hearing date and time": f"{_day(14)}T10:00", "Heard by": "Director of Clinical Services"})
    _take(page, "Record hearing held", "Heard")
    _take(page, "Appeal dismissed", "Appeal dismissed")
    screenshot(page, "appeal-dismissed")

    # --- a year on (fixed clock), the warning expires by itself --------------------------------------------
    with live_server.app.app_context():
        case_file = db.session.scalar(select(CaseFile).where(CaseFile.title.like("Disciplinary over a TikTok%")))
        warning = db.session.scalar(select(Warning).where(Warning.incident_id == case_file.tracks[0].id))
        assert warning.status == "live"
        later = datetime.combine(warning.expires_on + timedelta(days=1), datetime.min.time(), UTC)
        with frozen_at(later):
            run_sweep(db.session, live_server.app.extensions["breachdesk.workflows"], later)
        db.session.commit()
    db.session.remove()
    page.goto(case_url)
    expect(page.locator("ul.warnings")).to_contain_text("expired")
    screenshot(page, "warning-expired")


def test_a_dismissal_runs_the_tribunal_clock_and_a_regulator_track_alongside(page: Page, sign_in,
                                                                            screenshot) -> None:
    sign_in("rep")
    page.get_by_role("link", name="Case files").click()
    page.get_by_role("link", name=re.compile(r"^CF-")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Member facing disciplinary over Facebook comments about a manager")
    case_url = page.url
    _track(page, "Employer disciplinary")
    _take(page, "Support the member", "Employer investigation")
    _take(page, "Record allegations", "Allegations notified",
          **{"Allegations as written by the employer": "Comments about a manager on Facebook."})
    _take(page, "Record hearing date", "Hearing scheduled",
          **{"Invitation received on": _day(-3), "Hearing date and time": f"{_day(-1)}T10:00"})
    _take(page, "Record hearing held", "Hearing held")
    step = _step(page, "Record dismissal")
    step.get_by_label("Outcome", exact=True).select_option("summary_dismissal")
    step.get_by_label("Effective date of termination").fill(_day(0))
    step.get_by_label("Comment").fill("Dismissed for gross misconduct; letter received today.")
    step.get_by_role("button", name="Record dismissal").click()
    expect(page.get_by_label("Current state")).to_have_text("Outcome notified")

    page.goto(case_url)
    expect(page.locator("section.regulator-check")).to_contain_text("Regulator referral check")
    tribunal = page.locator("article.track").filter(has_text="Employment tribunal clock")
    expect(tribunal.locator(".track-state")).to_have_text("Limitation running")
    expect(tribunal.locator(".next-deadline")).to_contain_text("Tribunal claim limit")
    expect(tribunal.locator(".clock-owner")).to_have_text("tribunal")
    screenshot(page, "tribunal-clock-running")

    _track(page, "Employment tribunal clock")
    _take(page, "Record ACAS notification (Day A)", "Early conciliation", **{"Day A": _day(1)})
    page.goto(case_url)
    expect(tribunal.locator(".next-deadline")).to_contain_text(re.compile(r"Tribunal claim limit: .* \(paused"))
    expect(tribunal.locator(".next-deadline")).to_contain_text(re.compile(r"Early conciliation period ends: .* left"))

    page.get_by_text("Open a regulator track").click()
    page.get_by_label("Regulator", exact=True).select_option("regulator-ftp-hcpc")
    page.get_by_role("button", name="Open the track").click()
    expect(page.locator(".flash-success")).to_contain_text("opened alongside the other tracks")
    expect(page.locator("article.track")).to_have_count(3)
    expect(page.locator("section.regulator-check")).to_have_count(0)
    expect(page.locator("article.track").filter(has_text="HCPC").locator(".clock-owner")).to_have_text("regulator")
    screenshot(page, "three-tracks")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "phone")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
        > window.innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 8)""")
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"] + 1, f"the case file scrolls sideways on a phone: {widths} {wide}"
