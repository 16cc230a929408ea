"""Every workflow's reference page draws its diagram inline: visible, titled, one box per state.

These pages show no case data and the tests change nothing, so the module empties the database and
loads the demo organisation once, signs the administrator in once, and gives each test a new browser
context that starts from that signed-in storage state (13 sign-ins cost several seconds otherwise).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CONTEXT_OPTIONS, save_screenshot, seed_demo, sign_in_through_form
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

# Read at collection time from the file names: each workflow file is named after its key.
WORKFLOW_KEYS = sorted(p.stem for p in (ROOT / "workflows").glob("*.yaml"))


@pytest.fixture(scope="module")
def admin_storage_state(browser, live_server) -> dict:  # type: ignore[no-untyped-def]
    seeded = seed_demo(live_server)
    context = browser.new_context(base_url=live_server.url, **CONTEXT_OPTIONS)
    try:
        page = context.new_page()
        sign_in_through_form(
            page, "admin", seeded.password, lambda p, step: save_screenshot(p, "test_workflow_diagrams", step)
        )
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def context_options(admin_storage_state: dict) -> dict:
    return {"storage_state": admin_storage_state}


def test_every_workflow_file_is_loaded(live_server) -> None:
    assert sorted(live_server.app.extensions["breachdesk.workflows"].current) == WORKFLOW_KEYS


@pytest.mark.parametrize("key", WORKFLOW_KEYS)
def test_workflow_diagram(page: Page, live_server, console, screenshot, key: str) -> None:
    definition = live_server.app.extensions["breachdesk.workflows"].current[key]
    response = page.goto(f"/workflows/{key}")
    assert response is not None and response.status == 200, "not signed in as the administrator?"
    expect(page.locator("header .who")).to_contain_text("Ada Admin")
    expect(page.get_by_role("heading", level=1)).to_have_text(definition.title)

    svg = page.locator("figure.diagram > svg")
    expect(svg).to_have_count(1)
    expect(svg).to_be_visible()
    expect(page.get_by_role("img", name=definition.title)).to_be_visible()
    expect(svg.locator(":scope > title")).to_have_text(definition.title)

    states = svg.locator("g.state")
    expect(states).to_have_count(len(definition.states))
    drawn = states.evaluate_all("nodes => nodes.map(n => n.getAttribute('data-state'))")
    assert sorted(drawn) == sorted(definition.states)
    for state in definition.states.values():
        # Titles wrap onto at most two lines, so check the first word is drawn in the state's own box.
        expect(svg.locator(f'g.state[data-state="{state.key}"]')).to_contain_text(state.title.split()[0])
    # Every state box is painted with a real size.
    areas = states.evaluate_all("nodes => nodes.map(n => { const b = n.getBBox(); return b.width * b.height; })")
    assert all(area > 0 for area in areas), areas
    screenshot(page, "diagram")
    assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
