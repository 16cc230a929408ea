"""sqlmap against a running Breachdesk: the list, search and every endpoint that takes parameters.

A live server (werkzeug, in a thread) runs on a fresh database seeded with the demo organisation. The
demo administrator signs in through the real form (CSRF token and cookie, as a browser would) and
sqlmap is given that session cookie. Each target is one sqlmap run; the test fails if sqlmap reports
anything injectable, if it did not actually test the parameters it was pointed at, if it lost the
session part-way, or if a payload made the server answer 5xx.

Runs once on SQLite and, when the ``postgresql_url`` fixture has a server, once on PostgreSQL, with
``--dbms`` set so that sqlmap sends that backend's payloads (and does not spend minutes on the others).

sqlmap is Debian's package. Missing, the test is skipped, unless BREACHDESK_REQUIRE_SQLMAP=1 (CI).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app import create_app
from app.extensions import db
from app.models import Incident, Person
from app.services.demo import DEMO_DOMAIN, DEMO_PASSWORD, load_demo
from app.services.incidents import OpenRequest, open_incident
from app.services.users import find_by_email
from tests.conftest import CSRF_PATTERN, ROOT, _empty_all_tables

SQLMAP_MISSING = "sqlmap not installed (apt-get install sqlmap)"
# Flask-Login's "strong" session protection ties the session to the User-Agent: sign-in and sqlmap share one.
USER_AGENT = "breachdesk-sqlmap-ci"
TARGET_HEADER = "X-Breachdesk-Sqlmap"  # tags each request with its target in the server's request log
ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
ARTIFACTS = ROOT / "test-artifacts" / "sqlmap"
SQLMAP_TIMEOUT_SECONDS = 120

# What sqlmap says when it finds something (any of these fails the test). The negative messages it
# prints on a clean run ("does not seem to be injectable", "might not be injectable", "all tested
# parameters do not appear to be injectable") match none of them.
FINDINGS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bis vulnerable\b",
        r"\bappears to be\b.*\binjectable\b",
        r"\bseems to be\b.*\binjectable\b",
        r"\bparameter '[^']+' is '[^']+' injectable",
        r"\bparameter: .+ is injectable",
        r"\bis injectable\b",
        r"\bmight be injectable\b",
        r"identified the following injection point",
        r"^\s*Parameter: ",
        r"might be vulnerable to (cross-site scripting|file inclusion)",
    )
]
TESTED = re.compile(r"testing for SQL injection on (?:\(custom\) )?(\w+) parameter '([^']+)'")
CLEARED = re.compile(r"(?:\(custom\) )?(\w+) parameter '([^']+)' does not seem to be injectable")
ALL_CLEAR = "all tested parameters do not appear to be injectable"
TECHNIQUE = re.compile(r"\[INFO\] testing '([^']+)'")


# ------------------------------------------------------------------------------------------- sqlmap


@pytest.fixture(scope="session")
def sqlmap() -> str:
    found = shutil.which("sqlmap") or ("/usr/bin/sqlmap" if Path("/usr/bin/sqlmap").exists() else None)
    if found is None:
        if os.environ.get("BREACHDESK_REQUIRE_SQLMAP") == "1":
            pytest.fail(SQLMAP_MISSING)
        pytest.skip(SQLMAP_MISSING)
    return found


@dataclass(frozen=True)
class Target:
    """One sqlmap run. ``path`` may carry sqlmap's ``*`` marker for a path parameter; ``data`` is a POST body
    whose ``{csrf}`` is replaced by a CSRF token read from ``csrf_page`` (field ``csrf_field``)."""

    name: str
    path: str
    params: tuple[str, ...]  # as sqlmap names them: "q", "triage-f_severity", "#1*" for the marker
    data: str | None = None
    csrf_field: str | None = None
    csrf_page: str | None = None
    # sqlmap fetches a fresh token from csrf_page before every request (--csrf-token/--csrf-url). It can
    # only do that single-threaded, with an extra page load per request, so only one target uses it: the
    # others post a token read once, which stays valid for the whole run (Breachdesk's tokens do not
    # expire, WTF_CSRF_TIME_LIMIT=None, and sqlmap keeps the session cookie fixed, --drop-set-cookie).
    refresh_csrf: bool = False
    follow_redirects: bool = True
    render_after: str | None = None  # a page that must still load (200) after the run
    signed_in: bool = True
    ignore_codes: tuple[int, ...] = ()  # answers sqlmap would otherwise stop at (a refused sign-in is a 401)
    api: bool = False  # the JSON API: a bearer token instead of the cookie


@dataclass
class Seeded:
    person_id: int
    triage_id: int  # a problem-solving incident at "reported"
    appeal_id: int  # a disciplinary appeal at "lodged" (record_grounds loops back to "lodged")
    api_token: str = ""  # the administrator's bearer token for the JSON API


def targets(seeded: Seeded) -> list[Target]:
    triage, appeal = seeded.triage_id, seeded.appeal_id
    return [
        Target("incident list and search", "/incidents?q=x&workflow=problem-solving&state=reported&status=open&before=100",
               ("q", "workflow", "state", "status", "before")),
        Target("new incident (workflow preset)", "/incidents/new?workflow=problem-solving", ("workflow",)),
        Target("incident page (path)", f"/incidents/{triage}*", ("#1*",)),
        Target("person page (path)", f"/people/{seeded.person_id}*", ("#1*",)),
        Target("workflow page (path)", "/workflows/problem-solving*", ("#1*",)),
        Target("admin outbox", "/admin/outbox?status=failed", ("status",)),
        # Deliberately never accepted (no clause given; every field is still checked and the form shown
        # again): one accepted triage would move the incident on and every later request would be a 409.
        # The comment field is the same on every transition: record_grounds below tests it.
        Target("transition triage (refused form)", f"/incidents/{triage}/transitions/triage",
               ("triage-f_severity",),
               data="triage-csrf_token={csrf}&triage-version=&triage-f_clauses=&triage-f_severity=medium"
                    "&triage-comment=Checked+by+sqlmap",
               csrf_field="triage-csrf_token", csrf_page=f"/incidents/{triage}", refresh_csrf=True),
        # Accepted every time: the appeal stays at "lodged", so each request writes the fields through.
        # sqlmap compares the redirects (not the ever-longer incident page); the test then loads the page
        # once, with every stored payload in its history, and expects a 200.
        Target("transition record_grounds (accepted)", f"/incidents/{appeal}/transitions/record_grounds",
               ("record_grounds-f_grounds", "record_grounds-comment"),
               data="record_grounds-csrf_token={csrf}&record_grounds-version="
                    "&record_grounds-f_grounds=Notice+period+too+short&record_grounds-comment=Checked+by+sqlmap",
               csrf_field="record_grounds-csrf_token", csrf_page=f"/incidents/{appeal}", follow_redirects=False,
               render_after=f"/incidents/{appeal}"),
        # The e-mail address is looked up in the database; nobody has this one, so nothing is shared (and the
        # reason, stored only when something is, is not tested).
        Target("share incident", f"/incidents/{triage}/shares", ("email",),
               data="csrf_token={csrf}&email=nobody%40example.org&reason=Checked+by+sqlmap+only",
               csrf_field="csrf_token", csrf_page=f"/incidents/{triage}"),
        Target("API incident list and search",
               "/api/v1/incidents?q=x&workflow=problem-solving&state=reported&clause=rcr:2.9&limit=10",
               ("q", "workflow", "state", "clause", "limit"), api=True),
        Target("API incident (path)", f"/api/v1/incidents/{triage}*", ("#1*",), api=True),
        Target("API audit (path)", f"/api/v1/incidents/{triage}*/audit", ("#1*",), api=True),
        Target("sign-in form", "/login", ("email", "password"),
               data="csrf_token={csrf}&email=nobody%40example.org&password=not-the-password",
               csrf_field="csrf_token", csrf_page="/login", signed_in=False, ignore_codes=(401,)),
    ]


def sqlmap_command(sqlmap: str, target: Target, base: str, cookie: str, dbms: str, output: Path,
                   csrf: str, api_token: str = "") -> list[str]:
    command = [
        sqlmap, "-u", base + target.path,
        "--batch", "--level=2", "--risk=1", "--time-sec=2", f"--dbms={dbms}",
        "--skip-waf",  # there is none; its probe (an extra, hostile parameter) only costs requests
        f"--threads={1 if target.refresh_csrf else 4}",
        f"--output-dir={output}", "--flush-session", "--disable-coloring",
        f"--user-agent={USER_AGENT}",
    ]
    if target.api:
        # The API ignores cookies; it is reached with the administrator's bearer token.
        command.append(f"--headers={TARGET_HEADER}: {target.name}\nAuthorization: Bearer {api_token}")
    else:
        # Keep exactly the signed-in cookie (the server re-sets it on every response), and never test it.
        command += [f"--headers={TARGET_HEADER}: {target.name}", f"--cookie={cookie}", "--drop-set-cookie",
                    "--skip=session"]
    command += [
        # After an accepted POST, follow the redirect as a browser does (GET, not the POST again), or not at all.
        # (sqlmap matches an answer by a piece of the question; its questions quote the URL and POST data.)
        "--answers=" + ("resend original POST data=N" if target.follow_redirects else "want to follow=N"),
    ]
    if target.data is not None:
        command.append("--data=" + target.data.replace("{csrf}", urllib.parse.quote(csrf, safe="")))
    if target.refresh_csrf:
        command += [f"--csrf-token={target.csrf_field}", f"--csrf-url={base}{target.csrf_page}"]
    if target.ignore_codes:
        command.append("--ignore-code=" + ",".join(map(str, target.ignore_codes)))
    if "*" not in target.path:
        command += ["-p", ",".join(target.params)]  # only these: never the CSRF token or the cookie
    return command


# -------------------------------------------------------------------------------------- live server


@dataclass
class RequestLog:
    """Every request the server answered: (target tag, method, path, status)."""

    entries: list[tuple[str, str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, wsgi_app):  # type: ignore[no-untyped-def]
        def recording(environ, start_response):  # type: ignore[no-untyped-def]
            tag = environ.get("HTTP_" + TARGET_HEADER.upper().replace("-", "_"), "")

            def start(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
                with self.lock:
                    self.entries.append((tag, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                         int(status.split()[0])))
                return start_response(status, headers, exc_info)

            return wsgi_app(environ, start)

        return recording

    def of(self, tag: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [(method, path, status) for t, method, path, status in self.entries if t == tag]


@dataclass
class Live:
    url: str
    requests: RequestLog
    seeded: Seeded


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (thousands of them): RequestLog keeps what the test needs."""

    def log_request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        pass


def _not_ready(_environ, start_response):  # type: ignore[no-untyped-def]
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def _seed(application) -> Seeded:  # type: ignore[no-untyped-def]
    _empty_all_tables(db.session)  # type: ignore[arg-type]
    registry = application.extensions["breachdesk.workflows"]
    load_demo(db.session, registry, DEMO_PASSWORD)  # type: ignore[arg-type]
    admin = find_by_email(db.session, ADMIN_EMAIL)  # type: ignore[arg-type]
    assert admin is not None
    opened = {
        key: open_incident(db.session, registry, OpenRequest(workflow_key=key, title=f"sqlmap target ({key})",  # type: ignore[arg-type]
                                                             assignee=admin), actor=admin)
        for key in ("problem-solving", "disciplinary-appeal")
    }
    db.session.commit()
    person_id = db.session.scalar(select(Person.id).order_by(Person.id).limit(1))
    assert person_id is not None, "the demo loaded no people"
    from app.services.tokens import create_token

    _row, api_token = create_token(db.session, user=admin, name="sqlmap")  # type: ignore[arg-type]
    db.session.commit()
    seeded = Seeded(person_id=person_id, triage_id=opened["problem-solving"].id,
                    appeal_id=opened["disciplinary-appeal"].id, api_token=api_token)
    states = dict(db.session.execute(select(Incident.id, Incident.state)
                                     .where(Incident.id.in_([seeded.triage_id, seeded.appeal_id]))).all())
    assert states == {seeded.triage_id: "reported", seeded.appeal_id: "lodged"}, states
    db.session.remove()
    return seeded


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database_url = request.getfixturevalue(f"{request.param}_url")
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _not_ready, threaded=True,
                                          request_handler=_QuietHandler)
    url = f"http://127.0.0.1:{server.server_port}"
    application = create_app(
        instance_path=tmp_path_factory.mktemp("sqlmap-instance"), database_url=database_url,
        secret_key="sqlmap-" + uuid.uuid4().hex, base_url=url,
        # No sign-in throttling here: sqlmap fails hundreds of sign-ins from one address on purpose,
        # and a throttled form would answer the same page to every payload (testing nothing).
        login_window_minutes=0,
        # Nor API rate limiting: sqlmap sends several hundred requests a minute with one token.
        extra={"API_RATE_LIMIT_PER_MINUTE": 1_000_000},
    )
    seeded = _seed(application)
    log = RequestLog()
    server.app = log.wrap(application.wsgi_app)
    thread = threading.Thread(target=server.serve_forever, name="breachdesk-sqlmap-server", daemon=True)
    thread.start()
    try:
        yield Live(url=url, requests=log, seeded=seeded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        db.session.remove()


# --------------------------------------------------------------------------------------- a "browser"


class Client:
    """urllib with a cookie jar and the fixed User-Agent; follows redirects; never raises on 4xx/5xx."""

    def __init__(self, base: str, cookie: str | None = None) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener.addheaders = [("User-Agent", USER_AGENT)] + ([("Cookie", cookie)] if cookie else [])

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                return response.status, urllib.parse.urlsplit(response.geturl()).path, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, urllib.parse.urlsplit(error.geturl()).path, error.read().decode()

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def _csrf(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token on the sign-in page"
    return match.group(1) or match.group(2)


def form_token(base: str, cookie: str, page: str, field_name: str) -> str:
    """The CSRF token of the form with this token field on that page, as the signed-in browser sees it."""
    status, landed, html = Client(base, cookie).open(page)
    assert (status, landed) == (200, page), f"GET {page} answered {status} at {landed}"
    match = re.search(rf'name="{re.escape(field_name)}" type="hidden" value="([^"]+)"', html)
    assert match, f"no {field_name} field on {page}"
    return match.group(1)


def anonymous_cookie(base: str) -> str:
    """A session cookie from GET /login: it holds the CSRF secret the sign-in form's tokens are checked against."""
    client = Client(base)
    status, _, html = client.open("/login")
    assert status == 200, f"GET /login answered {status}"
    _csrf(html)
    return client.cookie_header()


def sign_in(base: str, email: str, password: str) -> str:
    """Sign in through the form (GET /login for the token and cookie, POST it) and return the Cookie header."""
    client = Client(base)
    status, _, html = client.open("/login")
    assert status == 200, f"GET /login answered {status}"
    status, landed, _ = client.open("/login", {"email": email, "password": password, "csrf_token": _csrf(html)})
    assert (status, landed) == (200, "/incidents"), f"sign-in as {email} ended at {landed} ({status}), not the list"
    # The list page put a fresh CSRF secret into the session: sqlmap's tokens are checked against it.
    return client.cookie_header()


def still_signed_in(base: str, cookie: str) -> bool:
    status, landed, _ = Client(base, cookie).open("/incidents")
    return (status, landed) == (200, "/incidents")


# ------------------------------------------------------------------------------------------ running


@dataclass
class Run:
    target: Target
    returncode: int
    output: str  # sqlmap's stdout and stderr
    log: str  # <output-dir>/<host>/log: sqlmap writes injection points it found here
    csv_rows: list[str]  # results CSV rows past the header: one per finding
    seconds: float
    requests: list[tuple[str, str, int]]

    @property
    def tested(self) -> set[str]:
        return {name for _, name in TESTED.findall(self.output)}

    @property
    def cleared(self) -> set[str]:
        return {name for _, name in CLEARED.findall(self.output)}

    def findings(self) -> list[str]:
        lines = (self.output + "\n" + self.log + "\n" + "\n".join(self.csv_rows)).splitlines()
        return [line.strip() for line in lines if any(p.search(line) for p in FINDINGS)]

    def problems(self) -> list[str]:
        problems = []
        if self.returncode != 0:
            problems.append(f"sqlmap exited with {self.returncode}")
        if found := self.findings():
            problems.append("sqlmap reports an injection: " + " | ".join(found[:5]))
        if self.log.strip() or self.csv_rows:
            problems.append(f"sqlmap recorded results: {self.log.strip()[:300]!r} {self.csv_rows[:3]!r}")
        if missing := set(self.target.params) - self.tested:
            problems.append(f"sqlmap did not test {sorted(missing)} (tested: {sorted(self.tested)})")
        if unfinished := self.tested - self.cleared:
            problems.append(f"sqlmap did not finish {sorted(unfinished)} with 'does not seem to be injectable'")
        if ALL_CLEAR not in self.output:
            problems.append(f"no '{ALL_CLEAR}' line: the run did not complete")
        critical = [line for line in self.output.splitlines() if "[CRITICAL]" in line]
        if critical:
            problems.append("sqlmap: " + " | ".join(critical[:3]))
        if not self.requests:
            problems.append("the server saw no request from this run")
        if errors := sorted({f"{m} {p} -> {s}" for m, p, s in self.requests if s >= 500}):
            problems.append(f"server errors under sqlmap's payloads: {errors[:5]}")
        if any(p == "/logout" for _, p, _ in self.requests):
            problems.append("sqlmap requested /logout")
        if self.target.signed_in and (lost := [f"{m} {p} -> {s}" for m, p, s in self.requests if p == "/login"]):
            problems.append(f"sqlmap lost the signed-in session (was sent to sign in): {lost[:3]}")
        return problems

    def summary(self, backend: str) -> str:
        statuses: dict[int, int] = {}
        for _, _, status in self.requests:
            statuses[status] = statuses.get(status, 0) + 1
        codes = ", ".join(f"{code}x{count}" for code, count in sorted(statuses.items()))
        techniques = len(set(TECHNIQUE.findall(self.output)))
        verdict = "nothing injectable" if not self.findings() else "INJECTABLE"
        return (f"sqlmap[{backend}] {self.target.name}: {verdict}; parameters tested "
                f"{', '.join(sorted(self.tested)) or 'none'}; {techniques} techniques, "
                f"{len(self.requests)} requests ({codes}); {self.seconds:.1f}s")


def run_sqlmap(sqlmap: str, live: Live, target: Target, cookie: str, dbms: str, workdir: Path) -> Run:
    output_dir = workdir / re.sub(r"[^a-z0-9]+", "-", target.name.lower()).strip("-")
    output_dir.mkdir(parents=True)
    csrf = "x"
    if target.csrf_field and target.csrf_page and not target.refresh_csrf:
        csrf = form_token(live.url, cookie, target.csrf_page, target.csrf_field)
    command = sqlmap_command(sqlmap, target, live.url, cookie, dbms, output_dir, csrf, live.seeded.api_token)
    # HOME and TERM: sqlmap keeps its history under ~ and probes the terminal; keep both out of the way.
    env = {**os.environ, "HOME": str(workdir), "TERM": "dumb"}
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=SQLMAP_TIMEOUT_SECONDS,
                               env=env, stdin=subprocess.DEVNULL, check=False)
    seconds = time.monotonic() - started
    host = urllib.parse.urlsplit(live.url).hostname or "127.0.0.1"
    log_file = output_dir / host / "log"
    csv_rows = [row for csv in output_dir.glob("results-*.csv") for row in csv.read_text().splitlines()[1:]
                if row.strip()]
    return Run(target=target, returncode=completed.returncode, output=completed.stdout + completed.stderr,
               log=log_file.read_text() if log_file.exists() else "", csv_rows=csv_rows, seconds=seconds,
               requests=live.requests.of(target.name))


def _save(backend: str, run: Run) -> None:
    """Keep each transcript for CI (test-artifacts/sqlmap/), next to the browser screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", f"{backend}-{run.target.name}".lower()).strip("-")
    (ARTIFACTS / f"{name}.txt").write_text(run.output)


# -------------------------------------------------------------------------------------------- test


def test_sqlmap_finds_nothing_injectable(sqlmap: str, live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         report) -> None:  # type: ignore[no-untyped-def]
    # A refused sign-in for an unknown address spends a full argon2 verification so that it is as slow as
    # a known one. sqlmap sends a few hundred of them; here that only costs time (and adds noise to
    # sqlmap's response-time statistics), so it is switched off. The database queries are unchanged.
    monkeypatch.setattr("app.services.users.burn_verification_time", lambda _password: None)
    backend = db.dialect
    dbms = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[backend]
    admin_cookie = sign_in(live.url, ADMIN_EMAIL, DEMO_PASSWORD)
    runs: list[Run] = []
    problems: list[str] = []
    for target in targets(live.seeded):
        cookie = admin_cookie if target.signed_in else anonymous_cookie(live.url)
        run = run_sqlmap(sqlmap, live, target, cookie, dbms, tmp_path)
        runs.append(run)
        _save(backend, run)
        problems += [f"{target.name}: {p}" for p in run.problems()]
        if target.signed_in and not still_signed_in(live.url, admin_cookie):
            problems.append(f"{target.name}: the administrator's session no longer works after this run")
        if target.render_after:
            status, landed, _ = Client(live.url, admin_cookie).open(target.render_after)
            if (status, landed) != (200, target.render_after):
                problems.append(f"{target.name}: GET {target.render_after} answered {status} at {landed} afterwards")
    report(*(run.summary(backend) for run in runs),
           f"sqlmap[{backend}] total {sum(r.seconds for r in runs):.1f}s over {len(runs)} targets")
    assert not problems, "\n".join(problems)
