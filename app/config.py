"""Settings from environment variables, all prefixed ``BREACHDESK_``.

Nothing secret is a constant in code: when ``BREACHDESK_SECRET_KEY`` is unset a random key is
generated once and kept in the instance folder, so sessions survive restarts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "BREACHDESK_"
# SQLite's page cache per connection (``PRAGMA cache_size``), in MB, unless BREACHDESK_SQLITE_CACHE_MB says otherwise.
DEFAULT_SQLITE_CACHE_MB = 256


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(PREFIX + name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name} must be a whole number, not {value!r}") from exc


def _at_least_one(name: str, default: int, unit: str) -> int:
    value = _env_int(name, default)
    if value < 1:
        raise ValueError(f"{PREFIX}{name} must be at least 1 ({unit}), not {value}")
    return value


def _known_calendar(name: str) -> str:
    from app.timing import CALENDAR_NAMES

    if name not in CALENDAR_NAMES:
        raise ValueError(f"{PREFIX}CALENDAR must be one of {', '.join(CALENDAR_NAMES)}, not {name!r}")
    return name


def workflows_path_from_env() -> Path:
    return Path(_env("WORKFLOWS_PATH") or Settings.workflows_path)


def secret_key_for(instance_path: Path) -> str:
    """Return the configured secret key, or one generated and stored in the instance folder."""
    configured = _env("SECRET_KEY")
    if configured:
        return configured
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with owner-only permissions: the key signs every session cookie.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass
class Settings:
    """Everything configurable, read once at start-up. Tests pass overrides to ``create_app``."""

    instance_path: Path
    database_url: str = ""
    secret_key: str = ""
    env: str = "development"
    timezone: str = "Europe/London"
    default_calendar: str = "england-and-wales"
    workflows_path: Path = Path(__file__).resolve().parent.parent / "workflows"
    evidence_path: Path | None = None
    mail_host: str = "localhost"
    mail_port: int = 25
    mail_starttls: bool = False
    mail_username: str | None = None
    mail_password: str | None = None
    mail_sender: str = "breachdesk@localhost"
    mail_ca_file: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    idle_timeout_minutes: int = 30
    absolute_timeout_hours: int = 12
    login_max_failures: int = 5
    login_window_minutes: int = 15
    # SQLite's page cache per connection, in MB: a ceiling, filled only as pages are read.
    sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB
    # Mail-in: recipient local part (or subject tag) -> workflow, e.g. "press=press-referral,escalate=antagonistic-tag".
    mail_in_routes: str = "press=press-referral,escalate=antagonistic-tag"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, instance_path: Path) -> Settings:
        default_db = "sqlite:///" + str(instance_path / "breachdesk.sqlite3")
        return cls(
            instance_path=instance_path,
            database_url=_env("DATABASE_URL", default_db) or default_db,
            secret_key=secret_key_for(instance_path),
            env=_env("ENV", "development") or "development",
            timezone=_env("TIMEZONE", "Europe/London") or "Europe/London",
            default_calendar=_known_calendar(_env("CALENDAR", "england-and-wales") or "england-and-wales"),
            workflows_path=workflows_path_from_env(),
            evidence_path=Path(p) if (p := _env("EVIDENCE_PATH")) else None,
            mail_host=_env("MAIL_HOST", "localhost") or "localhost",
            mail_port=_env_int("MAIL_PORT", 25),
            mail_starttls=_env_bool("MAIL_STARTTLS", False),
            mail_username=_env("MAIL_USERNAME"),
            mail_password=_env("MAIL_PASSWORD"),
            mail_sender=_env("MAIL_SENDER", "breachdesk@localhost") or "breachdesk@localhost",
            mail_ca_file=_env("MAIL_CA_FILE"),
            base_url=_env("BASE_URL", "http://127.0.0.1:5000") or "http://127.0.0.1:5000",
            idle_timeout_minutes=_env_int("IDLE_TIMEOUT_MINUTES", 30),
            absolute_timeout_hours=_env_int("ABSOLUTE_TIMEOUT_HOURS", 12),
            sqlite_cache_mb=_at_least_one("SQLITE_CACHE_MB", DEFAULT_SQLITE_CACHE_MB, "megabytes"),
            mail_in_routes=_env("MAIL_IN_ROUTES", Settings.mail_in_routes) or Settings.mail_in_routes,
        )

    def to_flask(self) -> dict[str, Any]:
        """The Flask config keys the extensions read."""
        secure = self.base_url.startswith("https://")
        return {
            "SECRET_KEY": self.secret_key,
            "BREACHDESK": self,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": secure,
            "WTF_CSRF_TIME_LIMIT": None,
            "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
            "MAX_FORM_PARTS": 50,
            **self.extra,
        }

