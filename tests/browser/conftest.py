"""Browser fixtures: one headless Debian Chromium per session, one live Breachdesk server (SQLite) per session,
a fresh browser context and freshly seeded demo data per test, and full-page screenshots as CI artefacts.

Browser tests need only one backend, so the live server runs on the session's SQLite database
(``sqlite_url`` from tests/conftest.py) rather than the parametrized ``app`` fixture.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.extensions import db
from app.models import Incident
from app.services.demo import DEMO_DOMAIN, DEMO_PASSWORD, load_demo
from tests.conftest import ROOT, _empty_all_tables

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
EXPECT_TIMEOUT_MS = 5_000


def demo_email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


# --------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        message = f"Debian chromium not installed: apt-get install chromium (looked for {CHROMIUM})"
        if os.environ.get("BREACHDESK_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


# ----------------------------------------------------------------------------------------- live server


@dataclass
class LiveServer:
    app: Flask
    url: str
    engine: Engine


def _not_ready(_environ, start_response):  # type: ignore[no-untyped-def]
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@pytest.fixture(scope="session")
def live_server(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Bind first (port 0: the OS picks a free port), then build the app with the real base URL.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _not_ready, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    application = create_app(
        instance_path=tmp_path_factory.mktemp("browser-instance"),
        database_url=sqlite_url,
        secret_key="browser-" + uuid.uuid4().hex,
        base_url=url,
    )
    assert db.engine is not None
    server.app = application
    thread = threading.Thread(target=server.serve_forever, name="breachdesk-live-server", daemon=True)
    thread.start()
    yield LiveServer(app=application, url=url, engine=db.engine)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    db.session.remove()


@dataclass
class Seeded:
    """The demo data: incident ids by title, and the demo password."""

    incidents: dict[str, int]
    password: str = DEMO_PASSWORD

    def incident_id(self, title: str) -> int:
        return self.incidents[title]


def seed_demo(live_server: LiveServer) -> Seeded:
    """Empty every table and load the demo organisation, as a fresh deployment would have it."""
    # The database handle is process-wide: other test modules may have rebound it to their own engine.
    if db.engine is not live_server.engine:
        db.bind(live_server.engine)
    _empty_all_tables(db.session)  # type: ignore[arg-type]
    load_demo(db.session, live_server.app.extensions["breachdesk.workflows"], DEMO_PASSWORD)  # type: ignore[arg-type]
    db.session.commit()
    incidents = {title: id_ for id_, title in db.session.execute(select(Incident.id, Incident.title))}
    # The server's request threads each get their own session from the thread-scoped registry.
    db.session.remove()
    return Seeded(incidents=incidents)


@pytest.fixture
def seeded(live_server: LiveServer) -> Iterator[Seeded]:
    yield seed_demo(live_server)
    db.session.remove()


# ------------------------------------------------------------------------------------ context and page


@dataclass
class ConsoleLog:
    errors: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.errors.clear()


CONTEXT_OPTIONS = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": "Europe/London"}


@pytest.fixture
def context_options() -> dict:
    """Extra ``new_context`` options; a module overrides this fixture (e.g. to start signed in)."""
    return {}


@pytest.fixture
def context(browser, live_server: LiveServer, context_options: dict):  # type: ignore[no-untyped-def]
    """A fresh browser context (cookies, storage) per test, on the one shared browser."""
    ctx = browser.new_context(base_url=live_server.url, **{**CONTEXT_OPTIONS, **context_options})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def console(context) -> ConsoleLog:  # type: ignore[no-untyped-def]
    return ConsoleLog()


@pytest.fixture
def page(context, console: ConsoleLog):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.on(
        "console",
        lambda msg: console.errors.append(f"{msg.type}: {msg.text} @ {page.url}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: console.errors.append(f"pageerror: {exc} @ {page.url}"))
    return page


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def save_screenshot(page, name: str, step: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_safe_name(name)}-{_safe_name(step)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in_through_form(page, local: str, password: str, shoot: Callable[[object, str], object]) -> None:  # type: ignore[no-untyped-def]
    """Sign a demo user in with the form, as a person would, and wait for the incident list."""
    from playwright.sync_api import expect

    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, f"sign-in-{local}-form")
    page.locator("input[name=email]").fill(demo_email(local))
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/incidents$"))
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    shoot(page, f"sign-in-{local}-incident-list")


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(page, "step")`` saves a full-page PNG to test-artifacts/screenshots/<test>-<step>.png."""
    return lambda page, step: save_screenshot(page, request.node.name, step)


@pytest.fixture
def sign_in(page, seeded: Seeded, screenshot):  # type: ignore[no-untyped-def]
    """``sign_in("comms")``: sign that demo user in through the form on this test's page."""
    return lambda local: sign_in_through_form(page, local, seeded.password, screenshot)
