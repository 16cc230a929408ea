"""Queueing e-mails in the outbox, and their wording.

Messages say what happened and what is due by when, and link to the incident. They deliberately
carry no case details (no summaries, post text, allegations or outcomes): union membership and
health information are special-category data and e-mail is not a safe place for them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Incident, OutboxMessage, User

LONDON = ZoneInfo("Europe/London")
# Bodies are stored with this marker and the mailer puts the configured BREACHDESK_BASE_URL in its
# place at delivery, so services need no web configuration.
BASE_URL_MARKER = "{base_url}"


def incident_url(incident: Incident, base_url: str = BASE_URL_MARKER) -> str:
    return f"{base_url.rstrip('/')}/incidents/{incident.id}"


def when(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%A %d %B %Y at %H:%M (UK time)")


def incident_message(
    incident: Incident, headline: str, base_url: str = BASE_URL_MARKER, due: str | None = None
) -> tuple[str, str]:
    subject = f"[Breachdesk] {incident.reference}: {headline}"
    lines = [headline, "", f"Incident: {incident.reference}", f"Current step: {incident.state.replace('_', ' ')}"]
    if due:
        lines.append(f"Due: {due}")
    lines += ["", f"Open it in Breachdesk: {incident_url(incident, base_url)}", "",
              "This message deliberately leaves out the details of the case. Sign in to read them."]
    return subject, "\n".join(lines) + "\n"


def queue(
    session: Session,
    *,
    to: User,
    incident: Incident | None,
    subject: str,
    body: str,
    dedupe_key: str | None = None,
) -> bool:
    """Add a message to the outbox in the caller's transaction. Returns False when ``dedupe_key``
    was already queued (by this or another worker): the unique key makes "exactly once" hold even
    when two sweeps race."""
    values = {"to_address": to.email, "subject": subject[:300], "body": body,
              "incident_id": incident.id if incident is not None else None, "dedupe_key": dedupe_key}
    if dedupe_key is None:
        session.add(OutboxMessage(**values))
        return True
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    from app.clock import utcnow

    now = utcnow()
    statement = (
        insert(OutboxMessage.__table__)
        .values(**values, status="pending", attempts=0, created_at=now, next_attempt_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.__table__.c.id)
    )
    # RETURNING gives a row only when the insert happened (rowcount is unreliable with RETURNING).
    return session.execute(statement).first() is not None


def users_with_role_who_can_see(session: Session, incident: Incident, role: str) -> list[User]:
    from sqlalchemy import select

    from app.permissions import can_view

    users = session.scalars(select(User).where(User.role == role, User.active.is_(True)).order_by(User.id))
    return [u for u in users if can_view(u, incident)]


def notify_role(session: Session, incident: Incident, role: str, headline: str, *,
                dedupe_prefix: str | None = None) -> int:
    sent = 0
    for user in users_with_role_who_can_see(session, incident, role):
        subject, body = incident_message(incident, headline)
        key = f"{dedupe_prefix}:user:{user.id}" if dedupe_prefix else None
        sent += queue(session, to=user, incident=incident, subject=subject, body=body, dedupe_key=key)
    return sent
