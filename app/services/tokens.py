"""API bearer tokens: issued from the command line, stored hashed, acting as their user.

A token is 32 random bytes (URL-safe base64) behind a ``bdk_`` prefix, so secret scanners can spot one.
Only its SHA-256 is stored: a copy of the database cannot be used to call the API. A token stops working
when it is revoked or its user is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.clock import utcnow
from app.models import ApiToken, User
from app.services import NotFound, ServiceError, audit

PREFIX = "bdk_"
HINT_LENGTH = len(PREFIX) + 4
MAX_TOKEN_LENGTH = 200
# last_used_at is written at most once a minute per token, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, *, user: User, name: str | None = None, actor: User | None = None
                 ) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; returns the row and the token itself (shown once, never stored)."""
    if not user.active:
        raise ServiceError(f"{user.email} is disabled; a token for it would not work.")
    label = (name or "").strip() or "API token"
    if len(label) > 100:
        raise ServiceError(f"Keep the token name under 100 characters (it has {len(label)}).")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=label, token_hash=hash_token(token), hint=token[:HINT_LENGTH],
                   created_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_token.created", object_type="api_token", object_id=row.id,
                 data={"user": user.email, "name": label})
    return row, token


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int, *, actor: User | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"No API token with id {token_id}.")
    if row.revoked_at is not None:
        raise ServiceError(f"API token {token_id} is already revoked.")
    row.revoked_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="api_token.revoked", object_type="api_token", object_id=row.id,
                 data={"user": row.user.email, "name": row.name})
    return row


def authenticate(session: Session, token: str) -> User | None:
    """The active user a presented token acts as, or None (unknown, revoked, or user disabled).

    The row is found by the token's hash (an attacker cannot steer a hash byte by byte), and the stored
    hash is compared with ``hmac.compare_digest`` as well, so no comparison leaks timing.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(PREFIX):
        return None
    presented = hash_token(token)
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == presented).options(joinedload(ApiToken.user))
    )
    if row is None or not hmac.compare_digest(row.token_hash, presented):
        return None
    if row.revoked_at is not None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row.user
