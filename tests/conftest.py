"""Fixtures: an app per backend (SQLite and PostgreSQL), a clean database per test, users and logins.

Every test that asks for ``app`` (or anything built on it) runs twice: once on SQLite and once on
PostgreSQL. PostgreSQL tests are skipped, saying why, when no server is reachable — unless
BREACHDESK_REQUIRE_POSTGRES=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.extensions import db as database
from app.models import Base, User
from app.services import passwords
from app.services.passwords import hash_password

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent


PRODUCTION_HASHER = passwords.hasher
# argon2id at its lowest cost. At production strength a hash or a check took 110 ms on a slow machine, and the suite
# signs in and creates accounts thousands of times in its own processes (the commands and servers it starts as
# processes of their own keep the production strength). The algorithm and the code paths are the same;
# ``production_password_hashing`` gives a test the production parameters back (tests/test_auth.py checks them).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with _hashing_with(TEST_HASHER):
        yield


@pytest.fixture
def production_password_hashing() -> Iterator[None]:
    with _hashing_with(PRODUCTION_HASHER):
        yield


@contextmanager
def _hashing_with(hasher: PasswordHasher) -> Iterator[None]:
    # The unknown-account check's dummy hash is made once, by whichever hasher is in use then.
    passwords._dummy_hash.cache_clear()
    try:
        with mock.patch.object(passwords, "hasher", hasher):
            yield
    finally:
        passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def password_hash(_cheap_password_hashing: None) -> str:
    return hash_password(PASSWORD)


def _migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or with ``down``, downgrade) the database at ``url`` to ``revision``."""
    from alembic import command

    from app.cli import alembic_config

    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture(autouse=True)
def _collector_left_as_found() -> Iterator[None]:
    """A test that runs a server's start-up for real (``freeze_startup_objects``) would leave every later test in
    its process with a server's garbage-collector settings; name that test instead of a later one failing."""
    import gc

    thresholds = gc.get_threshold()
    yield
    assert gc.get_threshold() == thresholds, "this test left the garbage collector's thresholds changed"


REPORT_KEY = "breachdesk-report"
_reports: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``report(line, …)``: a measurement to print at the end of the run (counts, rates, precision tables).
    Kept on the test's report, so it survives pytest-xdist's worker processes, and printed even if the test
    then fails."""

    def add(*lines: str) -> None:
        request.node.user_properties.append((REPORT_KEY, "\n".join(lines)))

    return add


# The longest files, longest first (their share of a run with per-test durations, 2026-12-07). pytest-xdist hands a
# whole file to a worker (--dist loadfile) in collection order, so one of these collected last left the other worker
# idle for minutes at the end of the run; started first, the short files fill in around them.
LONGEST_FILES = (
    "browser/test_xss.py", "test_mail_in.py", "test_cli.py", "api/test_cli_tokens.py", "test_bench_smoke.py",
    "workflow/test_shipped_workflows.py", "security/test_sqlmap.py", "test_import.py",
    "browser/test_escalation_journeys.py", "deadlines/test_two_workers.py", "browser/test_capture_journey.py",
    "test_access_matrix.py", "test_dashboard_counts.py", "api/test_schemathesis.py", "test_capture.py",
    "workflow/test_cli_check.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FILES)}

    def file_rank(item: pytest.Item) -> int:
        return rank.get(item.nodeid.split("::")[0].removeprefix("tests/"), len(rank))

    items.sort(key=file_rank)  # stable: the other files, and the tests within each file, keep their order


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _reports.extend(str(value) for key, value in report.user_properties if key == REPORT_KEY)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _reports:
        terminalreporter.section("measurements")
        for text in _reports:
            terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    server = os.environ.get("BREACHDESK_TEST_POSTGRES_URL")
    required = os.environ.get("BREACHDESK_REQUIRE_POSTGRES") == "1"
    if not server:
        message = "PostgreSQL tests skipped: BREACHDESK_TEST_POSTGRES_URL is not set"
        pytest.fail(message) if required else pytest.skip(message)
    name = f"breachdesk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "skip, saying why"
        admin.dispose()
        message = f"PostgreSQL tests skipped: no server reachable at {server} ({type(exc).__name__})"
        pytest.fail(message) if required else pytest.skip(message)
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    database.session.remove()
    if database.engine is not None:
        database.engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def _empty_all_tables(session: Session) -> None:
    # DELETE, children first: on PostgreSQL it is ~20x faster than TRUNCATE for these small tables. The calendar
    # and the duration buckets are reference data the migrations wrote; the running counts go last (deleting
    # incidents adds rows to them).
    for table in (t.name for t in reversed(Base.metadata.sorted_tables)):
        if table not in ("calendar_months", "duration_buckets", "incident_counts"):
            session.execute(text(f"DELETE FROM {table}"))
    session.execute(text("DELETE FROM incident_counts"))
    session.execute(text("INSERT INTO audit_chain_head (id, last_id, last_hash) VALUES (1, 0, :h)"),
                    {"h": "0" * 64})
    session.commit()


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(
        instance_path=tmp_path / "instance", database_url=database_url, secret_key="test-" + uuid.uuid4().hex,
        base_url="http://localhost", extra={"TESTING": True},
    )
    # No app context is held open here: each test-client request must get its own (and its own `g`),
    # as in production. The database session is thread-scoped, so tests and services can still use it.
    _empty_all_tables(database.session)
    yield application
    database.session.remove()


@pytest.fixture
def db(app: Flask) -> Session:
    return database.session  # type: ignore[return-value]


@pytest.fixture
def dialect(app: Flask) -> str:
    return database.dialect


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Factory:
    session: Session
    password_hash: str

    def user(self, role: str = "comms", email: str | None = None, team: str | None = None, **kw: object) -> User:
        from app.services.users import get_or_create_team

        user = User(
            email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.org", name=kw.pop("name", f"Test {role}"),
            role=role, password_hash=kw.pop("password_hash", self.password_hash),
            team=get_or_create_team(self.session, team) if team else None, **kw,
        )
        self.session.add(user)
        self.session.commit()
        return user


@pytest.fixture
def make(db: Session, password_hash: str) -> Factory:
    return Factory(db, password_hash)


CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = CSRF_PATTERN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, user: User, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})


@pytest.fixture
def signed_in(client: FlaskClient, make: Factory):  # type: ignore[no-untyped-def]
    """Sign a new user with the given role in on the test client and return the user."""

    def sign_in(role: str = "comms", **kw: object) -> User:
        user = make.user(role, **kw)
        response = login(client, user)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the newest revision, migrated once per run; each CLI test copies it (running
    ``breachdesk db upgrade`` per test cost about two seconds each; tests/test_startup.py runs that command itself)."""
    path = tmp_path_factory.mktemp("cli-template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:  # fold the write-ahead log into the file before it is copied
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def cli_env(tmp_path: Path, migrated_sqlite_file: Path):  # type: ignore[no-untyped-def]
    """Run the real ``breachdesk`` command, as a script would, against a fresh migrated SQLite file.

    The returned function has ``.url``, the database it uses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env["BREACHDESK_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.sqlite3"
    env["BREACHDESK_SECRET_KEY"] = "cli-test"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BREACHDESK, *args], capture_output=True, text=True, env=env, input=stdin,
                              cwd=tmp_path, timeout=120)

    shutil.copyfile(migrated_sqlite_file, tmp_path / "cli.sqlite3")
    run.url = env["BREACHDESK_DATABASE_URL"]  # type: ignore[attr-defined]
    return run
