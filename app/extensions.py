"""Extensions created without an app and bound in ``create_app`` (the application-factory pattern)."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from app.config import DEFAULT_SQLITE_CACHE_MB
from app.errors import StartupError

# A commit that finds this many pages in the write-ahead log copies them into the database file (a checkpoint). At
# SQLite's default (1,000 pages, 4 MB) a transition at a million incidents hit one about every twentieth commit,
# 15-30 ms each, and rewrote the same hot pages (index roots, the audit chain's head, the counts' last page) at
# every one; at 10,000 (a WAL of up to 40 MB) their p99 went 27-29 -> 14-18 ms and their rate up 1-16% in two A/B
# runs (bench/RESULTS.md run 20). Durability is unchanged: a committed transaction is in the WAL either way; a
# checkpoint only copies it into the main file.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
# How often each process's checkpointer (WalCheckpointer) copies the log into the database file, in seconds.
SQLITE_CHECKPOINT_INTERVAL_S = 0.25


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log into its file from a thread of its own, so the request or command
    that commits does not stop to do it.

    SQLite checkpoints in whichever connection's commit finds the log over ``wal_autocheckpoint`` pages: at a
    million incidents one transition in a hundred or so waited 190-250 ms for it (bench/RESULTS.md run 28). This
    thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds on its own connection; a passive
    checkpoint takes no lock that readers or writers wait for, and the driver lets go of the GIL while it runs, so
    it proceeds on another core. The commits' own checkpoints stay as the fallback should this thread fall behind.
    One thread per process: it is started by the process's first connection, since a forked server worker does not
    inherit its parent's threads, and stopped when the engine is disposed."""

    def __init__(self, path: str, interval: float) -> None:
        self.path, self.interval = path, interval
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="sqlite-wal-checkpointer",
                                            daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread if self._pid == os.getpid() else None, None
            self._pid = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            # A connection of its own each time (cheap, four times a second): one kept open would go on checkpointing
            # a file replaced meanwhile. mode=rw: a database removed meanwhile is not created again, empty.
            try:
                with _NO_FORK_DURING_CHECKPOINT:
                    connection = sqlite3.connect(f"file:{quote(self.path)}?mode=rw", uri=True, timeout=0,
                                                 isolation_level=None, check_same_thread=False)
                    try:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    finally:
                        connection.close()
            except sqlite3.Error:
                pass  # gone or not readable just now: the commits' own checkpoints go on; try again next time


# A process forked while this thread is inside SQLite (a server started with --preload, multiprocessing) could inherit
# SQLite's locks held: a fork waits for the checkpoint in progress to end.
_NO_FORK_DURING_CHECKPOINT = threading.Lock()
os.register_at_fork(before=_NO_FORK_DURING_CHECKPOINT.acquire, after_in_parent=_NO_FORK_DURING_CHECKPOINT.release,
                    after_in_child=_NO_FORK_DURING_CHECKPOINT.release)


_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


def wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """The engine's checkpointer: a SQLite database in a file has one (unless made without); others have none."""
    return _CHECKPOINTERS.get(engine)


def _database_file(engine: Engine) -> str | None:
    """The file of a SQLite engine's database; None for an in-memory one."""
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:") or "mode=memory" in str(engine.url):
        return None
    return os.path.abspath(name)


def _configure_sqlite(engine: Engine, cache_mb: int, checkpoint_interval: float | None) -> None:
    """WAL (checkpointed by a WalCheckpointer every ``checkpoint_interval`` seconds unless that is None, and by a commit
    that finds ``SQLITE_WAL_AUTOCHECKPOINT_PAGES`` in the log), foreign keys, a busy timeout, a page cache of up
    to ``cache_mb`` per connection (filled only as pages are read), and write transactions that take the lock at
    BEGIN.

    pysqlite begins transactions lazily and in DEFERRED mode, so two writers that both read first
    fail with "database is locked" instead of waiting. SQLAlchemy's documented workaround is to
    switch off pysqlite's own transaction handling and emit BEGIN IMMEDIATE ourselves.
    """
    path = _database_file(engine)
    checkpointer = WalCheckpointer(path, checkpoint_interval) if path and checkpoint_interval else None
    if checkpointer is not None:
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        weakref.finalize(engine, checkpointer.stop)  # an engine dropped without dispose() stops its thread too
        _CHECKPOINTERS[engine] = checkpointer

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if checkpointer is not None:
            checkpointer.ensure_running()
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        # SQLite's default (2 MB) is tiny next to a large database: the dashboards re-read the same index and
        # table pages on every build (bench/RESULTS.md run 19).
        cursor.execute(_cache_pragma(cache_mb))
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


PG_SESSION_SETTINGS = "-c jit=off -c random_page_cost=1.1"


def _cache_pragma(cache_mb: int) -> str:
    return f"PRAGMA cache_size=-{int(cache_mb) * 1024}"  # a negative size is in KiB


def limit_sqlite_cache(session: Session, cache_mb: int) -> None:
    """Give the session's current SQLite connection a page cache of ``cache_mb`` (PostgreSQL: nothing changes). For
    a bulk writer such as the import, which does not read again the pages it appends to: a large cache would
    only hold memory (bench/RESULTS.md run 19)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_cache_pragma(cache_mb))


def make_engine(url: str, *, sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
                sqlite_checkpoint_interval: float | None = SQLITE_CHECKPOINT_INTERVAL_S, **options: Any) -> Engine:
    """Create an engine for a database URL, turning every configuration mistake into a StartupError."""
    if not url:
        raise StartupError("No database configured: set BREACHDESK_DATABASE_URL.")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, **options)
            _configure_sqlite(engine, sqlite_cache_mb, sqlite_checkpoint_interval)
        else:
            # Planner settings for this app's connections (a server's own settings stay as they are elsewhere):
            # JIT compiles any query the planner costs highly, which the dashboards' aggregates are (0.2-0.3 s of
            # compiling for a 0.1 s query at a million incidents), and the default random_page_cost (4, for
            # spinning disks) makes index look-ups look dear enough to scan 1.2M citations instead; 1.1 is the
            # usual figure for SSDs (bench/RESULTS.md run 16).
            engine = create_engine(url, pool_pre_ping=True, connect_args={"options": PG_SESSION_SETTINGS}, **options)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise StartupError(f"BREACHDESK_DATABASE_URL is not a usable database URL: {exc}") from None
    return engine


def check_connection(engine: Engine) -> None:
    """Fail fast, in one line, when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StartupError(
            f"Cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from None


class Database:
    """One engine and a scoped session per thread; the request (or CLI command) owns the commit."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))

    def init_app(self, app: Flask, url: str, *, sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB) -> None:
        self.bind(make_engine(url, sqlite_cache_mb=sqlite_cache_mb))
        app.teardown_appcontext(self._remove_session)

    def bind(self, engine: Engine) -> None:
        if self.engine is not None and self.engine is not engine:
            self.session.remove()
            self.engine.dispose()
        self.engine = engine
        self.session.configure(bind=engine)

    @staticmethod
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    @property
    def dialect(self) -> str:
        assert self.engine is not None
        return self.engine.dialect.name


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
