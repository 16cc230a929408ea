"""User journeys through the real pages in headless Chromium: sign-in, reading an incident, taking a step,
need-to-know visibility, small screens and the Content Security Policy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))

# Every journey starts from a freshly emptied database holding only the demo organisation.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("seeded")]

POST_TITLE = "Officer's post criticising a trust's waiting-list figures"
REMOVAL_TITLE = "Contributor's Instagram story shows a scan with a patient label"
DISCIPLINARY_TITLE = "Member facing disciplinary over Facebook comments about a manager"
COLLEGE_TITLES = [
    POST_TITLE,
    REMOVAL_TITLE,
    "Health Service Journal asks an officer for comment on AI reporting",
    "Officer tagged in a hostile thread about the College's exam fees",
    "Contributor's profile lacks a personal-views disclaimer",
]
GENERIC_LOGIN_ERROR = "That e-mail address and password do not match an active account."


def incident_row(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("table.list tbody tr").filter(has=page.get_by_role("cell", name=title, exact=True))


def test_comms_signs_in_reads_an_incident_and_signs_out(page: Page, sign_in, seeded, screenshot) -> None:
    sign_in("comms")
    expect(page.locator("header .who")).to_contain_text("Chris Comms")
    row = incident_row(page, POST_TITLE)
    expect(row).to_be_visible()
    expect(row).to_contain_text("Problem-solving process")
    expect(row).to_contain_text("Triaged")
    expect(incident_row(page, REMOVAL_TITLE)).to_be_visible()
    screenshot(page, "incident-list")

    reference = row.get_by_role("link").first
    reference_text = reference.inner_text().strip()
    reference.click()
    expect(page).to_have_url(re.compile(rf"/incidents/{seeded.incident_id(POST_TITLE)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(POST_TITLE)
    expect(page.locator(".page-head .muted")).to_contain_text(reference_text)
    expect(page.get_by_label("Current state")).to_have_text("Triaged")
    history = page.locator("ol.history")
    expect(history).to_contain_text("opened the incident")
    expect(history).to_contain_text("took Record triage: Reported → Triaged")
    expect(history).to_contain_text("Officer criticising a stakeholder trust in public.")
    expect(page.locator("article.post blockquote")).to_contain_text("waiting list numbers are a fiddle")
    next_steps = page.locator("details.transition > summary")
    expect(next_steps).to_have_text(["Start informal discussion", "Close, no breach"])
    screenshot(page, "incident")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    screenshot(page, "signed-out")

    page.goto("/incidents")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fincidents"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Sign in to continue.")
    screenshot(page, "incidents-after-sign-out")


def test_wrong_password_shows_the_generic_message(page: Page, screenshot) -> None:
    page.goto("/login")
    screenshot(page, "form")
    page.locator("input[name=email]").fill(demo_email("comms"))
    page.locator("input[name=password]").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(GENERIC_LOGIN_ERROR)
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # The e-mail address is kept; the password is not echoed back.
    expect(page.locator("input[name=email]")).to_have_value(demo_email("comms"))
    expect(page.locator("input[name=password]")).to_have_value("")
    screenshot(page, "refused")

    # An unknown account gets exactly the same words.
    page.locator("input[name=email]").fill(demo_email("nobody"))
    page.locator("input[name=password]").fill("whatever it is")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(GENERIC_LOGIN_ERROR)
    expect(page).to_have_url(re.compile(r"/login$"))
    screenshot(page, "unknown-account")


def test_keyboard_only_sign_in(page: Page, seeded, screenshot) -> None:
    page.goto("/login")
    email = page.locator("input[name=email]")
    expect(email).to_be_focused()  # autofocus: no mouse needed to start
    screenshot(page, "form")
    page.keyboard.type(demo_email("comms"))
    page.keyboard.press("Tab")
    expect(page.locator("input[name=password]")).to_be_focused()
    page.keyboard.type(seeded.password)
    screenshot(page, "typed")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/incidents$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(incident_row(page, POST_TITLE)).to_be_visible()
    screenshot(page, "signed-in")


def test_comms_verifies_a_removal_in_the_browser(page: Page, sign_in, seeded, screenshot) -> None:
    sign_in("comms")
    incident_id = seeded.incident_id(REMOVAL_TITLE)
    incident_row(page, REMOVAL_TITLE).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/incidents/{incident_id}$"))
    badge = page.get_by_label("Current state")
    expect(badge).to_have_text("Awaiting compliance")
    expect(page.locator("ul.deadlines")).to_contain_text("Content removed")
    screenshot(page, "before")

    # Verifying needs a fresh capture showing the post gone: refused without one, with the reason.
    step = page.locator("details.transition").filter(
        has=page.locator("summary", has_text=re.compile(r"^Verify removal$"))
    )
    step.locator("summary").click()
    step.get_by_role("button", name="Verify removal").click()
    expect(page.get_by_role("alert")).to_contain_text("Add a fresh capture first")
    expect(badge).to_have_text("Awaiting compliance")
    screenshot(page, "refused-without-fresh-capture")
    upload = page.locator("details.aside-form").filter(has=page.locator("summary", has_text="Add a screenshot or file"))
    upload.locator("summary").click()
    upload.get_by_label("Screenshot or file").set_input_files(
        files=[{"name": "gone.png", "mimeType": "image/png", "buffer": PNG}])
    upload.get_by_label("What it shows").fill("The story's address now says it is no longer available")
    upload.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash-success")).to_contain_text("'gone.png' added")

    step = page.locator("details.transition").filter(
        has=page.locator("summary", has_text=re.compile(r"^Verify removal$"))
    )
    expect(step).to_have_count(1)
    submit = step.get_by_role("button", name="Verify removal")
    expect(submit).to_be_hidden()  # collapsed until opened
    step.locator("summary").click()
    expect(submit).to_be_visible()
    step.get_by_label("Comment").fill("Checked the story from a second account: gone.")
    screenshot(page, "step-open")
    submit.click()

    expect(page).to_have_url(re.compile(rf"/incidents/{incident_id}$"))
    expect(badge).to_have_text("Removal verified")
    expect(page.locator(".flash-success")).to_have_text(re.compile(r": Verify removal — done\.$"))
    history = page.locator("ol.history > li")
    expect(history.last).to_contain_text("took Verify removal: Awaiting compliance → Removal verified")
    expect(history.last).to_contain_text("Checked the story from a second account: gone.")
    expect(history.last).to_contain_text("Chris Comms")
    expect(history).to_have_count(4)  # opened, request removal, the fresh screenshot, verify removal
    expect(page.locator("details.transition")).to_have_count(0)  # a final state: nothing left to do
    expect(page.get_by_text("This incident is closed.")).to_be_visible()
    expect(page.get_by_text("No deadline is running.")).to_be_visible()
    screenshot(page, "after")


def test_rep_does_not_see_college_incidents(page: Page, sign_in, seeded, screenshot) -> None:
    sign_in("rep")
    expect(incident_row(page, DISCIPLINARY_TITLE)).to_be_visible()
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(1)
    for title in COLLEGE_TITLES:
        expect(page.get_by_text(title)).to_have_count(0)
    screenshot(page, "incident-list")

    # Searching for one by name finds nothing either.
    page.get_by_label("Search").fill("Instagram")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No incidents match.")).to_be_visible()
    screenshot(page, "search")

    for title in (REMOVAL_TITLE, POST_TITLE):
        response = page.goto(f"/incidents/{seeded.incident_id(title)}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Not Found")
        expect(page.get_by_text(title)).to_have_count(0)
    screenshot(page, "college-incident-404")


@pytest.mark.parametrize("path_kind", ["list", "incident"])
def test_phone_viewport_has_no_horizontal_scroll(page: Page, sign_in, seeded, screenshot, path_kind: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("comms")
    if path_kind == "incident":
        page.goto(f"/incidents/{seeded.incident_id(REMOVAL_TITLE)}")
        expect(page.get_by_role("heading", level=1)).to_have_text(REMOVAL_TITLE)
        page.locator("details.transition > summary").first.click()  # an open step form must fit too
    else:
        expect(incident_row(page, POST_TITLE)).to_be_visible()
    screenshot(page, path_kind)
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"] + 1, (
        f"the {path_kind} page scrolls sideways on a 390 px phone: "
        f"document is {widths['scroll']} px wide, window {widths['inner']} px"
    )


def test_pages_load_without_console_errors(page: Page, sign_in, seeded, console, screenshot) -> None:
    """The CSP forbids inline script and style: any violation (or any script error) shows in the console."""
    sign_in("comms")
    visits = [
        ("incident-list", "/incidents"),
        ("incident", f"/incidents/{seeded.incident_id(POST_TITLE)}"),
        ("removal-incident", f"/incidents/{seeded.incident_id(REMOVAL_TITLE)}"),
        ("new-incident", "/incidents/new"),
        ("workflows", "/workflows"),
        ("workflow", "/workflows/content-removal"),
        ("password", "/account/password"),
    ]
    for step, path in visits:
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, f"{path}: CSP header is {csp!r}"
        page.wait_for_load_state("load")
        # The stylesheet applied (a blocked or missing stylesheet would leave the header unstyled).
        expect(page.locator("header.site-header")).to_have_css("display", "flex")
        screenshot(page, step)
    assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
