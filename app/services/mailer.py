"""Delivering the outbox over real SMTP, with retries and back-off.

A message is written to the outbox in the same transaction as the decision that caused it; this
module sends it afterwards. A failed send never undoes anything: the message stays in the outbox,
is retried with growing gaps, and after the last attempt is marked failed for an administrator to see.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.config import Settings
from app.models import OutboxMessage
from app.services.notifications import BASE_URL_MARKER

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    timeout: float = 10.0
    # A CA bundle to trust for STARTTLS besides the system's (an internal mail relay's own CA).
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings:
        return cls(host=settings.mail_host, port=settings.mail_port, sender=settings.mail_sender,
                   starttls=settings.mail_starttls, username=settings.mail_username,
                   password=settings.mail_password, base_url=settings.base_url, ca_file=settings.mail_ca_file)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failure, never more than an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def _compose(message: OutboxMessage, settings: SmtpSettings) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "breachdesk.local")
    email.set_content(message.body.replace(BASE_URL_MARKER, settings.base_url.rstrip("/")))
    return email


def _send(messages: list[EmailMessage], settings: SmtpSettings) -> list[Exception | None]:
    """Send each message; a per-message result. Errors before the first send fail them all (raised)."""
    results: list[Exception | None] = []
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.starttls:
            context = ssl.create_default_context()
            if settings.ca_file:
                context.load_verify_locations(cafile=settings.ca_file)
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for email in messages:
            try:
                smtp.send_message(email)
                results.append(None)
            except smtplib.SMTPException as exc:
                results.append(exc)
            except OSError as exc:  # the connection dropped: this and the rest are not sent
                results.extend([exc] * (len(messages) - len(results)))
                break
    finally:
        # What the server accepted stays accepted, whatever it says to goodbye.
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return results


def deliver_outbox(session: Session, settings: SmtpSettings, *, now: datetime | None = None,
                   limit: int = 100) -> DeliveryReport:
    """Send what is due. Claims rows with SKIP LOCKED so several workers never send one twice."""
    now = now or utcnow()
    report = DeliveryReport()
    pending = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id).with_for_update(skip_locked=True).limit(limit)
    ).all()
    if not pending:
        return report
    try:
        outcomes = _send([_compose(m, settings) for m in pending], settings)
    except (OSError, smtplib.SMTPException) as exc:  # server down, refused, TLS or login failure
        outcomes = [exc] * len(pending)
    for message, outcome in zip(pending, outcomes, strict=True):
        message.attempts += 1
        if outcome is None:
            message.status = "sent"
            message.sent_at = now
            message.last_error = None
            report.sent += 1
        elif message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
            message.last_error = f"{type(outcome).__name__}: {outcome}"[:2000]
            report.failed += 1
        else:
            message.next_attempt_at = now + backoff(message.attempts)
            message.last_error = f"{type(outcome).__name__}: {outcome}"[:2000]
            report.retrying += 1
    session.flush()
    return report
