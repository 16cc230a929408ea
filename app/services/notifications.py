"""Queueing e-mails in the outbox, and their wording.

Messages say what happened and what is due by when, and link to the incident. They deliberately
carry no case details (no summaries, post text, allegations or outcomes): union membership and
health information are special-category data and e-mail is not a safe place for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Incident, OutboxMessage, User

LONDON = ZoneInfo("Europe/London")
# Bodies are stored with this marker and the mailer puts the configured BREACHDESK_BASE_URL in its
# place at delivery, so services need no web configuration.
BASE_URL_MARKER = "{base_url}"


class Notifiable(Protocol):
    """What a message reads of an incident: an ``Incident``, or the deadline sweep's plain row of one."""

    @property
    def id(self) -> int: ...
    @property
    def reference(self) -> str: ...
    @property
    def state(self) -> str: ...


def incident_url(incident: Notifiable, base_url: str = BASE_URL_MARKER) -> str:
    return f"{base_url.rstrip('/')}/incidents/{incident.id}"


@lru_cache(maxsize=4096)  # pure; a sweep's digests name the same deadlines' due times to many people
def when(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%A %d %B %Y at %H:%M (UK time)")


def incident_message(
    incident: Notifiable, headline: str, base_url: str = BASE_URL_MARKER, due: str | None = None
) -> tuple[str, str]:
    subject = f"[Breachdesk] {incident.reference}: {headline}"
    lines = [headline, "", f"Incident: {incident.reference}", f"Current step: {incident.state.replace('_', ' ')}"]
    if due:
        lines.append(f"Due: {due}")
    lines += ["", f"Open it in Breachdesk: {incident_url(incident, base_url)}", "",
              "This message deliberately leaves out the details of the case. Sign in to read them."]
    return subject, "\n".join(lines) + "\n"


# A digest lists this many passed deadlines and links to the overdue queue for the rest.
DIGEST_LIMIT = 50


@dataclass(frozen=True)
class Overdue:
    """A passed deadline someone is to be told about."""

    incident: Notifiable
    title: str
    due_at: datetime
    # Read once from the incident: a digest sorts by it, and a sweep's digests hold a hundred thousand items.
    reference: str = field(init=False)
    # Where it stands in a digest, soonest due first (a tuple made once, not by a Python key function per sort).
    order: tuple[datetime, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference", self.incident.reference)
        object.__setattr__(self, "order", (self.due_at, self.reference, self.title))


_DIGEST_ORDER = attrgetter("order")


def overdue_message(overdue: Overdue, base_url: str = BASE_URL_MARKER) -> tuple[str, str]:
    return incident_message(overdue.incident, f"Overdue: '{overdue.title}'", base_url, due=when(overdue.due_at))


def overdue_digest(items: list[Overdue], base_url: str = BASE_URL_MARKER) -> tuple[str, str]:
    """One e-mail for several deadlines that passed in the same sweep, soonest due first: after a worker outage a
    team must not receive a message per deadline. Like every message, it names no case details."""
    ordered = sorted(items, key=_DIGEST_ORDER)
    subject = f"[Breachdesk] Overdue: {len(items)} deadlines have passed"
    lines = [f"{len(items)} deadlines have passed on incidents you look after or that were escalated to you:", ""]
    for item in ordered[:DIGEST_LIMIT]:
        step = item.incident.state.replace("_", " ")
        lines += [f"- {item.reference}: '{item.title}', due {when(item.due_at)}",
                  f"  Current step: {step}. Open it: {incident_url(item.incident, base_url)}"]
    if len(items) > DIGEST_LIMIT:
        lines += ["", f"…and {len(items) - DIGEST_LIMIT} more. Every overdue incident you may read: "
                      f"{base_url.rstrip('/')}/incidents?overdue=1&sort=due"]
    lines += ["", "This message deliberately leaves out the details of the cases. Sign in to read them."]
    return subject, "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Message:
    to: User
    incident: Notifiable | None
    subject: str
    body: str
    # Unique: a message with a key already queued (by this or another worker) is not queued again.
    dedupe_key: str | None = None


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
    was already queued: the unique key makes "exactly once" hold even when two sweeps race."""
    return queue_many(session, [Message(to, incident, subject, body, dedupe_key)]) == 1


def _insert_statement(dialect: str, counted: bool):  # type: ignore[no-untyped-def]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = OutboxMessage.__table__
    # Built once per dialect with bound parameters, so SQLAlchemy compiles it once and caches it.
    statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return statement.returning(table.c.id) if counted else statement


_PLAIN_INSERT = insert(OutboxMessage.__table__)


def queue_many(session: Session, messages: list[Message]) -> int:
    """Add messages to the outbox (one statement for those with a dedupe key, one for the rest); returns how many
    were new."""
    keyed = [m for m in messages if m.dedupe_key is not None]
    if len(keyed) < len(messages):
        # Nothing to clash with: a plain INSERT, which SQLAlchemy compiles once (it cannot cache the ON CONFLICT
        # form, and compiled it anew for every transition that notifies a role).
        session.execute(_PLAIN_INSERT, _rows([m for m in messages if m.dedupe_key is None]))
    if not keyed:
        return len(messages)
    rows = _rows(keyed)
    statement = _statement(session, counted=True)
    # RETURNING gives a row only for inserts that happened (rowcount is unreliable with RETURNING).
    if len(rows) == 1:
        new = int(session.execute(statement, rows[0]).first() is not None)
    else:
        new = len(session.execute(statement, rows).all())
    return len(messages) - len(keyed) + new


def queue_uncounted(session: Session, messages: list[Message]) -> None:
    """``queue_many`` without the count, through the driver's plain executemany: the breach pass queues a hundred
    thousand messages at a time, and RETURNING makes SQLAlchemy send them as many multi-row statements."""
    if messages:
        session.execute(_statement(session, counted=False), _rows(messages))


def _rows(messages: list[Message]) -> list[dict[str, object]]:
    from app.clock import utcnow

    now = utcnow()
    return [{"to_address": m.to.email, "subject": m.subject[:300], "body": m.body,
             "incident_id": m.incident.id if m.incident is not None else None, "dedupe_key": m.dedupe_key,
             "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now} for m in messages]


def _statement(session: Session, *, counted: bool):  # type: ignore[no-untyped-def]
    key = (session.get_bind().dialect.name, counted)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _insert_statement(*key)
    return _STATEMENTS[key]


_STATEMENTS: dict[tuple[str, bool], object] = {}


# Without autoflush: nothing that notifies a role writes users in the same transaction, and flushing the step's
# changes so far here was one more flush for every transition that tells a role.
_ACTIVE_WITH_ROLE = (select(User).where(User.role == bindparam("role"), User.active.is_(True)).order_by(User.id)
                     .execution_options(autoflush=False))


def active_users_with_role(session: Session, role: str) -> list[User]:
    return list(session.scalars(_ACTIVE_WITH_ROLE, {"role": role}))


def users_with_role_who_can_see(session: Session, incident: Incident, role: str) -> list[User]:
    from app.permissions import readers_among

    return readers_among(active_users_with_role(session, role), incident)


def notify_role(session: Session, incident: Incident, role: str, headline: str, *,
                dedupe_prefix: str | None = None) -> int:
    """Queues one message per user of ``role`` who may read the incident, in one statement; returns how many
    were new (a ``dedupe_prefix`` makes a repeat a no-op per user)."""
    subject, body = incident_message(incident, headline)
    return queue_many(session, [
        Message(user, incident, subject, body, f"{dedupe_prefix}:user:{user.id}" if dedupe_prefix else None)
        for user in users_with_role_who_can_see(session, incident, role)])
