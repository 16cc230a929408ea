"""The multi-process deployment, on loopback: PostgreSQL, gunicorn with several workers and two
``breachdesk worker`` processes, all at once (docs/deployment.md describes it).

Several people take the same transition on the same incidents through different gunicorn workers
while two background workers sweep deadlines and send e-mail. Afterwards: each incident moved once,
everyone else was told (409), the audit chain is intact, and every reminder was e-mailed once.
PostgreSQL only; skipped, saying why, without a PostgreSQL server.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db as database
from app.models import AuditEvent, Incident
from app.services import audit
from app.services.incidents import OpenRequest, open_incident
from app.services.tokens import create_token
from tests.conftest import Factory
from tests.deadlines.conftest import free_port
from tests.deadlines.test_mail import smtp_server
from tests.deadlines.test_two_workers import SlowInbox, environment, outbox_rows, seed

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")
INCIDENTS = 6
CONTENDERS = 6


@pytest.fixture
def pg(postgresql_url, tmp_path):  # type: ignore[no-untyped-def]
    from app import create_app
    from tests.conftest import _empty_all_tables

    application = create_app(instance_path=tmp_path / "instance", database_url=postgresql_url,
                             secret_key="scale-out", base_url="https://breachdesk.example")
    _empty_all_tables(database.session)
    yield application
    database.session.remove()
    _empty_all_tables(database.session)
    database.session.remove()


def _contested_cases(app) -> tuple[list[int], list[str]]:  # type: ignore[no-untyped-def]
    """Incidents waiting for triage, and one API token per comms officer who will race to triage them."""
    registry = app.extensions["breachdesk.workflows"]
    session = database.session
    factory = Factory(session, "not-used-for-sign-in")
    # Their own team, so the reminders seed() expects for the communications team are unchanged.
    officers = [factory.user("comms", team="triage-desk") for _ in range(CONTENDERS)]
    ids = [open_incident(session, registry, OpenRequest(workflow_key="problem-solving", title=f"Reported post {n}"),
                         actor=officers[0]).id for n in range(INCIDENTS)]
    tokens = [create_token(session, user=officer, name="scale-out")[1] for officer in officers]
    session.commit()
    session.remove()
    return ids, tokens


def _request(port: int, method: str, path: str, *, token: str | None = None, body: dict | None = None,
             timeout: float = 30) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if _request(port, "GET", "/login", timeout=2) == 200:
                return
        except OSError:  # refused, reset or timed out while the workers boot
            time.sleep(0.2)
    raise AssertionError("gunicorn did not start serving in time")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    return err or ""


def test_gunicorn_workers_and_two_background_workers_stay_correct_together(pg, postgresql_url, tmp_path):
    expected_mail = seed(pg)
    incident_ids, tokens = _contested_cases(pg)
    smtp_port, http_port = free_port(), free_port()
    env = environment(postgresql_url, smtp_port)
    env["BREACHDESK_API_RATE_LIMIT_PER_MINUTE"] = "100000"

    with smtp_server(SlowInbox(), smtp_port) as inbox:
        web = subprocess.Popen([GUNICORN, "--workers", "3", "--bind", f"127.0.0.1:{http_port}", "app.wsgi:app"],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        workers = [subprocess.Popen([BREACHDESK, "worker", "--interval", "1"], env=env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            _wait_until_serving(http_port, web)
            statuses: dict[int, list[int]] = {iid: [] for iid in incident_ids}
            start = threading.Barrier(len(incident_ids) * CONTENDERS)

            def contend(iid: int, token: str) -> None:
                start.wait()
                statuses[iid].append(_request(http_port, "POST", f"/api/v1/incidents/{iid}/transitions", token=token,
                                              body={"transition": "triage", "version": 1,
                                                    "data": {"clauses": ["rcr:2.8"], "severity": "high"}}))

            threads = [threading.Thread(target=contend, args=(iid, token))
                       for iid in incident_ids for token in tokens]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)

            deadline = time.monotonic() + 60
            while sum(inbox.received().values()) < sum(expected_mail.values()) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2.5)  # two more sweep-and-deliver rounds: a duplicate would show up now
        finally:
            worker_errors = [_stop(w) for w in workers]
            web_errors = _stop(web)

    for iid, codes in statuses.items():
        assert sorted(Counter(codes).items()) == [(200, 1), (409, CONTENDERS - 1)], (iid, codes)
    session = database.session
    for iid in incident_ids:
        incident = session.get(Incident, iid)
        assert (incident.state, incident.version) == ("triaged", 2)
        moves = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.incident_id == iid, AuditEvent.action == "incident.transition"))
        assert moves == 1
    assert audit.verify_chain(session) is None
    session.remove()

    rows = outbox_rows()
    assert Counter((r.to_address, r.subject) for r in rows) == expected_mail
    assert inbox.received() == expected_mail, "a reminder was e-mailed twice, or not at all"
    for errors in [*worker_errors, web_errors]:
        assert "Traceback" not in errors, errors
