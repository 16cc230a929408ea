"""Idempotency keys for POSTs: a retry with the same key and body gets the first answer again.

The stored answer is written in the same transaction as the change it describes, so a request either
did its work and left its answer, or did neither. Two concurrent requests with one key collide on the
(user, key) unique constraint; the loser rolls back and replays the winner's answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import IdempotencyKey, User

# Keys are kept a day: long enough for any retry, short enough that the table stays small.
KEEP_FOR = timedelta(hours=24)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class KeyReused(Exception):
    """The key was already used for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    location: str | None


def valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.match(key))


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the method, the path and the body as canonical JSON (key order and spacing ignored)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def lookup(session: Session, user: User, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored answer for this key, None if the key is new (or expired); KeyReused on a mismatch."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                      IdempotencyKey.key == key))
    if row is None:
        return None
    if row.created_at < utcnow() - KEEP_FOR:
        session.delete(row)
        session.flush()
        return None
    if row.request_hash != fingerprint:
        raise KeyReused(key)
    return StoredResponse(row.response_status, row.response_body, row.response_location)


def remember(session: Session, user: User, key: str, fingerprint: str, response: StoredResponse) -> None:
    purge_expired(session)  # keeps the table to a day's keys without a separate job
    session.add(IdempotencyKey(user_id=user.id, key=key, request_hash=fingerprint, response_status=response.status,
                               response_body=response.body, response_location=response.location,
                               created_at=utcnow()))
    session.flush()


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP_FOR))
    return result.rowcount or 0  # type: ignore[attr-defined]
