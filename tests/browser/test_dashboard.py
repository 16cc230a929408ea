"""Each audience's dashboard in headless Chromium (screenshots kept), one chart's numbers checked against the
database, and a rep's dashboard counting only the rep's own cases."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.models import Incident, User
from app.permissions import visible_incidents
from app.services.dashboard import months_to

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("seeded")]


def _opened_this_month(email: str) -> int:
    user = db.session.scalar(select(User).where(User.email == email))
    start = months_to(utcnow())[-1].start
    count = db.session.scalar(select(func.count()).select_from(Incident).where(
        visible_incidents(user), Incident.created_at >= start)) or 0
    db.session.remove()
    return count


def _table_cell(page: Page, report: str, row: int, column: int) -> str:
    return page.locator(f"table[data-report={report}] tbody tr").nth(row).locator("th, td").nth(column).inner_text()


def test_each_audience_sees_its_dashboard_with_charts_and_numbers(page: Page, sign_in, screenshot) -> None:
    sign_in("admin")
    for audience, heading in (("admin", "Administrator"), ("comms", "Communications lead"),
                              ("director", "Director of Communications"), ("regional", "Regional officer")):
        page.goto(f"/dashboard/{audience}")
        expect(page.get_by_role("heading", name=f"Dashboard: {heading}")).to_be_visible()
        expect(page.locator("svg.chart[role=img]").first).to_be_visible()
        screenshot(page, f"dashboard-{audience}")

    # One chart's numbers against the database: this month's openings, on the chart (its last bar's label and
    # title) and in its table.
    page.goto("/dashboard/admin")
    expected = _opened_this_month("admin@demo.breachdesk.example")
    assert expected > 0
    chart = page.locator("svg#chart-volume")
    expect(chart).to_have_attribute("aria-labelledby", "chart-volume-title chart-volume-desc")
    bars = chart.locator("rect title")
    assert any(re.search(rf"Opened: {expected}$", bars.nth(i).text_content() or "") for i in range(bars.count()))
    page.get_by_text("The numbers as a table").first.click()
    assert _table_cell(page, "volume", 11, 1) == str(expected)
    page.emulate_media(media="print")
    screenshot(page, "dashboard-admin-print")
    expect(page.locator("header.site-header")).to_be_hidden()
    page.emulate_media(media="screen")


def test_a_reps_dashboard_counts_only_the_reps_cases(page: Page, sign_in, screenshot) -> None:
    sign_in("rep")
    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboard/regional$"))
    expected = _opened_this_month("rep@demo.breachdesk.example")
    everyone = _opened_this_month("admin@demo.breachdesk.example")
    assert expected < everyone  # the demo has cases the rep may not see
    if expected:
        page.get_by_text("The numbers as a table").first.click()
        assert _table_cell(page, "volume", 11, 1) == str(expected)
    else:
        expect(page.get_by_text("Nothing opened or closed in the last twelve months yet.")).to_be_visible()
    screenshot(page, "dashboard-rep")
