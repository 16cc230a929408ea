"""Escalation journeys in headless Chromium: an officer escalates a tag from a phone and the Director of
Communications decides; a press approach arrives by ``breachdesk mail-in``, the press office is told, and it is
forwarded and acknowledged."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Incident, OutboxMessage
from app.timing import LONDON
from tests.browser.conftest import CONTEXT_OPTIONS, demo_email, sign_in_through_form
from tests.conftest import BREACHDESK

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("seeded")]

PHONE = {"width": 375, "height": 812}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TAG_LINK = "https://x.com/fee_fury/status/1861111111111111111"


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]}px wide in a {width[1]}px viewport"


def _signed_in_page(browser, live_server, seeded, local: str, screenshot, **options) -> Page:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, **{**CONTEXT_OPTIONS, **options})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in_through_form(page, local, seeded.password, screenshot)
    return page


def _step(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("details.transition").filter(has=page.locator("summary", has_text=re.compile(f"^{title}$")))


def test_officer_escalates_a_tag_from_a_phone_and_the_director_decides(
        page: Page, sign_in, seeded, browser, live_server, screenshot) -> None:
    page.set_viewport_size(PHONE)
    sign_in("officer")
    page.get_by_role("link", name="Escalate").click()
    expect(page.get_by_role("heading", name="Escalate", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="I was tagged in something antagonistic")).to_have_attribute(
        "aria-current", "page")
    _no_sideways_scroll(page)
    screenshot(page, "escalate-form")

    # Nothing typed: told what to fix, nothing sent.
    send = page.get_by_role("button", name="Send to the Director of Communications")
    assert send.bounding_box()["height"] >= 44  # a thumb-sized target
    send.click()
    expect(page.get_by_role("alert")).to_contain_text("Paste the link to the message, or its text")
    screenshot(page, "escalate-refused")

    page.get_by_label("Link to the message").fill(TAG_LINK)
    page.get_by_label("Or paste what it said").fill("@DrOluOfficer your College is bleeding trainees dry. Explain!")
    page.get_by_label("Where was it?").select_option("x")
    page.get_by_label("Screenshot").set_input_files({"name": "tag.png", "mimeType": "image/png", "buffer": PNG})
    screenshot(page, "escalate-filled")
    page.get_by_role("button", name="Send to the Director of Communications").click()

    expect(page).to_have_url(re.compile(r"/escalate/sent$"))
    expect(page.get_by_role("heading", name="Sent to the Director of Communications")).to_be_visible()
    expect(page.locator(".guidance")).to_contain_text("Do not reply")
    expect(page.locator(".guidance")).to_contain_text("will decide how the College responds")
    _no_sideways_scroll(page)
    screenshot(page, "escalate-sent")
    reference = page.locator(".confirmation strong").inner_text()

    # The Director was e-mailed in the same transaction.
    incident = db.session.scalar(select(Incident).where(Incident.reference == reference))
    assert incident.state == "referred_to_director"
    assert demo_email("director") in db.session.scalars(
        select(OutboxMessage.to_address).where(OutboxMessage.incident_id == incident.id)).all()
    incident_id = incident.id
    db.session.remove()

    director = _signed_in_page(browser, live_server, seeded, "director", screenshot)
    director.get_by_role("link", name="Referrals").click()
    expect(director.get_by_role("heading", name="Referrals", level=1)).to_be_visible()
    item = director.locator("li.queue-item").filter(has_text=reference)
    expect(item).to_contain_text("Officer tagged on X (Twitter)")
    expect(item).to_contain_text("Referred to the Director")
    expect(item.locator(".since")).to_have_text(re.compile(r"^\((just now|\d+ min ago)\)$"))
    expect(item).to_contain_text("Then the decision: Monitor · Respond for the College · Block and report")
    screenshot(director, "director-queue")

    item.get_by_role("link", name="Record assessment").click()
    expect(director).to_have_url(re.compile(rf"/incidents/{incident_id}\?decide=assess#step-assess$"))
    assess = _step(director, "Record assessment")
    assess.get_by_label("Comment (required)").fill("Hostile but not harassment; a known account.")
    screenshot(director, "director-assess")
    assess.get_by_role("button", name="Record assessment").click()
    expect(director.get_by_label("Current state")).to_have_text("Assessed")

    director.get_by_role("link", name="Referrals").click()
    item = director.locator("li.queue-item").filter(has_text=reference)
    for decision in ("Monitor", "Respond for the College", "Block and report", "Open a harassment complaint",
                     "Open a problem-solving case"):
        expect(item.get_by_role("link", name=decision, exact=True)).to_be_visible()
    screenshot(director, "director-decisions")
    item.get_by_role("link", name="Block and report", exact=True).click()
    block = _step(director, "Block and report")
    expect(block.get_by_role("button", name="Block and report")).to_be_visible()  # opened by the link
    block.get_by_label("Platform report reference").fill("X-REPORT-20261123-77")
    block.get_by_role("button", name="Block and report").click()
    expect(director.get_by_label("Current state")).to_have_text("Blocked and reported")
    expect(director.locator("ol.history > li").last).to_contain_text("took Block and report")
    screenshot(director, "director-decided")

    director.get_by_role("link", name="Referrals").click()
    expect(director.locator("li.queue-item").filter(has_text=reference)).to_have_count(0)  # decided: off the queue
    director.context.close()


def _mail_in(live_server, raw: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    settings = live_server.app.config["BREACHDESK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env.update(BREACHDESK_DATABASE_URL=settings.database_url, BREACHDESK_SECRET_KEY="mail-in-test",
               BREACHDESK_EVIDENCE_PATH=str(settings.evidence_path))
    return subprocess.run([BREACHDESK, "mail-in", "--to", "press@college.example"], input=raw, text=True,
                          capture_output=True, env=env, cwd=tmp_path, timeout=120)


def test_a_press_approach_by_mail_in_is_forwarded_and_acknowledged(
        page: Page, sign_in, seeded, browser, live_server, screenshot, tmp_path) -> None:
    mail = EmailMessage()
    mail["From"] = f"Dr Olu Officer <{demo_email('officer')}>"
    mail["To"] = "press@college.example"
    mail["Subject"] = "Fwd: Evening Courier - comment on exam fees"
    mail.set_content("Jo Reporter at the Evening Courier wants a comment on the exam fee rise by 4pm tomorrow.\n")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="courier-email.png")
    done = _mail_in(live_server, mail.as_string(), tmp_path)
    assert done.returncode == 0, done.stderr
    reference = done.stdout.split("mail-in: ", 1)[1].split(" ", 1)[0]

    incident = db.session.scalar(select(Incident).where(Incident.reference == reference))
    assert incident.workflow_key == "press-referral" and incident.state == "approach_logged"
    assert sorted(e.original_name for e in incident.evidence_files) == ["courier-email.png", "forwarded-message.eml"]
    told = db.session.scalars(select(OutboxMessage).where(OutboxMessage.incident_id == incident.id)).all()
    assert [m.to_address for m in told] == [demo_email("press")]  # nobody on call: the press office
    assert "Press or media approach: the press office needs to see this now" in told[0].subject
    incident_id = incident.id
    db.session.remove()

    # Communications forward it from the press queue with the journalist's deadline.
    sign_in("comms")
    page.get_by_role("link", name="Press", exact=True).click()
    item = page.locator("li.queue-item").filter(has_text=reference)
    expect(item).to_contain_text("None given")
    screenshot(page, "press-queue-before")
    item.get_by_role("link", name="Forward to the press office").click()
    forward = _step(page, "Forward to the press office")
    forward.get_by_label("Outlet").fill("Evening Courier")
    forward.get_by_label("Journalist", exact=True).fill("Jo Reporter")
    due = (datetime.now(LONDON) + timedelta(days=1)).replace(hour=16, minute=0, second=0, microsecond=0)
    forward.get_by_label("Journalist's deadline").fill(due.strftime("%Y-%m-%dT%H:%M"))
    screenshot(page, "forward-filled")
    forward.get_by_role("button", name="Forward to the press office").click()
    expect(page.get_by_label("Current state")).to_have_text("Forwarded to the press office")
    expect(page.locator("ul.deadlines")).to_contain_text("Journalist's deadline")
    expect(page.locator("ul.deadlines")).to_contain_text(due.strftime("%d %b %Y 16:00"))
    screenshot(page, "forwarded")

    # The press office sees it at the top of its queue with the time left, and acknowledges it.
    press = _signed_in_page(browser, live_server, seeded, "press", screenshot)
    press.get_by_role("link", name="Press", exact=True).click()
    first = press.locator("li.queue-item").first
    expect(first).to_contain_text(reference)
    expect(first).to_contain_text("Evening Courier")
    expect(first.locator(".when")).to_contain_text("left")
    screenshot(press, "press-queue")
    first.get_by_role("link", name="Acknowledge").click()
    expect(press).to_have_url(re.compile(rf"/incidents/{incident_id}\?decide=acknowledge#step-acknowledge$"))
    _step(press, "Acknowledge").get_by_role("button", name="Acknowledge").click()
    expect(press.get_by_label("Current state")).to_have_text("Acknowledged")
    expect(press.locator("ul.evidence")).to_contain_text("forwarded-message.eml")
    screenshot(press, "acknowledged")
    press.context.close()


def test_officer_reports_a_journalist_from_a_phone(page: Page, sign_in, seeded, screenshot) -> None:
    page.set_viewport_size(PHONE)
    sign_in("officer")
    page.goto("/escalate")
    page.get_by_role("link", name="A journalist contacted me").click()
    expect(page.get_by_role("link", name="A journalist contacted me")).to_have_attribute("aria-current", "page")
    _no_sideways_scroll(page)
    screenshot(page, "press-form")
    page.get_by_label("Outlet").fill("Evening Courier")
    page.get_by_label("Journalist").fill("Jo Reporter")
    due = (datetime.now(LONDON) + timedelta(days=2)).replace(hour=15, minute=30, second=0, microsecond=0)
    page.get_by_label("Their deadline (UK time)").fill(due.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("How did they contact you?").select_option("phone")
    page.get_by_label("What did they ask?").fill("Is the College <b>worried</b> about the exam fee rise?")
    screenshot(page, "press-filled")
    page.get_by_role("button", name="Send to the press office").click()
    expect(page.get_by_role("heading", name="Sent to the press office")).to_be_visible()
    expect(page.locator(".guidance")).to_contain_text("Do not answer the journalist")
    _no_sideways_scroll(page)
    screenshot(page, "press-sent")
    page.get_by_role("link", name=re.compile(r"^View BD-")).click()
    expect(page.get_by_label("Current state")).to_have_text("Forwarded to the press office")
    expect(page.locator(".prewrap").first).to_contain_text("<b>worried</b>")  # shown as typed, escaped
    expect(page.locator("ul.deadlines")).to_contain_text("Journalist's deadline")
    _no_sideways_scroll(page)
    screenshot(page, "press-incident")


def test_admin_keeps_the_on_call_rota(page: Page, sign_in, seeded, screenshot) -> None:
    sign_in("admin")
    page.get_by_role("link", name="Rota").click()
    expect(page.get_by_role("heading", name="On-call rota")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("Nobody is on the rota")
    screenshot(page, "empty")
    friday = datetime.now(LONDON).replace(hour=17, minute=0, second=0, microsecond=0) + timedelta(days=3)
    page.get_by_label("Who is on call").select_option(label=f"Pat Press ({demo_email('press')})")
    page.get_by_label("Starts (UK time)").fill(friday.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends (UK time)").fill((friday + timedelta(hours=16)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Note").fill("Mobile 07700 900123")
    page.get_by_role("button", name="Add shift").click()
    expect(page.locator(".flash-success")).to_contain_text("Shift added: Pat Press on call.")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    screenshot(page, "added")

    # The same evening again: refused, saying why, and nothing added.
    page.get_by_label("Who is on call").select_option(label=f"Pat Press ({demo_email('press')})")
    page.get_by_label("Starts (UK time)").fill((friday + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends (UK time)").fill((friday + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add shift").click()
    expect(page.locator(".error-summary")).to_contain_text("Must be after the start")
    page.get_by_label("Ends (UK time)").fill((friday + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add shift").click()
    expect(page.locator(".flash-error")).to_contain_text("overlaps Pat Press's shift")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    screenshot(page, "overlap-refused")

    page.get_by_role("button", name=re.compile(r"^Remove")).click()
    expect(page.locator(".flash-success")).to_have_text("Shift removed.")
    expect(page.locator(".empty")).to_be_visible()
    screenshot(page, "removed")
