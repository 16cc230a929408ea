"""An optional TOTP second factor (RFC 6238) for the accounts that can see most: administrators and the
Director of Communications."""

from __future__ import annotations

import pyotp
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import LoginFailure, User
from app.roles import Role
from app.services import ServiceError, audit

ISSUER = "Breachdesk"
ROLES_WITH_TOTP = (Role.ADMIN, Role.DIRECTOR_OF_COMMS)


def may_enrol(user: User) -> bool:
    return user.role in ROLES_WITH_TOTP


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _accepted_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step the code belongs to (allowing one step of clock drift), or None."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if (last_step is None or step > last_step) and totp.generate_otp(step) == code:
            return step
    return None


def enrol(session: Session, *, actor: User, secret: str, code: str) -> None:
    if not may_enrol(actor):
        raise ServiceError("Two-factor sign-in is offered to administrators and the Director of Communications.")
    step = _accepted_step(secret, code, None)
    if step is None:
        raise ServiceError("That code does not match. Check the time on your phone and enter the current code.")
    actor.totp_secret = secret
    actor.totp_last_step = step
    audit.record(session, actor=actor, action="user.totp_enabled", object_type="user", object_id=actor.id)


def disable(session: Session, *, actor: User, code: str) -> None:
    if actor.totp_secret is None:
        raise ServiceError("Two-factor sign-in is not on.")
    if _accepted_step(actor.totp_secret, code, actor.totp_last_step) is None:
        raise ServiceError("That code does not match.")
    actor.totp_secret = None
    actor.totp_last_step = None
    audit.record(session, actor=actor, action="user.totp_disabled", object_type="user", object_id=actor.id)


def verify_sign_in(session: Session, *, user: User, code: str, ip: str | None) -> bool:
    """Second step of sign-in. A wrong code counts as a failed sign-in (and so towards throttling)."""
    assert user.totp_secret is not None
    step = _accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        session.add(LoginFailure(email=user.email, ip=ip))
        audit.record(session, actor=None, actor_label=user.email, action="login.code_failed",
                     data={"email": user.email})
        return False
    user.totp_last_step = step
    return True
