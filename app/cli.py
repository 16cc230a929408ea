"""The ``breachdesk`` command: a Flask CLI group over ``create_app`` plus Breachdesk's own commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from app import ROOT, create_app
from app.errors import StartupError
from app.escalate.mail_cli import mail_in as mail_in_cli
from app.extensions import db
from app.imports_cli import import_cli
from app.roles import ROLE_NAMES
from app.services import ServiceError


def _app_factory():  # type: ignore[no-untyped-def]
    return create_app()


cli = FlaskGroup(create_app=_app_factory, add_default_commands=True, help="Breachdesk case tracker.")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"breachdesk: {message}", err=True)
    sys.exit(code)


# --- database ---------------------------------------------------------------------------------

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
cli.add_command(db_cli)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database (an empty SQLite file is created if needed)."""
    from alembic import command

    url = current_app.config["BREACHDESK"].database_url
    command.upgrade(alembic_config(url), revision)
    click.echo(f"Database is at revision {revision} ({db.engine.url.render_as_string(hide_password=True)}).")


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from alembic import command

    command.current(alembic_config(current_app.config["BREACHDESK"].database_url))


# --- users ------------------------------------------------------------------------------------

users_cli = AppGroup("users", help="Accounts.")
cli.add_command(users_cli)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES), help="What they do in Breachdesk.")
@click.option("--team", "team_key", help="Team key, e.g. communications (created if new).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def users_create(email: str, name: str, role: str, team_key: str | None, password_stdin: bool) -> None:
    """Create an account. Without --password-stdin you are asked for the password twice."""
    from app.services.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(db.session, actor=None, email=email, name=name, role=role, password=password,
                           team_key=team_key)
    except ServiceError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("list")
def users_list() -> None:
    """List accounts."""
    from app.models import User

    users = db.session.scalars(select(User).order_by(User.email)).all()
    if not users:
        click.echo("No accounts yet. Create one with: breachdesk users create EMAIL --name NAME --role admin")
        return
    width = max(len(u.email) for u in users)
    for user in users:
        team = user.team.key if user.team else "-"
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email:<{width}}  {user.role:<17} {team:<16} {state:<8} {user.name}")


@users_cli.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable an account and end its sessions."""
    from app.services.users import disable_user, find_by_email

    user = find_by_email(db.session, email)
    if user is None:
        fail(f"no account for {email}")
    try:
        disable_user(db.session, actor=None, user=user)
    except ServiceError as error:
        fail(str(error))
    db.session.commit()
    click.echo(f"Disabled {user.email}; their sessions have ended.")


# --- workflows --------------------------------------------------------------------------------

workflows_cli = AppGroup("workflows", help="Workflow definitions.")
cli.add_command(workflows_cli)


@workflows_cli.command("check", with_appcontext=False)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def workflows_check(paths: tuple[Path, ...]) -> None:
    """Check workflow files (default: every file in workflows/). Exits 1 on any problem."""
    from app.config import workflows_path_from_env
    from app.policy import load_catalogues
    from app.workflow.loader import load_workflow_dir
    from app.workflow.source import DefinitionError

    base = workflows_path_from_env()
    shipped = sorted(base.glob("*.yaml"))
    files = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])] if paths else shipped
    try:
        catalogues = load_catalogues(base / "policies")
        if not paths:
            load_workflow_dir(shipped, catalogues.known)  # every shipped file, checked with the ones it links to
        for file in files if paths else []:
            # Each named file is checked with the shipped files it may link to (but not its namesake).
            load_workflow_dir([file, *(f for f in shipped if f.stem != file.stem)], catalogues.known)
        from app.services.retention import load_for as load_retention

        load_retention(base)  # the retention periods (workflows/data-protection/retention.yaml)
    except DefinitionError as error:
        fail(str(error))
    click.echo(f"{len(files)} workflow file(s) OK; {len(list(catalogues))} policy catalogue(s) OK.")


@workflows_cli.command("show")
@click.argument("key")
def workflows_show(key: str) -> None:
    """Print a workflow's states, transitions and time limits."""
    registry = current_app.extensions["breachdesk.workflows"]
    if key not in registry:
        fail(f"no workflow {key!r}; known: {', '.join(sorted(registry.current))}")
    d = registry.get(key)
    click.echo(f"{d.title} ({d.key}, version {d.version}, {d.side} side)")
    click.echo("\nStates:")
    for s in d.states.values():
        marks = [m for m, on in (("start", s.key == d.initial), ("final", s.final), ("clock paused", s.clock_paused))
                 if on]
        click.echo(f"  {s.key:<28} {s.title}" + (f"  [{', '.join(marks)}]" if marks else ""))
    click.echo("\nTransitions:")
    for t in d.transitions.values():
        click.echo(f"  {t.key:<28} {', '.join(t.from_states)} -> {t.to}   roles: {', '.join(t.roles)}")
        for f in t.fields:
            click.echo(f"      field {f.key} ({f.type}{', required' if f.required else ''})")
    if d.deadlines:
        click.echo("\nDeadlines:")
        for dl in d.deadlines.values():
            click.echo(f"  {dl.key:<28} {dl.duration:<22} {dl.why}")


@workflows_cli.command("migrate")
@click.argument("key")
@click.option("--dry-run", is_flag=True, help="Say what would move without changing anything.")
def workflows_migrate(key: str, dry_run: bool) -> None:
    """Move open incidents of KEY to the current file's version (only if every state still exists)."""
    from app.services.workflow_versions import MigrationBlocked, migrate_open_incidents

    registry = current_app.extensions["breachdesk.workflows"]
    if key not in registry:
        fail(f"no workflow {key!r}")
    try:
        moved = migrate_open_incidents(db.session, registry, key, actor=None, dry_run=dry_run)
    except MigrationBlocked as blocked:
        db.session.rollback()
        fail(str(blocked))
    if dry_run:
        db.session.rollback()
        click.echo(f"Would move {len(moved)} open incident(s) to version {registry.get(key).version}.")
    else:
        db.session.commit()
        click.echo(f"Moved {len(moved)} open incident(s) to version {registry.get(key).version}.")


# --- audit, deadlines, demo ------------------------------------------------------------------

audit_cli = AppGroup("audit", help="The tamper-evident audit trail.")
cli.add_command(audit_cli)


@audit_cli.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; name the first broken row. Exits 1 if the chain is broken."""
    from app.models import AuditEvent
    from app.services.audit import verify_chain

    problem = verify_chain(db.session)
    count = db.session.scalar(select(func.count(AuditEvent.id)))
    if problem:
        where = f"row {problem.event_id}" if problem.event_id else "the end of the chain"
        fail(f"audit chain broken at {where}: {problem.reason}")
    click.echo(f"Audit chain intact: {count} row(s).")


@cli.command("deadline", with_appcontext=False)
@click.argument("start", metavar="FROM")
@click.argument("duration", nargs=-1, required=True)
@click.option("--calendar", default="england-and-wales", show_default=True,
              help="england-and-wales, scotland or northern-ireland")
def deadline(start: str, duration: tuple[str, ...], calendar: str) -> None:
    """Print when DURATION from FROM falls due (ISO 8601).

    \b
    Examples:
      breachdesk deadline 2026-12-23 5 working days          -> 2027-01-04
      breachdesk deadline 2026-11-27 1 working day --calendar scotland
      breachdesk deadline 2026-05-31 3 months less 1 day     -> 2026-08-30
      breachdesk deadline 2026-11-23T10:00 24 hours          -> 2026-11-24T10:00:00+00:00
    """
    from datetime import datetime

    from app.timing import (
        DurationError,
        UnknownCalendar,
        WhenError,
        due_at,
        due_date,
        get_calendar,
        parse_duration,
        parse_when,
    )

    try:
        cal = get_calendar(calendar)
        parsed = parse_duration(" ".join(duration))
        when = parse_when(start)
        if parsed.is_hours:
            if not isinstance(when, datetime):
                fail(f"'{' '.join(duration)}' is counted in hours: give FROM as a date and time, e.g. {start}T09:00")
            click.echo(due_at(when, parsed, cal).astimezone(when.tzinfo).isoformat())
        else:
            day = when.date() if isinstance(when, datetime) else when
            click.echo(due_date(day, parsed, cal).isoformat())
    except (DurationError, WhenError, UnknownCalendar) as error:
        fail(str(error))


deadlines_cli = AppGroup("deadlines", help="The deadline sweep.")
cli.add_command(deadlines_cli)


def _parse_now(text: str | None):  # type: ignore[no-untyped-def]
    from datetime import datetime

    from app.timing import LONDON

    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--now {text!r} is not an ISO 8601 date-time such as 2026-12-01T09:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


# PostgreSQL: someone moved an incident on between a sweep reading it and escalating it (IncidentChangedElsewhere).
SWEEP_RACED = ("an incident the sweep was escalating was changed by someone else at the same moment; nothing of "
               "this sweep was kept")


@deadlines_cli.command("sweep")
@click.option("--now", "now_text", help="Sweep as of this ISO 8601 time (UK time if no offset), for what-if checks.")
def deadlines_sweep(now_text: str | None) -> None:
    """Run one sweep: queue due reminders, escalate passed deadlines, expire warnings."""
    from app.clock import frozen_at
    from app.services.incidents import IncidentChangedElsewhere
    from app.services.sweep import run_sweep

    now = _parse_now(now_text)
    registry = current_app.extensions["breachdesk.workflows"]
    try:
        if now is None:
            report = run_sweep(db.session, registry)
        else:
            with frozen_at(now):
                report = run_sweep(db.session, registry, now)
    except IncidentChangedElsewhere:
        db.session.rollback()
        fail(f"{SWEEP_RACED}: run it again")
    db.session.commit()
    click.echo(report.summary())
    for line in report.escalations:
        click.echo(f"  escalated {line}")


@cli.group("counts")
def counts_cli() -> None:
    """The dashboards' running counts (kept by the database as incidents change)."""


@counts_cli.command("fold")
def counts_fold() -> None:
    """Sum the counts' change rows into one row per key (the worker does this every sweep)."""
    from app.services import counts

    folded = counts.fold(db.session)
    db.session.commit()
    click.echo(f"{folded} row(s) folded")


@counts_cli.command("check")
def counts_check() -> None:
    """Recount from the incidents and compare; exit 1 listing each difference."""
    from app.services import counts

    differences = counts.drift(db.session)
    for key, (kept, should) in sorted(differences.items(), key=str):
        click.echo(f"{dict(zip(counts.KEY_NAMES, key, strict=True))}: kept {kept}, should be {should}", err=True)
    if differences:
        raise SystemExit(1)
    click.echo("the dashboard counts agree with the incidents")


@cli.command("worker")
@click.option("--interval", default=60, show_default=True, help="Seconds between sweeps.")
@click.option("--once", is_flag=True, help="Run one sweep and one delivery, then exit.")
def worker(interval: int, once: bool) -> None:
    """Sweep deadlines and deliver the outbox every minute (several workers may run on PostgreSQL)."""
    import time

    import app as breachdesk
    from app.services import counts
    from app.services.incidents import IncidentChangedElsewhere
    from app.services.mailer import SmtpSettings, deliver_outbox
    from app.services.sweep import run_sweep

    registry = current_app.extensions["breachdesk.workflows"]
    smtp = SmtpSettings.from_settings(current_app.config["BREACHDESK"])
    # A long-running process, like the web server's workers: what start-up built is kept out of the garbage
    # collector's reach, which collects less often (a sweep of 10,000 due deadlines at a million incidents took
    # 3.7-3.9 s instead of 4.0-4.3, bench/RESULTS.md run 22).
    breachdesk.freeze_startup_objects()
    while True:
        started = time.monotonic()
        try:
            report = run_sweep(db.session, registry)
            db.session.commit()
            delivery = deliver_outbox(db.session, smtp)
            db.session.commit()
            folded = counts.fold(db.session)
            db.session.commit()
            click.echo(f"{report.summary()}; e-mail: {delivery.sent} sent, {delivery.retrying} to retry, "
                       f"{delivery.failed} failed; {folded} dashboard count row(s) folded")
        except (OperationalError, ProgrammingError) as error:
            db.session.rollback()
            click.echo(f"breachdesk worker: database error, will retry: {str(error.orig).strip()}", err=True)
        except IncidentChangedElsewhere:
            # PostgreSQL: someone moved an incident on between the sweep reading it and escalating it. Nothing
            # of this sweep is kept; its deadlines are still unmarked, so the next sweep takes them again.
            db.session.rollback()
            click.echo(f"breachdesk worker: {SWEEP_RACED}; the next one takes its deadlines again", err=True)
        finally:
            db.session.remove()
        if once:
            return
        time.sleep(max(1.0, interval - (time.monotonic() - started)))


@cli.command("demo")
@click.option("--password", default=None, help="Password for every demo account (default: breachdesk-demo-2026).")
def demo(password: str | None) -> None:
    """Create (or refresh) a demo organisation: one user per role and realistic incidents."""
    from app.services.demo import DEMO_PASSWORD, load_demo

    settings = current_app.config["BREACHDESK"]
    if settings.env == "production":
        fail("refusing to create demo accounts in production (BREACHDESK_ENV=production)")
    result = load_demo(db.session, current_app.extensions["breachdesk.workflows"], password or DEMO_PASSWORD)
    db.session.commit()
    click.echo(f"Demo organisation ready: {result.incidents} incident(s) ({result.created} new).")
    click.echo(f"Sign in at {settings.base_url}/login with any of these (password: {password or DEMO_PASSWORD}):")
    for email, role in result.accounts:
        click.echo(f"  {email:<34} {role}")


# --- API tokens -------------------------------------------------------------------------------

tokens_cli = AppGroup("tokens", help="Bearer tokens for the JSON API (/api/v1).")
cli.add_command(tokens_cli)
cli.add_command(import_cli)  # breachdesk import posts|people (app/imports_cli.py)
cli.add_command(mail_in_cli)  # breachdesk mail-in [--listen HOST:PORT] (app/escalate/mail_cli.py)


@tokens_cli.command("create")
@click.option("--user", "email", required=True, help="E-mail address of the account the token acts as.")
@click.option("--name", default=None, help="What the token is for, e.g. 'monitoring script'.")
def tokens_create(email: str, name: str | None) -> None:
    """Create a token and print it (only the token, on one line). It is shown once and stored hashed."""
    from app.services.tokens import create_token
    from app.services.users import find_by_email

    user = find_by_email(db.session, email)
    if user is None:
        fail(f"no account for {email}")
    try:
        _row, token = create_token(db.session, user=user, name=name)
    except ServiceError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    click.echo(token)


@tokens_cli.command("list")
@click.option("--user", "email", default=None, help="Only this account's tokens.")
def tokens_list(email: str | None) -> None:
    """List tokens: id, account, name, start of the token, created, last used, status."""
    from app.services.tokens import list_tokens
    from app.services.users import find_by_email

    user = None
    if email:
        user = find_by_email(db.session, email)
        if user is None:
            fail(f"no account for {email}")
    rows = list_tokens(db.session, user)
    if not rows:
        click.echo("No API tokens. Create one with: breachdesk tokens create --user EMAIL")
        return
    width = max(len(r.user.email) for r in rows)
    for row in rows:
        status = "revoked" if row.revoked_at else ("user disabled" if not row.user.active else "active")
        last = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never"
        click.echo(f"{row.id:>4}  {row.user.email:<{width}}  {row.hint}…  {row.created_at:%Y-%m-%d %H:%M}  "
                   f"last used {last:<16}  {status:<13}  {row.name}")


@tokens_cli.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by its id (from tokens list); it stops working at once."""
    from app.services.tokens import revoke_token

    try:
        row = revoke_token(db.session, token_id)
    except ServiceError as error:
        db.session.rollback()
        fail(str(error))
    db.session.commit()
    click.echo(f"Revoked API token {row.id} ({row.user.email}, {row.name}).")


# --- data protection: retention, subject access, erasure ------------------------------------------

retention_cli = AppGroup("retention", help="Retention of closed files (workflows/data-protection/retention.yaml).")
cli.add_command(retention_cli)


def _actor(email: str | None):  # type: ignore[no-untyped-def]
    from app.services.users import find_by_email

    if not email:
        return None
    user = find_by_email(db.session, email)
    if user is None:
        fail(f"no account for {email}", 2)
    return user


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="List what is due (and what is held) without changing anything.")
@click.option("--as", "email", default=None, help="The administrator running it (default: the system).")
def retention_run(dry_run: bool, email: str | None) -> None:
    """Carry out (or list) every retention step that is due; files under a legal hold are left alone."""
    from app.services.retention import delete_files, run_retention

    actor = _actor(email)
    settings = current_app.config["BREACHDESK"]

    def progress(number: int, total: int, item) -> None:  # type: ignore[no-untyped-def]
        verb = "held" if item.held else ("due" if dry_run else "done")
        click.echo(f"[{number}/{total}] {verb:<5} {item.line()}")

    report = run_retention(db.session, current_app.extensions["breachdesk.workflows"],
                           current_app.extensions["breachdesk.retention"], folder=settings.evidence_path,
                           actor=actor, dry_run=dry_run, progress=progress)
    if dry_run:
        db.session.rollback()
        click.echo(f"Dry run: {len(report.done)} step(s) due, {len(report.held)} held; nothing changed.")
        return
    db.session.commit()
    delete_files(report)
    click.echo(report.summary())


@cli.command("sar")
@click.argument("person")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the archive (default: sar-<person id>-<date>.zip here).")
@click.option("--as", "email", default=None, help="The administrator answering the request.")
def sar(person: str, out: Path | None, email: str | None) -> None:
    """Subject access: write a zip of everything held about PERSON (id, e-mail or exact name), other
    people's details removed, and open the request's one-month deadline if none is open."""
    from app.services.subject_access import build_archive, find_person, open_request

    actor = _actor(email)
    try:
        subject = find_person(db.session, person)
    except ServiceError as error:
        db.session.rollback()
        fail(str(error), 2)
    registry = current_app.extensions["breachdesk.workflows"]
    request = open_request(db.session, registry, subject, actor=actor)
    archive = build_archive(db.session, registry, subject, actor=actor, request=request)
    target = out or Path(f"sar-{subject.id}-{archive.made_on}.zip")
    target.write_bytes(archive.data)
    db.session.commit()
    click.echo(f"Wrote {target} ({len(archive.sources)} source(s), {len(archive.data)} bytes); "
               f"request {request.reference} due {archive.due}.")


@cli.command("erase")
@click.argument("person")
@click.option("--as", "email", required=True, help="The administrator carrying out the erasure.")
@click.option("--reason", required=True, help="Why (e.g. the request's reference).")
def erase(person: str, email: str, reason: str) -> None:
    """Erase PERSON's personal data across incidents (refused under a legal hold or legal-claims exemption)."""
    from app.services.erasure import erase_person
    from app.services.subject_access import find_person

    actor = _actor(email)
    try:
        subject = find_person(db.session, person)
        result = erase_person(db.session, current_app.extensions["breachdesk.workflows"], subject, actor=actor,
                              reason=reason, folder=current_app.config["BREACHDESK"].evidence_path)
    except ServiceError as error:
        db.session.rollback()
        fail(str(error), 2)
    db.session.commit()
    result.delete_files()
    click.echo(result.summary())


def main() -> None:
    try:
        cli.main(prog_name="breachdesk")
    except StartupError as error:
        fail(str(error), 2)
    except (OperationalError, ProgrammingError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        fail(f"database error: {reason}. Has `breachdesk db upgrade` been run on this database?", 2)


if __name__ == "__main__":
    main()
