"""``breachdesk import posts|people FILE``: the command-line side of app/services/imports.py.

The command owns the transactions: the service handles a batch of rows and flushes; this commits
each batch and starts a fresh session, so memory stays flat however long the file is. A batch that
fails as a whole (the database went away) is rolled back and the command stops; running it again
picks up where it stopped, since rows already imported are recognised.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db, limit_sqlite_cache
from app.models import User
from app.services import InvalidInput, ServiceError
from app.services import imports as import_service
from app.workflow import WorkflowRegistry

import_cli = AppGroup("import", help="Bulk import from monitoring and membership exports (CSV, JSON Lines).")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"breachdesk: {message}", err=True)
    sys.exit(code)


def _actor_id(email: str) -> int:
    from app.services.users import find_by_email

    user = find_by_email(db.session, email)
    if user is None or not user.active:
        _fail(f"--as {email}: no active account has that e-mail address")
    return user.id


def _open(path: Path, fmt: str | None, mappings: tuple[str, ...], known: tuple[str, ...],
          required: tuple[str, ...]) -> import_service.SourceFile:
    try:
        mapping = import_service.parse_mapping(mappings, known)
        source = import_service.SourceFile(path, import_service.detect_format(path, fmt), mapping).__enter__()
    except (InvalidInput, ServiceError) as error:
        _fail(str(error))
    if source.format == "csv":
        missing = [c for c in required if c not in source.columns]
        if missing:
            source.__exit__(None, None, None)
            _fail(f"{path.name} has no {' or '.join(repr(c) for c in missing)} column; its columns are "
                  f"{', '.join(repr(h) for h in source.header) or 'none'}. Name the column in the file or map it: "
                  f"--map 'Your column={missing[0]}'.")
        ignored = [h for h, c in zip(source.header, source.columns, strict=True) if c not in known]
        if ignored:
            click.echo(f"Ignoring column(s) Breachdesk does not read: {', '.join(ignored)}", err=True)
    return source


# A transaction holds the write lock (SQLite) and the audit chain's head row (every audited change
# elsewhere waits for it), so a batch is committed after --batch-size rows or this many seconds,
# whichever comes first: people using the web app while an import runs wait at most about this long.
MAX_BATCH_SECONDS = 1.0
CHUNK = 250  # rows handed to the service at a time (one set-based batch), between checks of the clock
# SQLite page cache of the importing connection: it appends rows and rarely reads a page twice, and the default
# (BREACHDESK_SQLITE_CACHE_MB, sized for the dashboards) added 67 MB to its memory at 20,000 rows and no speed.
IMPORT_SQLITE_CACHE_MB = 16


class _ProgressLines:
    """Progress for a log (standard error is not a terminal, where click's bar prints only its label):
    one line every ``every`` rows — rows so far, how far through the file, rows/s since the start."""

    def __init__(self, label: str, size: int, every: int) -> None:
        self.label, self.size, self.every = label, max(size, 1), every
        self.started = time.monotonic()
        self.next = every

    def __enter__(self) -> _ProgressLines:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def update(self, rows: int, position: int) -> None:
        if not self.every or rows < self.next:
            return
        self.next = (rows // self.every + 1) * self.every
        seconds = max(time.monotonic() - self.started, 1e-9)
        click.echo(f"{self.label}: {rows:,} rows ({min(100, 100 * position // self.size)}%), "
                   f"{rows / seconds:,.0f} rows/s", err=True)


# The second process takes about a second to start (it loads the workflows and catalogues): a smaller file is
# reviewed in this one.
PARALLEL_REVIEW_FROM_BYTES = 1_000_000
_reviewer_registry: WorkflowRegistry | None = None  # in the reviewing process: what it loaded


def _start_reviewer(workflows_path: str) -> None:
    from app import load_definitions

    global _reviewer_registry
    _catalogues, _reviewer_registry = load_definitions(Path(workflows_path))


def _review_in_reviewer(reviews: list[import_service.Review]) -> tuple[int, int]:
    assert _reviewer_registry is not None, "the pool's initializer loads it"
    return import_service.review_counts(reviews, _reviewer_registry)


class Reviewer:
    """Checks the texts of the rows an import wrote for patient or contact details and suggested clauses, for the
    summary's counts. With ``parallel``, a second process does it while this one reads and writes the next rows
    (the check was half of an import's time: bench/RESULTS.md run 18); otherwise it is done here, batch by batch.
    A few batches at most are waiting at any time, so memory stays flat. Should the second process fail, its
    batches are checked here instead: the counts never lose a row."""

    IN_FLIGHT = 4

    def __init__(self, registry: WorkflowRegistry, workflows_path: Path, parallel: bool) -> None:
        self.registry = registry
        self.with_pii = self.with_suggestions = 0
        self.waiting: deque[tuple[Future[tuple[int, int]], list[import_service.Review]]] = deque()
        # "spawn": a fresh interpreter, not a copy of this one with its open database connection.
        self.pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_start_reviewer,
                                        initargs=(str(workflows_path),)) if parallel else None

    def add(self, outcomes: list[import_service.RowOutcome]) -> None:
        reviews = [o.review for o in outcomes if o.review is not None]
        if not reviews:
            return
        if self.pool is None:
            self._count(import_service.review_counts(reviews, self.registry))
            return
        self.waiting.append((self.pool.submit(_review_in_reviewer, reviews), reviews))
        while len(self.waiting) > self.IN_FLIGHT:
            self._collect()

    def finish(self) -> tuple[int, int]:
        """(rows with personal details, rows with a suggested clause), once every batch is checked."""
        while self.waiting:
            self._collect()
        self.close()
        return self.with_pii, self.with_suggestions

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def _collect(self) -> None:
        future, reviews = self.waiting.popleft()
        try:
            counted = future.result()
        except Exception:  # noqa: BLE001 - the second process died: check its batch here, and the rest too
            self.close()
            counted = import_service.review_counts(reviews, self.registry)
        self._count(counted)

    def _count(self, counted: tuple[int, int]) -> None:
        self.with_pii += counted[0]
        self.with_suggestions += counted[1]


def _run(source: import_service.SourceFile, rejects_path: Path, batch_size: int, label: str,
         handle: Callable[[list[import_service.SourceRow]], list[import_service.RowOutcome]],
         progress_every: int = 0, reviewer: Reviewer | None = None) -> tuple[import_service.Tally, float]:
    tally = import_service.Tally()
    started = time.monotonic()
    shown = 0
    pending: list[import_service.RowOutcome] = []
    batch_started: float | None = None
    first_line = 0
    if sys.stderr.isatty():
        progress = click.progressbar(length=max(source.size, 1), label=label, file=sys.stderr, show_pos=False,
                                     show_percent=True, show_eta=True, item_show_func=lambda _: f"{tally.rows:,} rows")
    else:
        progress = _ProgressLines(label, source.size, progress_every)
    try:
        with import_service.RejectsWriter(rejects_path, source) as rejects, progress as bar:

            def commit() -> None:
                nonlocal pending, batch_started, shown
                try:
                    db.session.commit()
                except Exception as error:
                    db.session.rollback()
                    _fail(f"stopped at line {first_line}: {error}. Rows before it were saved; run the same "
                          "command again to carry on (rows already imported are skipped).")
                finally:
                    db.session.remove()  # a fresh session per batch: nothing from earlier batches is kept
                for outcome in pending:  # only now are they final
                    tally.add(outcome)
                    if outcome.status == import_service.REJECTED:
                        rejects.write(outcome)
                if reviewer is not None:
                    reviewer.add(pending)
                pending, batch_started = [], None
                position = source.bytes_read
                if isinstance(bar, _ProgressLines):
                    bar.update(tally.rows, position)
                else:
                    bar.update(position - shown, None)
                shown = position

            try:
                for chunk in import_service.batches(source.rows(), min(batch_size, CHUNK)):
                    if batch_started is None:
                        batch_started, first_line = time.monotonic(), chunk[0].line
                        limit_sqlite_cache(db.session, IMPORT_SQLITE_CACHE_MB)  # each batch may get another connection
                    try:
                        pending += handle(chunk)
                    except Exception as error:
                        db.session.rollback()
                        db.session.remove()
                        _fail(f"stopped at line {first_line}: {error}. Rows before it were saved; run the same "
                              "command again to carry on (rows already imported are skipped).")
                    if len(pending) >= batch_size or time.monotonic() - batch_started >= MAX_BATCH_SECONDS:
                        commit()
            except import_service.ImportFileError as error:
                if pending:
                    commit()  # the rows read before the unreadable part are sound
                _fail(f"{error} Rows before it were saved; the summary was not printed.")
            if pending:
                commit()
            if reviewer is not None:
                tally.add_reviewed(*reviewer.finish())
    finally:
        if reviewer is not None:
            reviewer.close()
        source.__exit__(None, None, None)
    return tally, time.monotonic() - started


def _rate(tally: import_service.Tally, seconds: float) -> str:
    per_second = tally.rows / seconds if seconds > 0 else 0.0
    return f"{tally.rows:,} row(s) in {seconds:.1f} s ({per_second:,.0f} rows/s)"


@import_cli.command("posts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "actor_email", required=True, metavar="EMAIL",
              help="The account the incidents are opened as (its role must be allowed to open the workflow).")
@click.option("--format", "fmt", type=click.Choice(import_service.FORMATS),
              help="csv or jsonl (default: from the file name: .csv, .jsonl, .ndjson).")
@click.option("--map", "mappings", multiple=True, metavar="SOURCE=TARGET",
              help="Read column SOURCE as TARGET, e.g. --map 'Tweet URL=url'. Repeatable.")
@click.option("--workflow", default=import_service.DEFAULT_WORKFLOW, show_default=True,
              help="Workflow for new incidents when a row has no workflow column.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write refused rows (default: FILE.rejects.csv).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Most rows per transaction (a transaction also ends after about a second).")
@click.option("--progress-every", default=10_000, show_default=True, type=click.IntRange(0),
              help="When standard error is not a terminal (a log), print a progress line every N rows "
                   "(rows, % of the file, rows/s); 0 for none. On a terminal a progress bar is shown.")
@click.option("--jobs", type=click.IntRange(1, 2), default=None,
              help="2: check the texts for personal details and suggested clauses in a second process while this "
                   "one imports; 1: in this one. Default: 2 for a file over 1 MB on a machine with two or more "
                   "CPUs.")
def import_posts(file: Path, actor_email: str, fmt: str | None, mappings: tuple[str, ...], workflow: str,
                 rejects_path: Path | None, batch_size: int, progress_every: int, jobs: int | None) -> None:
    """Import reported posts from a monitoring tool's export (docs/import.md lists the columns).

    A post already on file joins its incident as a further report; running the same file again
    imports nothing twice. Refused rows go to the rejects file with their line and the reason.
    """
    from app.permissions import can_open

    registry = current_app.extensions["breachdesk.workflows"]
    if workflow not in registry:
        _fail(f"--workflow {workflow!r}: no such workflow; use one of {', '.join(sorted(registry.current))}")
    actor_id = _actor_id(actor_email)
    actor = db.session.get(User, actor_id)
    if not can_open(actor, registry.get(workflow)):
        _fail(f"--as {actor_email}: the {actor.role} role may not open {registry.get(workflow).title} incidents; "
              f"use an account with one of these roles: {', '.join(registry.get(workflow).open_roles)}")
    source = _open(file, fmt, mappings, import_service.POST_COLUMNS, ("url",))
    rejects_path = rejects_path or file.with_name(file.name + ".rejects.csv")

    def handle(batch: list[import_service.SourceRow]) -> list[import_service.RowOutcome]:
        return import_service.import_posts_batch(db.session, registry, batch,
                                                 actor=db.session.get(User, actor_id), workflow=workflow)

    if jobs is None:
        jobs = 2 if (os.cpu_count() or 1) >= 2 and source.size > PARALLEL_REVIEW_FROM_BYTES else 1
    reviewer = Reviewer(registry, current_app.config["BREACHDESK"].workflows_path, parallel=jobs > 1)
    tally, seconds = _run(source, rejects_path, batch_size, f"Importing {file.name}", handle, progress_every,
                          reviewer)
    click.echo(f"Imported {tally[import_service.IMPORTED]:,} new incident(s); "
               f"{tally[import_service.JOINED]:,} joined an incident already on file as a further report; "
               f"{tally[import_service.ALREADY]:,} already recorded by an earlier import (skipped); "
               f"{tally[import_service.REJECTED]:,} rejected.")
    click.echo(f"{tally.with_pii:,} row(s) have patient or contact details in their text and "
               f"{tally.with_suggestions:,} have suggested clauses: review them on each incident's page.")
    if tally[import_service.REJECTED]:
        click.echo(f"Rejected rows, with their line and the reason: {rejects_path}")
    click.echo(_rate(tally, seconds))


@import_cli.command("people")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "actor_email", default=None, metavar="EMAIL",
              help="The account recorded in the audit trail (default: system).")
@click.option("--format", "fmt", type=click.Choice(import_service.FORMATS),
              help="csv or jsonl (default: from the file name).")
@click.option("--map", "mappings", multiple=True, metavar="SOURCE=TARGET",
              help="Read column SOURCE as TARGET, e.g. --map 'Full name=name'. Repeatable.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write refused rows (default: FILE.rejects.csv).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Most rows per transaction (a transaction also ends after about a second).")
@click.option("--progress-every", default=10_000, show_default=True, type=click.IntRange(0),
              help="When standard error is not a terminal, print a progress line every N rows; 0 for none.")
def import_people(file: Path, actor_email: str | None, fmt: str | None, mappings: tuple[str, ...],
                  rejects_path: Path | None, batch_size: int, progress_every: int) -> None:
    """Import members and contributors with their handles from a membership system's export.

    People are recognised by any of their handles (or their e-mail address when a row has none),
    so running the same file again creates nobody twice.
    """
    from app.models.people import PLATFORMS

    actor_id = _actor_id(actor_email) if actor_email else None
    known = (*import_service.PEOPLE_COLUMNS, *PLATFORMS, *import_service.PLATFORM_ALIASES)
    source = _open(file, fmt, mappings, known, ("name",))
    rejects_path = rejects_path or file.with_name(file.name + ".rejects.csv")

    def handle(batch: list[import_service.SourceRow]) -> list[import_service.RowOutcome]:
        actor = db.session.get(User, actor_id) if actor_id else None
        return import_service.import_people_batch(db.session, batch, actor=actor)

    tally, seconds = _run(source, rejects_path, batch_size, f"Importing {file.name}", handle, progress_every)
    click.echo(f"{tally[import_service.CREATED]:,} person(s) added; {tally[import_service.UPDATED]:,} updated; "
               f"{tally[import_service.UNCHANGED]:,} already up to date; {tally[import_service.REJECTED]:,} rejected.")
    if tally[import_service.REJECTED]:
        click.echo(f"Rejected rows, with their line and the reason: {rejects_path}")
    click.echo(_rate(tally, seconds))
