"""The breachdesk command, run as a newcomer or a script would run it."""

import os
import sqlite3
import subprocess

from tests.conftest import BREACHDESK


def test_users_create_list_disable(cli_env):
    created = cli_env("users", "create", "Rep@Example.org", "--name", "Rae Rep", "--role", "rep",
                      "--team", "reps-north", "--password-stdin", stdin="a long rep password\n")
    assert created.returncode == 0, created.stderr
    assert "Created rep@example.org (rep)" in created.stdout
    listing = cli_env("users", "list")
    assert "rep@example.org" in listing.stdout and "reps-north" in listing.stdout and "active" in listing.stdout
    assert cli_env("users", "disable", "rep@example.org").returncode == 0
    assert "disabled" in cli_env("users", "list").stdout


def test_users_create_refuses_bad_input_with_a_reason(cli_env):
    short = cli_env("users", "create", "a@example.org", "--name", "A", "--role", "comms", "--password-stdin",
                    stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    bad_role = cli_env("users", "create", "a@example.org", "--name", "A", "--role", "king", "--password-stdin",
                       stdin="long enough password\n")
    assert bad_role.returncode == 2 and "king" in bad_role.stderr
    cli_env("users", "create", "a@example.org", "--name", "A", "--role", "comms", "--password-stdin",
            stdin="long enough password\n")
    duplicate = cli_env("users", "create", "A@example.org", "--name", "A", "--role", "comms", "--password-stdin",
                        stdin="long enough password\n")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr


def test_no_accounts_exist_until_someone_creates_them(cli_env):
    assert "No accounts yet" in cli_env("users", "list").stdout


def test_demo_is_idempotent_and_prints_sign_in_details(cli_env):
    first = cli_env("demo")
    assert first.returncode == 0, first.stderr
    assert "admin@demo.breachdesk.example" in first.stdout and "password: breachdesk-demo-2026" in first.stdout
    assert "6 incident(s) (6 new)" in first.stdout
    second = cli_env("demo")
    assert "6 incident(s) (0 new)" in second.stdout
    roles = {line.split()[-1] for line in second.stdout.splitlines() if "@demo.breachdesk.example" in line}
    assert roles == {"admin", "comms", "director_of_comms", "press_office", "officer", "rep",
                     "regional_officer", "auditor", "contributor"}


def test_demo_refuses_to_run_in_production():
    result = subprocess.run([BREACHDESK, "demo"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "BREACHDESK_ENV": "production",
                                 "BREACHDESK_DATABASE_URL": "sqlite:////tmp/never-used-prod.sqlite3",
                                 "BREACHDESK_SECRET_KEY": "x"})
    assert result.returncode == 1 and "refusing" in result.stderr


def test_audit_verify_reports_an_intact_chain(cli_env):
    cli_env("demo")
    result = cli_env("audit", "verify")
    assert result.returncode == 0 and "Audit chain intact" in result.stdout


def test_audit_verify_names_a_tampered_row(cli_env, tmp_path):
    import sqlite3

    cli_env("demo")
    connection = sqlite3.connect(tmp_path / "cli.sqlite3")
    connection.execute("UPDATE audit_events SET actor_label = 'someone else' WHERE id = 3")
    connection.commit()
    result = cli_env("audit", "verify")
    assert result.returncode == 1 and "row 3" in result.stderr


def test_deadline_command_prints_iso_dates(cli_env):
    assert cli_env("deadline", "2026-12-23", "5", "working", "days").stdout.strip() == "2027-01-04"
    assert cli_env("deadline", "2026-05-31", "3 months less 1 day").stdout.strip() == "2026-08-30"
    hours = cli_env("deadline", "2026-11-23T10:00", "24 hours").stdout.strip()
    assert hours == "2026-11-24T10:00:00+00:00"
    bad = cli_env("deadline", "2026-11-23", "5 fortnights")
    assert bad.returncode == 1 and "fortnights" in bad.stderr
    wrong_calendar = cli_env("deadline", "2026-11-23", "1 working day", "--calendar", "wales")
    assert wrong_calendar.returncode == 1 and "wales" in wrong_calendar.stderr


def test_counts_check_and_fold_say_what_they_did_and_catch_a_count_gone_wrong(cli_env):
    assert cli_env("demo").returncode == 0
    checked = cli_env("counts", "check")
    assert checked.returncode == 0 and "agree" in checked.stdout
    folded = cli_env("counts", "fold")
    assert folded.returncode == 0 and "row(s) folded" in folded.stdout
    assert int(folded.stdout.split()[0]) > 0
    assert cli_env("counts", "check").returncode == 0, "folding keeps every count"

    with sqlite3.connect(cli_env.url.removeprefix("sqlite:///")) as connection:  # a count tampered with
        connection.execute("UPDATE incident_counts SET n = n + 1 WHERE id = (SELECT min(id) FROM incident_counts)")
    drifted = cli_env("counts", "check")
    assert drifted.returncode == 1 and "kept" in drifted.stderr and "should be" in drifted.stderr


def test_the_worker_sets_up_its_process_as_a_long_running_server(tmp_path, migrated_sqlite_file, monkeypatch):
    """The worker freezes what start-up built and collects garbage less often, as the web server's workers do."""
    import shutil

    from click.testing import CliRunner

    import app as breachdesk
    from app.cli import cli

    shutil.copyfile(migrated_sqlite_file, tmp_path / "worker.sqlite3")
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/worker.sqlite3")
    monkeypatch.setenv("BREACHDESK_SECRET_KEY", "cli-test")
    frozen: list[bool] = []
    monkeypatch.setattr(breachdesk, "freeze_startup_objects", lambda: frozen.append(True))
    result = CliRunner().invoke(cli, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "deadline(s) passed" in result.output and frozen == [True]


def test_the_worker_outlives_a_sweep_that_met_an_incident_changed_by_someone_else(tmp_path, migrated_sqlite_file,
                                                                                    monkeypatch):
    """On PostgreSQL a user can move an incident on while the sweep escalates it: that sweep is undone and the
    worker carries on (it used to stop, taking reminders and escalations down with it)."""
    import shutil

    from click.testing import CliRunner

    import app as breachdesk
    from app.cli import cli
    from app.services import sweep
    from app.services.incidents import IncidentChangedElsewhere

    shutil.copyfile(migrated_sqlite_file, tmp_path / "worker.sqlite3")
    monkeypatch.setenv("BREACHDESK_DATABASE_URL", f"sqlite:///{tmp_path}/worker.sqlite3")
    monkeypatch.setenv("BREACHDESK_SECRET_KEY", "cli-test")
    # The real freeze would leave the rest of this test process with a server's collector settings.
    monkeypatch.setattr(breachdesk, "freeze_startup_objects", lambda: None)

    def raced(*_args: object, **_kwargs: object) -> None:
        raise IncidentChangedElsewhere("BD-2026-00001")

    monkeypatch.setattr(sweep, "run_sweep", raced)
    result = CliRunner().invoke(cli, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "changed by someone else" in result.stderr and "next one takes its deadlines again" in result.stderr

    # The one-off command says so too, and asks to be run again (it used to end in a traceback).
    once = CliRunner().invoke(cli, ["deadlines", "sweep"])
    assert once.exit_code == 1 and "changed by someone else" in once.stderr and "run it again" in once.stderr
    assert once.exception is None or isinstance(once.exception, SystemExit)
