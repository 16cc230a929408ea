"""argon2id password hashing with parameters above the OWASP / ASVS 5.0 minimum (t=2, m=19 MiB, p=1)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12

hasher = PasswordHasher(time_cost=2, memory_cost=32 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher.hash("no account has this password, it only costs time")


def burn_verification_time(password: str) -> None:
    """Spend what a real check costs, so unknown accounts answer as slowly as known ones."""
    verify_password(_dummy_hash(), password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from zxcvbn's frequency lists (shipped in the package)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None. Long passphrases and any Unicode are welcome."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    if password.strip() == "" or len(set(password)) < 4:
        return "Use a password with more variety than that."
    folded = password.casefold()
    stripped = folded.rstrip("0123456789!?. ")
    if folded in common_passwords() or (len(stripped) >= 6 and stripped in common_passwords()):
        return "That password is on the list of commonly used passwords; choose another."
    return None
