"""The single writer of audit rows, and the verifier of their hash chain.

The one exception to append-only is erasure of a person's data (UK GDPR article 17):
``app.services.audit_erasure`` replaces the erased values and records a chained seal, and ``verify_chain``
checks such rows against their seal while their stored hash still links the chain.

Each row's hash covers its own content and the previous row's hash. Writers lock the chain head
row first (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
writers), so two transactions can never both extend the same link and fork the chain.

The order of locks (PostgreSQL), so that writers do not wait for each other in a circle: first the rows a
transaction changes (reading the head flushes the session, so they are written, and locked, before it), then the
chain head, then the incident reference counter (``references.next_references`` takes the head first; an opening
then inserts its own new rows, which nobody else can be waiting for). The deadline sweep claims its deadlines, and
the incidents it will move, with SKIP LOCKED (the incidents FOR NO KEY UPDATE, which rows added elsewhere that point
at them do not wait for), and leaves an incident someone is changing, with its deadlines, to the next sweep, letting
go of the locks it had taken on them. Cases left, all rare: the reminders pass still locks the deadlines it works
on, whatever their incident; a new workflow version's first two openings at the same moment. Should two writers
still wait for each other, PostgreSQL breaks the deadlock by failing one of them: a worker tries again at its next
round, and the pages and the API answer 409 (``app.errors.lost_to_concurrent_write``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.clock import utcnow
from app.models import AuditChainHead, AuditEvent, Incident, User
from app.services.bulk import insert_rows

GENESIS_HASH = "0" * 64

# Where the current request came from; set by the web layer, empty for CLI and worker.
request_origin: ContextVar[str | None] = ContextVar("request_origin", default=None)


@sa_event.listens_for(Session, "before_flush")
def _audit_rows_are_append_only(session: Session, _context: object, _instances: object) -> None:
    """The application never changes or removes an audit row; trying to is a bug, so fail loudly."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditTamperingRefused(f"audit row {obj.id} is append-only; it cannot be changed or deleted")


class AuditTamperingRefused(RuntimeError):
    pass


# The canonical form's encoder, made once (json.dumps with these options makes one per call).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _canonical(event: AuditEvent) -> bytes:
    return _canonical_values({column: getattr(event, column) for column in _HASHED})


def _canonical_values(row: dict[str, Any], at_text: str | None = None) -> bytes:
    """The bytes a row's hash covers, from its column values (the one definition of the chain's form). ``at_text``:
    ``row["at"].isoformat()``, for a writer that stamps many rows with one moment."""
    body = {
        "prev": row["prev_hash"],
        "at": at_text if at_text is not None else row["at"].isoformat(),
        "actor_id": row["actor_id"],
        "actor": row["actor_label"],
        "action": row["action"],
        "incident_id": row["incident_id"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "from": row["from_state"],
        "to": row["to_state"],
        "transition": row["transition"],
        "workflow_version": row["workflow_version"],
        "comment": row["comment"],
        "data": row["data"],
        "ip": row["ip"],
    }
    return _CANONICAL_JSON.encode(body).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def lock_chain_head(session: Session) -> AuditChainHead:
    """The chain head, locked until the transaction ends (taken by ``record_many``; taken first by the writers of a
    lock that must come after it, ``references.next_references``). A transaction that writes several audit rows (a
    transition with its effects, a sweep batch) locks it once: the lock already held makes a second SELECT …
    FOR UPDATE pointless. Kept per innermost transaction, since rolling back a savepoint releases its locks."""
    connection = session.connection()
    transaction = connection.get_nested_transaction() or connection.get_transaction()
    held = session.info.get(_HEAD_HELD)
    if held is not None and held[0] is transaction and transaction is not None and transaction.is_active:
        return held[1]
    head = session.execute(_HEAD_FOR_UPDATE).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH)
        session.add(head)
    session.info[_HEAD_HELD] = (transaction, head)
    return head


_HEAD_HELD = "breachdesk.audit_chain_head"
# Statements every audited change runs, built once: SQLAlchemy keys a statement object the first time it runs it,
# and a new object each time paid that again.
# Reading it flushes the session first (autoflush), so that every row the transaction has changed so far is locked
# before the head: see the module's note on the order of locks. It takes the values as stored even into the object
# the session already holds (populate_existing): the head moves on without the session marking it changed, so a
# rolled-back savepoint would not otherwise make the session forget the values it had set.
_HEAD_FOR_UPDATE = (select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
                    .execution_options(populate_existing=True))
# The head moves on at once rather than at the caller's next flush, which was one more flush of its own for every
# audited step: the row is already locked, and the object keeps the values as stored (set_committed_value).
_HEAD_MOVES_ON = (update(AuditChainHead.__table__).where(AuditChainHead.__table__.c.id == 1)
                  .values(last_id=bindparam("new_last_id"), last_hash=bindparam("new_last_hash")))
_INSERT_ONE = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id)


@dataclass
class Entry:
    """One audit row to be written; ``record`` and ``record_many`` take these fields."""

    actor: User | None
    action: str
    incident: Incident | None = None
    object_type: str | None = None
    object_id: str | int | None = None
    from_state: str | None = None
    to_state: str | None = None
    transition: str | None = None
    comment: str | None = None
    data: dict[str, Any] | None = None
    actor_label: str | None = None
    # For bulk writers that have the incident's id and workflow version but no loaded Incident
    # (the import, the sweep's breach marks): used only when ``incident`` is None.
    incident_id: int | None = None
    workflow_version: str | None = None
    # When it happened, for a row written after the moment it records (a linked case's "incident.opened", written
    # with the step that opened it): its incident's own time, not the step's. None: the time ``record_many`` is given.
    at: datetime | None = None


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    incident: Incident | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    transition: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    actor_label: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit row in the caller's transaction; returns its id. ``at`` defaults to the clock; a
    service that stamps the same moment on its own rows passes it, so the two agree exactly."""
    return record_many(session, [Entry(actor=actor, action=action, incident=incident, object_type=object_type,
                                       object_id=object_id, from_state=from_state, to_state=to_state,
                                       transition=transition, comment=comment, data=data,
                                       actor_label=actor_label)], at=at)[0]


def record_many(session: Session, entries: list[Entry], at: datetime | None = None) -> list[int]:
    """Append rows in order, extending the chain once: one head lock and one INSERT for the lot (the
    deadline sweep writes thousands at a time). Each row is stamped with its entry's own ``at`` if it has one, else
    with ``at`` (default: now). Returns the new rows' ids."""
    if not entries:
        return []
    if any(e.incident is not None and e.incident.id is None for e in entries):
        session.flush()
    head = lock_chain_head(session)
    now = at or utcnow()
    now_text = now.isoformat()
    origin = request_origin.get()
    previous = head.last_hash
    rows = []
    for entry in entries:
        actor, incident = entry.actor, entry.incident
        when, when_text = (now, now_text) if entry.at is None else (entry.at, entry.at.isoformat())
        row = {
            "at": when,
            "actor_id": actor.id if actor is not None else None,
            "actor_label": entry.actor_label or (actor.email if actor is not None else "system"),
            "action": entry.action,
            "incident_id": incident.id if incident is not None else entry.incident_id,
            "object_type": entry.object_type,
            "object_id": str(entry.object_id) if entry.object_id is not None else None,
            "from_state": entry.from_state,
            "to_state": entry.to_state,
            "transition": entry.transition,
            "workflow_version": incident.workflow_version if incident is not None else entry.workflow_version,
            "comment": entry.comment,
            "data": entry.data or {},
            "ip": origin,
            "prev_hash": previous,
        }
        # Hashed from the very values inserted, in the form verify_chain recomputes from the stored row.
        row["hash"] = previous = hashlib.sha256(_canonical_values(row, when_text)).hexdigest()
        rows.append(row)
    ids = insert_rows(session, AuditEvent.__table__, rows) if len(rows) > 1 else [session.scalar(_INSERT_ONE, rows[0])]
    # The chain is walked in id order, so the ids must follow the order the hashes were chained in.
    if ids != sorted(ids):
        raise RuntimeError("audit rows were given ids out of chain order; refusing to write a broken chain")
    if inspect(head).persistent:
        session.execute(_HEAD_MOVES_ON, {"new_last_id": ids[-1], "new_last_hash": previous})
        set_committed_value(head, "last_id", ids[-1])
        set_committed_value(head, "last_hash", previous)
    else:  # the chain's very first row: the head row itself is inserted by the next flush
        head.last_id = ids[-1]
        head.last_hash = previous
    return ids


_HASHED = ("at", "actor_id", "actor_label", "action", "incident_id", "object_type", "object_id", "from_state",
           "to_state", "transition", "workflow_version", "comment", "data", "ip", "prev_hash")


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str


def verify_chain(session: Session, batch: int = 5000) -> ChainBreak | None:
    """Walk every row in order; return the first break, or None when the chain is intact.

    Reads through a session of its own, so it judges what is stored, not what the caller has cached,
    and can drop each batch from memory as it goes.
    """
    with Session(bind=session.get_bind()) as own:
        return _verify(own, batch)


def _verify(session: Session, batch: int) -> ChainBreak | None:
    from app.services.audit_erasure import content_problem, load_seals

    # Rows whose personal values were erased are checked against their seal (app/services/audit_erasure.py).
    seals = load_seals(session)
    expected_prev = GENESIS_HASH
    last_id = 0
    for event in _iter_events(session, batch):
        if event.prev_hash != expected_prev:
            return ChainBreak(event.id, "does not follow the row before it (a row was removed or inserted)")
        problem = content_problem(event, seals) if event.id in seals else (
            None if compute_hash(event) == event.hash else "its content does not match its hash (the row was altered)")
        if problem:
            return ChainBreak(event.id, problem)
        expected_prev = event.hash
        last_id = event.id
    head = session.get(AuditChainHead, 1)
    head_hash = head.last_hash if head is not None else GENESIS_HASH
    if head_hash != expected_prev or (head is not None and head.last_id != last_id):
        return ChainBreak(None, "the newest rows are missing (the chain head points past the last row)")
    return None


def _iter_events(session: Session, batch: int) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        session.expunge_all()


_HISTORY = select(AuditEvent).where(AuditEvent.incident_id == bindparam("incident_id")).order_by(AuditEvent.id) \
    .options(joinedload(AuditEvent.actor))  # built once, as _INSERT_ONE: every incident page reads it


def history(session: Session, incident: Incident) -> list[AuditEvent]:
    return list(session.scalars(_HISTORY, {"incident_id": incident.id}))

