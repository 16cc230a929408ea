"""Two workers on one PostgreSQL database: every reminder is queued once and e-mailed once.

Runs the real ``breachdesk worker --once`` and ``breachdesk deadlines sweep`` processes side by side
against a real SMTP server (aiosmtpd). PostgreSQL only: SQLite serialises writers, so there is no race
to lose. Skipped, saying why, when no PostgreSQL server is configured.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import create_engine, select, text

from app import create_app
from app.extensions import db as database
from app.models import OutboxMessage
from app.services.sweep import remind_at
from app.timing import LONDON, parse_duration
from tests.conftest import _empty_all_tables
from tests.deadlines.conftest import free_port
from tests.deadlines.test_mail import Inbox, smtp_server
from tests.deadlines.test_sweep import deadline, removal_requested, tribunal_clock

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")


class SlowInbox(Inbox):
    """Takes a little time over each message, so two workers' deliveries overlap."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)

    def received(self) -> Counter:
        # A long subject is folded onto its own line; unfold it as a mail client would.
        return Counter((rcpt, " ".join(m["Subject"].split())) for e, m in self.received_pairs() for rcpt in e.rcpt_tos)


@pytest.fixture
def pg(postgresql_url, tmp_path):
    application = create_app(instance_path=tmp_path / "instance", database_url=postgresql_url,
                             secret_key="two-workers", base_url="https://breachdesk.example")
    _empty_all_tables(database.session)
    yield application
    database.session.remove()
    _empty_all_tables(database.session)
    database.session.remove()


def seed(app) -> Counter:
    """Cases whose reminders are due now (by the real clock) but whose deadlines have not passed.
    Returns the (recipient, subject) pairs that should each be e-mailed exactly once."""
    registry = app.extensions["breachdesk.workflows"]
    session = database.session
    from tests.conftest import Factory

    factory = Factory(session, "not-used-for-sign-in")
    comms, colleague = factory.user("comms", team="communications"), factory.user("comms", team="communications")
    rep = factory.user("rep", team="reps")
    now = datetime.now(UTC)
    expected: Counter = Counter()

    def reminder(incident, title: str) -> str:
        return f"[Breachdesk] {incident.reference}: Reminder: '{title}' is due soon"

    # Removal requested 23 hours ago: due in an hour, the 2-hour reminder is due now.
    for n in range(12):
        removal = removal_requested(session, registry, comms, at=now - timedelta(hours=23, minutes=n),
                                    patient_info=False, assignee=n % 3 != 0)
        recipients = [comms] if removal.assignee else [comms, colleague]
        for user in recipients:
            expected[(user.email, reminder(removal, "Content removed"))] += 1

    # Tribunal limits about five weeks away: the 6-week reminder is due, the 2-week one is not.
    for n in range(4):
        due_day = (now.astimezone(LONDON) + timedelta(days=33 + n)).date()
        edt = due_day - relativedelta(months=3) + timedelta(days=1)
        claim = tribunal_clock(session, registry, rep, edt=edt.isoformat(), at=now)
        limitation = deadline(claim, "limitation")
        assert remind_at(session, limitation, parse_duration("6 weeks")) <= now
        assert remind_at(session, limitation, parse_duration("2 weeks")) > now + timedelta(minutes=10)
        expected[(rep.email, reminder(claim, "Tribunal claim limit"))] += 1
    session.commit()
    session.remove()
    return expected


def environment(postgresql_url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env.update(BREACHDESK_DATABASE_URL=postgresql_url, BREACHDESK_MAIL_HOST="127.0.0.1",
               BREACHDESK_MAIL_PORT=str(smtp_port), BREACHDESK_SECRET_KEY="x",
               BREACHDESK_BASE_URL="https://breachdesk.example", BREACHDESK_MAIL_SENDER="breachdesk@college.example")
    return env


def start_two(args: list[str], env: dict[str, str]) -> list[subprocess.Popen]:
    return [subprocess.Popen([BREACHDESK, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]


def finish(processes: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        assert "Traceback" not in err and "database error" not in err, err
        outputs.append(out)
    return outputs


def outbox_rows() -> list[OutboxMessage]:
    rows = list(database.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    database.session.remove()
    return rows


def assert_each_queued_once(rows: list[OutboxMessage], expected: Counter) -> None:
    keys = [r.dedupe_key for r in rows]
    assert None not in keys and len(keys) == len(set(keys))
    assert Counter((r.to_address, r.subject) for r in rows) == expected


def sent_counts(outputs: list[str]) -> list[int]:
    return [int(re.search(r"e-mail: (\d+) sent", out).group(1)) for out in outputs]


class TableLock:
    """Hold an EXCLUSIVE lock on a table (the outbox unless told), so workers pile up behind it and then run
    together."""

    def __init__(self, url: str, table: str = "outbox_messages") -> None:
        self.engine = create_engine(url)
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        self.connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))

    def wait_for_waiters(self, count: int, timeout: float = 60) -> None:
        deadline_at = time.monotonic() + timeout
        with self.engine.connect() as watcher:
            while time.monotonic() < deadline_at:
                waiting = watcher.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one()
                if waiting >= count:
                    return
                watcher.rollback()
                time.sleep(0.05)
        raise AssertionError(f"fewer than {count} worker(s) reached the outbox within {timeout} s")

    def release(self) -> None:
        self.transaction.rollback()
        self.connection.close()
        self.engine.dispose()


def test_two_workers_at_once_queue_and_send_each_reminder_once(pg, postgresql_url):
    expected = seed(pg)
    assert sum(expected.values()) == 8 * 1 + 4 * 2 + 4
    port = free_port()
    with smtp_server(SlowInbox(), port) as inbox:
        outputs = finish(start_two(["worker", "--once"], environment(postgresql_url, port)))

    rows = outbox_rows()
    assert_each_queued_once(rows, expected)
    assert {r.status for r in rows} == {"sent"}
    assert inbox.received() == expected, "a reminder was e-mailed twice, or not at all"
    assert sum(sent_counts(outputs)) == sum(expected.values())
    assert all(re.search(r"\d+ dashboard count row\(s\) folded", out) for out in outputs), outputs


def test_two_sweeps_at_once_then_two_deliveries_at_once(pg, postgresql_url):
    expected = seed(pg)
    port = free_port()
    env = environment(postgresql_url, port)

    # Both sweeps run while one of them is stuck holding the claimed deadlines: the other must skip them.
    lock = TableLock(postgresql_url)
    try:
        sweeps = start_two(["deadlines", "sweep"], env)
        lock.wait_for_waiters(1)
        time.sleep(0.5)  # let the second sweep run into the claimed rows
    finally:
        lock.release()
    finish(sweeps)
    rows = outbox_rows()
    assert_each_queued_once(rows, expected)
    assert {r.status for r in rows} == {"pending"}

    # Both workers wait behind the lock, then sweep again (nothing new) and deliver side by side.
    with smtp_server(SlowInbox(), port) as inbox:
        lock = TableLock(postgresql_url)
        try:
            workers = start_two(["worker", "--once"], env)
            lock.wait_for_waiters(2)
        finally:
            lock.release()
        outputs = finish(workers)

    rows = outbox_rows()
    assert_each_queued_once(rows, expected)
    assert {r.status for r in rows} == {"sent"}
    assert inbox.received() == expected, "a reminder was e-mailed twice, or not at all"
    assert sum(sent_counts(outputs)) == sum(expected.values())


def test_two_sweeps_at_once_escalate_each_passed_removal_once(pg, postgresql_url):
    """The escalating transitions go a batch at a time (``take_transitions``); two sweeps side by side still move each
    incident once: one opened formal-action case, one breach mark and one transition row per removal, the chain whole."""
    from sqlalchemy import func

    from app.models import AuditEvent, Incident, IncidentLink
    from app.services.audit import verify_chain
    from tests.conftest import Factory

    registry = pg.extensions["breachdesk.workflows"]
    session = database.session
    comms = Factory(session, "not-used-for-sign-in").user("comms", team="communications")
    now = datetime.now(UTC)
    removals = [removal_requested(session, registry, comms, at=now - timedelta(hours=25, minutes=n),
                                  patient_info=False, assignee=n % 2 == 0).id for n in range(12)]
    session.remove()

    # Both sweeps start while the audit chain is held: one claims every passed deadline and waits to write its
    # rows; the other must skip the claimed deadlines, then find them marked.
    lock = TableLock(postgresql_url, "audit_chain_head")
    try:
        sweeps = start_two(["deadlines", "sweep"], environment(postgresql_url, free_port()))
        lock.wait_for_waiters(1)
        time.sleep(0.5)
    finally:
        lock.release()
    outputs = sorted(finish(sweeps), key=lambda out: "12 deadline(s) passed" in out)
    assert "0 deadline(s) passed" in outputs[0] and "12 deadline(s) passed, 12 escalation(s)" in outputs[1], outputs

    count = lambda *where: database.session.scalar(select(func.count()).select_from(AuditEvent).where(*where))  # noqa: E731
    assert {database.session.get(Incident, i).state for i in removals} == {"non_compliant"}
    links = database.session.scalars(select(IncidentLink).where(IncidentLink.from_id.in_(removals))).all()
    assert sorted(link.from_id for link in links) == sorted(removals)
    assert {database.session.get(Incident, link.to_id).workflow_key for link in links} == {"formal-action"}
    assert count(AuditEvent.action == "deadline.breached") == 12
    assert count(AuditEvent.transition == "mark_non_compliant") == 12
    database.session.remove()
    assert verify_chain(database.session) is None
    database.session.remove()
