"""Delivering the outbox to a real SMTP server (aiosmtpd, in process): what the e-mails say and leave
out, retries with back-off when the server is down, and giving up visibly after the last attempt."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.models import Incident, OutboxMessage
from app.services.mailer import MAX_ATTEMPTS, SmtpSettings, deliver_outbox
from tests.conftest import login
from tests.deadlines.conftest import free_port, utc
from tests.deadlines.test_sweep import POST_TEXT, deadline, removal_requested, sweep

SENDER = "breachdesk@college.example"
BASE_URL = "https://breachdesk.example"
SUMMARY = "Contributor disclosed their own diagnosis in the thread."
TITLE = "Contributor's story shows a labelled scan"
REQUESTED = utc(2026, 3, 10, 10, 0)


class Inbox:
    """An aiosmtpd handler that keeps what it is given."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [message for _envelope, message in self.received_pairs()]

    def received_pairs(self) -> list[tuple[Any, email.message.EmailMessage]]:
        """Each envelope with its parsed message, from one copy of the list: the server's thread may be
        appending while a test reads (reading the list twice once paired envelopes with too few messages)."""
        return [(e, email.message_from_bytes(e.original_content or e.content, policy=email.policy.default))
                for e in list(self.envelopes)]


class RudeGoodbye(Inbox):
    """Accepts every message, then answers QUIT with something other than 221."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        return "421 Closing the connection"


@contextmanager
def smtp_server(handler: Inbox, port: int) -> Iterator[Inbox]:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    port = free_port()
    with smtp_server(Inbox(), port) as inbox:
        yield inbox, port


def settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, base_url=BASE_URL, timeout=5)


def deliver(db, port: int, now):
    report = deliver_outbox(db, settings(port), now=now)
    db.commit()
    return report


def queued_reminder(db, make, registry) -> tuple[Incident, OutboxMessage]:
    """A content-removal request whose 2-hour reminder is in the outbox."""
    comms = make.user("comms", team="communications")
    removal = removal_requested(db, registry, comms, at=REQUESTED, patient_info=False)
    sweep(db, registry, deadline(removal, "comply").due_at - timedelta(hours=1))
    [message] = db.scalars(select(OutboxMessage)).all()
    return removal, message


def test_delivered_mail_links_to_the_incident_and_says_what_is_due_without_case_details(db, make, registry, smtp):
    inbox, port = smtp
    removal, message = queued_reminder(db, make, registry)
    sent_at = REQUESTED + timedelta(hours=23, minutes=1)

    report = deliver(db, port, sent_at)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == [removal.assignee.email]
    [mail] = inbox.messages
    assert mail["To"] == removal.assignee.email and mail["From"] == SENDER
    assert removal.reference in mail["Subject"]
    assert mail["Subject"] == f"[Breachdesk] {removal.reference}: Reminder: 'Content removed' is due soon"
    body = mail.get_content()
    assert f"{BASE_URL}/incidents/{removal.id}" in body
    assert "Reminder: 'Content removed' is due soon" in body
    assert "Due: Wednesday 11 March 2026 at 10:00 (UK time)" in body
    assert "{base_url}" not in body

    db.expire_all()
    message = db.get(OutboxMessage, message.id)
    assert (message.status, message.attempts, message.sent_at, message.last_error) == ("sent", 1, sent_at, None)
    assert deliver(db, port, sent_at + timedelta(minutes=5)).sent == 0
    assert len(inbox.envelopes) == 1


def test_no_mail_carries_the_summary_the_post_or_the_title(db, make, registry, smtp):
    """Special-category data (health, union membership) stays in Breachdesk, not in mailboxes."""
    inbox, port = smtp
    make.user("director_of_comms")
    removal, _ = queued_reminder(db, make, registry)
    # The deadline passes: overdue notices, the escalation, the formal-action case it opens.
    sweep(db, registry, deadline(removal, "comply").due_at + timedelta(minutes=1))
    deliver(db, port, REQUESTED + timedelta(days=1, minutes=5))

    assert len(inbox.envelopes) >= 2
    for envelope in inbox.envelopes:
        raw = (envelope.original_content or envelope.content).decode("utf-8", "replace")
        for secret in (SUMMARY, POST_TEXT, "943 476 5919", TITLE, "diagnosis"):
            assert secret not in raw, f"{secret!r} was e-mailed to {envelope.rcpt_tos}"
    assert all(m.status == "sent" for m in db.scalars(select(OutboxMessage)))


def test_a_digest_of_several_passed_deadlines_arrives_as_one_mail_with_a_link_to_each(db, make, registry, smtp):
    inbox, port = smtp
    comms = make.user("comms", team="communications")
    removals = [removal_requested(db, registry, comms, at=REQUESTED + timedelta(minutes=i), patient_info=False)
                for i in range(3)]
    sweep(db, registry, REQUESTED + timedelta(days=2))

    deliver(db, port, REQUESTED + timedelta(days=2, minutes=1))

    [mail] = [m for m in inbox.messages if m["To"] == comms.email and "Overdue" in m["Subject"]]
    assert mail["Subject"] == "[Breachdesk] Overdue: 3 deadlines have passed"
    body = mail.get_content()
    for removal in removals:
        assert f"- {removal.reference}: 'Content removed', due " in body
        assert any(line.endswith(f"Open it: {BASE_URL}/incidents/{removal.id}") for line in body.splitlines())
    assert "{base_url}" not in body
    for secret in (SUMMARY, POST_TEXT, TITLE):
        assert secret not in body


def test_server_down_keeps_the_message_for_later_and_leaves_the_case_alone(db, make, registry):
    removal, message = queued_reminder(db, make, registry)
    state, version, due = removal.state, removal.version, deadline(removal, "comply").due_at
    closed_port = free_port()
    now = REQUESTED + timedelta(hours=23)

    report = deliver(db, closed_port, now)
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    db.expire_all()
    message = db.get(OutboxMessage, message.id)
    assert message.status == "pending" and message.attempts == 1
    assert message.next_attempt_at == now + timedelta(minutes=1) and message.next_attempt_at > now
    assert message.last_error and "refused" in message.last_error.lower()
    assert message.sent_at is None
    removal = db.get(Incident, removal.id)
    assert (removal.state, removal.version, deadline(removal, "comply").due_at) == (state, version, due)

    # Not tried again before its time.
    assert deliver(db, closed_port, now + timedelta(seconds=30)).retrying == 0
    db.expire_all()
    assert db.get(OutboxMessage, message.id).attempts == 1


def test_after_the_last_attempt_the_message_is_failed_and_shown_to_administrators(db, make, registry, app):
    removal, message = queued_reminder(db, make, registry)
    message_id, subject_reference = message.id, removal.reference
    closed_port = free_port()
    now = REQUESTED + timedelta(hours=23)
    gaps = []
    for _ in range(MAX_ATTEMPTS):
        deliver(db, closed_port, now)
        db.expire_all()
        message = db.get(OutboxMessage, message_id)
        if message.status != "pending":
            break
        gaps.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    assert message.status == "failed" and message.attempts == MAX_ATTEMPTS
    assert message.last_error
    assert gaps == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)][: MAX_ATTEMPTS - 1]
    assert deliver(db, closed_port, now + timedelta(days=1)).failed == 0  # given up: not tried again

    admin, comms = make.user("admin"), make.user("comms", team="communications")
    as_admin, as_comms = app.test_client(), app.test_client()
    assert login(as_admin, admin).status_code == 302 and login(as_comms, comms).status_code == 302
    page = as_admin.get("/admin/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert subject_reference in html and "Failed (1)" in html and "refused" in html.lower()
    assert as_comms.get("/admin/outbox").status_code == 404


def test_when_the_server_comes_back_a_waiting_message_is_delivered_once(db, make, registry):
    _, message = queued_reminder(db, make, registry)
    port = free_port()
    now = REQUESTED + timedelta(hours=23)
    assert deliver(db, port, now).retrying == 1

    with smtp_server(Inbox(), port) as inbox:
        retry_at = now + timedelta(minutes=1)
        assert deliver(db, port, retry_at).sent == 1
        assert deliver(db, port, retry_at + timedelta(minutes=10)).sent == 0
    assert len(inbox.envelopes) == 1
    db.expire_all()
    message = db.get(OutboxMessage, message.id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)


def test_one_refused_address_does_not_hold_up_the_others(db, make, registry):
    class RefusesOne(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            if address.startswith("nobody-"):
                return "550 No such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    comms = make.user("comms", team="communications")
    make.user("comms", team="communications", email="nobody-here@example.org")
    removal_requested(db, registry, comms, at=REQUESTED, patient_info=False, assignee=False)
    sweep(db, registry, REQUESTED + timedelta(hours=23))
    port = free_port()
    with smtp_server(RefusesOne(), port) as inbox:
        report = deliver(db, port, REQUESTED + timedelta(hours=23, minutes=1))
    assert (report.sent, report.retrying) == (1, 1)
    assert [e.rcpt_tos for e in inbox.envelopes] == [[comms.email]]
    refused = db.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "nobody-here@example.org"))
    assert refused.status == "pending" and "550" in refused.last_error


def test_a_message_the_server_accepted_is_not_sent_again_when_its_goodbye_is_odd(db, make, registry):
    """The server took the message (250 after DATA) and then answered QUIT with 421. The message was
    delivered: it must not be retried, or the recipient gets it twice."""
    _, message = queued_reminder(db, make, registry)
    port = free_port()
    now = REQUESTED + timedelta(hours=23)
    with smtp_server(RudeGoodbye(), port) as inbox:
        deliver(db, port, now)
        deliver(db, port, now + timedelta(minutes=2))
        deliver(db, port, now + timedelta(minutes=10))
    assert len(inbox.envelopes) == 1, f"one reminder was delivered {len(inbox.envelopes)} times"
    db.expire_all()
    assert db.get(OutboxMessage, message.id).status == "sent"
