"""The single writer of audit rows, and the verifier of their hash chain.

Each row's hash covers its own content and the previous row's hash. Writers lock the chain head
row first (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
writers), so two transactions can never both extend the same link and fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.clock import utcnow
from app.models import AuditChainHead, AuditEvent, Incident, User

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


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "prev": event.prev_hash,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "action": event.action,
        "incident_id": event.incident_id,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "from": event.from_state,
        "to": event.to_state,
        "transition": event.transition,
        "workflow_version": event.workflow_version,
        "comment": event.comment,
        "data": event.data,
        "ip": event.ip,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _lock_head(session: Session) -> AuditChainHead:
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH)
        session.add(head)
    return head


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
) -> AuditEvent:
    """Append one audit row (and flush it) in the caller's transaction."""
    head = _lock_head(session)
    if incident is not None and incident.id is None:
        session.flush()
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=actor_label or (actor.email if actor is not None else "system"),
        action=action,
        incident_id=incident.id if incident is not None else None,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        from_state=from_state,
        to_state=to_state,
        transition=transition,
        workflow_version=incident.workflow_version if incident is not None else None,
        comment=comment,
        data=data or {},
        ip=request_origin.get(),
        prev_hash=head.last_hash,
    )
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    head.last_id = event.id
    head.last_hash = event.hash
    session.flush()
    return event


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
    expected_prev = GENESIS_HASH
    last_id = 0
    for event in _iter_events(session, batch):
        if event.prev_hash != expected_prev:
            return ChainBreak(event.id, "does not follow the row before it (a row was removed or inserted)")
        if compute_hash(event) != event.hash:
            return ChainBreak(event.id, "its content does not match its hash (the row was altered)")
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


def history(session: Session, incident: Incident) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.incident_id == incident.id).order_by(AuditEvent.id)
            .options(joinedload(AuditEvent.actor))
        )
    )

