"""Start-up refuses bad configuration with one readable line, never a traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    full_env.update(env or {})
    return subprocess.run([BREACHDESK, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def test_unreachable_postgres_stops_start_up_with_one_line(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    with pytest.raises(StartupError, match="Cannot reach the database at postgresql"):
        create_app(instance_path=tmp_path, database_url=url, secret_key="x")
    result = run_cli("users", "list", env={"BREACHDESK_DATABASE_URL": url,
                                           "BREACHDESK_SECRET_KEY": "x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("breachdesk: Cannot reach the database")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_database_url_is_named(tmp_path):
    with pytest.raises(StartupError, match="not a usable database URL"):
        create_app(instance_path=tmp_path, database_url="not a url at all", secret_key="x")


def test_unmigrated_database_tells_you_to_upgrade(tmp_path):
    result = run_cli("users", "list", env={"BREACHDESK_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3"})
    assert result.returncode == 2
    assert "breachdesk db upgrade" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_creates_a_new_sqlite_file_in_wal_mode(tmp_path):
    db_file = tmp_path / "fresh.sqlite3"
    result = run_cli("db", "upgrade", env={"BREACHDESK_DATABASE_URL": f"sqlite:///{db_file}"})
    assert result.returncode == 0, result.stderr
    import sqlite3

    connection = sqlite3.connect(db_file)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_broken_workflow_file_stops_start_up_with_file_and_line(tmp_path):
    import shutil

    workflows = tmp_path / "workflows"
    shutil.copytree(ROOT / "workflows", workflows)
    target = workflows / "press-referral.yaml"
    lines = target.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("to:"))
    lines[index] = lines[index].split("to:")[0] + "to: nowhere_at_all"
    target.write_text("\n".join(lines) + "\n")
    with pytest.raises(StartupError) as raised:
        create_app(instance_path=tmp_path, database_url=f"sqlite:///{tmp_path}/x.sqlite3", secret_key="x",
                   workflows_path=workflows)
    message = str(raised.value)
    assert f"press-referral.yaml, line {index + 1}" in message
    assert "unknown state 'nowhere_at_all'" in message


def test_secret_key_is_generated_once_and_kept_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("BREACHDESK_SECRET_KEY", raising=False)
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/k.sqlite3")
    first = create_app(instance_path=tmp_path / "inst").config["SECRET_KEY"]
    second = create_app(instance_path=tmp_path / "inst").config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_come_from_breachdesk_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite3")
    monkeypatch.setenv("BREACHDESK_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("BREACHDESK_CALENDAR", "scotland")
    app = create_app(instance_path=tmp_path)
    settings = app.config["BREACHDESK"]
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert settings.database_url.endswith("env.sqlite3")
    assert settings.default_calendar == "scotland" and settings.timezone == "Europe/London"


def test_sqlite_connections_use_wal_foreign_keys_a_busy_timeout_and_rarer_checkpoints(tmp_path):
    from sqlalchemy import text

    from app.extensions import SQLITE_WAL_AUTOCHECKPOINT_PAGES, make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/p.sqlite3")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SQLITE_WAL_AUTOCHECKPOINT_PAGES > 1000


def _wait_for(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_thread_of_its_own_copies_the_write_ahead_log_into_the_database_file_not_the_committing_connection(
        tmp_path):
    from sqlalchemy import text

    from app.extensions import make_engine, wal_checkpointer

    path = tmp_path / "c.sqlite3"
    engine = make_engine(f"sqlite:///{path}", sqlite_checkpoint_interval=0.05)
    checkpointer = wal_checkpointer(engine)
    assert checkpointer is not None and not checkpointer.running  # started by the first connection
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x BLOB)"))
    assert checkpointer.running
    size = path.stat().st_size
    with engine.begin() as connection:  # about 2 MB: far fewer pages than make a commit checkpoint
        connection.execute(text("INSERT INTO t VALUES (randomblob(1000000)), (randomblob(1000000))"))
    assert _wait_for(lambda: path.stat().st_size > size + 2_000_000), "the log was never copied into the file"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2

    engine.dispose()
    assert not checkpointer.running


def test_an_in_memory_database_and_postgresql_have_no_checkpointer(tmp_path):
    from app.extensions import make_engine, wal_checkpointer

    assert wal_checkpointer(make_engine("sqlite://")) is None
    assert wal_checkpointer(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")) is None
    assert wal_checkpointer(make_engine(f"sqlite:///{tmp_path}/off.sqlite3", sqlite_checkpoint_interval=None)) is None


def test_sqlite_connections_get_the_configured_page_cache(tmp_path, monkeypatch):
    from sqlalchemy import text

    from app.extensions import db

    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/cache.sqlite3")
    monkeypatch.setenv("BREACHDESK_SECRET_KEY", "x")
    create_app(instance_path=tmp_path)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -256 * 1024  # the default, in KiB

    monkeypatch.setenv("BREACHDESK_SQLITE_CACHE_MB", "32")
    assert create_app(instance_path=tmp_path).config["BREACHDESK"].sqlite_cache_mb == 32
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -32 * 1024


def test_a_bulk_writer_can_give_its_connection_a_small_page_cache(db):
    from sqlalchemy import text

    from app.extensions import limit_sqlite_cache
    from app.imports_cli import IMPORT_SQLITE_CACHE_MB

    limit_sqlite_cache(db, IMPORT_SQLITE_CACHE_MB)  # what the import does at each batch; PostgreSQL: nothing
    if db.get_bind().dialect.name == "sqlite":
        assert db.execute(text("PRAGMA cache_size")).scalar() == -IMPORT_SQLITE_CACHE_MB * 1024
    db.rollback()


@pytest.mark.parametrize("value, problem", [("0", "must be at least 1 (megabytes), not 0"),
                                            ("-5", "must be at least 1 (megabytes), not -5"),
                                            ("lots", "must be a whole number, not 'lots'")])
def test_a_bad_sqlite_cache_size_stops_start_up_naming_the_setting(tmp_path, monkeypatch, value, problem):
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/c.sqlite3")
    monkeypatch.setenv("BREACHDESK_SQLITE_CACHE_MB", value)
    with pytest.raises(StartupError, match=re.escape(f"BREACHDESK_SQLITE_CACHE_MB {problem}")):
        create_app(instance_path=tmp_path)


def test_the_cli_is_a_flask_group_with_our_commands():
    result = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    for command in ("db", "users", "workflows", "demo", "audit", "deadline", "run"):
        assert command in result.stdout


def test_the_default_calendar_setting_is_used_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/c.sqlite3")
    monkeypatch.setenv("BREACHDESK_CALENDAR", "wales")
    with pytest.raises(StartupError, match="BREACHDESK_CALENDAR must be one of england-and-wales"):
        create_app(instance_path=tmp_path)
    result = run_cli("users", "list", env={"BREACHDESK_DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
                                           "BREACHDESK_CALENDAR": "wales"})
    assert result.returncode == 2 and result.stderr.startswith("breachdesk: BREACHDESK_CALENDAR")


def test_the_open_form_starts_on_the_configured_calendar(client, app, signed_in):
    app.config["BREACHDESK"].default_calendar = "scotland"
    signed_in("comms", team="communications")
    html = client.get("/incidents/new").get_data(as_text=True)
    assert '<option selected value="scotland">' in html or 'value="scotland" selected' in html
