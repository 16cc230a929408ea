"""Run the benchmarks against a generated database.

    python -m bench.run --database-url sqlite:///bench/out/bench.sqlite3 [--iterations 200] [--only queue]

Each benchmark times the app doing the work (p50/p95/p99 in milliseconds and throughput) and, in the
same run and on the same pooled database connection, the *raw floor*: hand-written SQL fetching (or
writing) the same rows through the bare DB-API cursor, timed the same way. The ratio app/floor says
how much the app adds over the database itself (ORM, templates, Flask, permissions, Python).

Benchmarks: ``queue`` (the /incidents list as HTML), ``search`` (full-text search, best 50 matches, for
rare, common and very common words), ``incident`` (an incident page), ``dashboard`` (each audience's
dashboard), ``sweep`` (the
deadline sweep, rolled back after timing) and ``transitions`` (take_transition throughput; these
commit, so they change the database). Run them on a generated database (``python -m bench.generate``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app import create_app, freeze_startup_objects
from app.extensions import db
from app.models import Incident, IncidentCount, User
from app.permissions import COLLEGE_WIDE_ROLES
from bench import machine
from bench.generate import BENCH_PASSWORD, EMAIL_DOMAIN, approx_duration, audit_hash

BENCHMARKS = ("queue", "search", "incident", "dashboard", "sweep", "transitions")
# Each dashboard audience and the role signed in to see it (benchmark 4, bench/sections.py).
DASHBOARD_AUDIENCES = (("admin", "admin"), ("comms", "comms"), ("director_of_comms", "director"),
                       ("regional_officer", "regional"))
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
INCIDENT_LINK = re.compile(r'href="/incidents/(\d+)"')
PAGE_SIZE = 50


# --- measuring ----------------------------------------------------------------------------------------

def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, max(0, math.ceil(q * len(sorted_ms)) - 1))]


@dataclass
class Figures:
    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    ops_per_s: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Figures:
        ordered = sorted(samples_ms)
        total = sum(ordered)
        return cls(n=len(ordered), p50=percentile(ordered, 0.50), p95=percentile(ordered, 0.95),
                   p99=percentile(ordered, 0.99), mean=total / len(ordered) if ordered else float("nan"),
                   ops_per_s=(1000 * len(ordered) / total) if total else float("nan"))


@dataclass
class Result:
    benchmark: str
    case: str
    app: Figures
    floor: Figures | None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio_p50(self) -> float | None:
        return self.app.p50 / self.floor.p50 if self.floor and self.floor.p50 > 0 else None

    @property
    def ratio_p95(self) -> float | None:
        return self.app.p95 / self.floor.p95 if self.floor and self.floor.p95 > 0 else None


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def compare(app_op: Callable[[int], Any], floor_op: Callable[[int], Any] | None, iterations: int,
            warmup: int) -> tuple[list[float], list[float]]:
    """Alternate app and floor so drift (cache warming, other load) hits both alike. A floor op may
    return its own time in ms (excluding the pool checkout); otherwise the whole call is timed.

    Each call gets its own index (warm-up calls 0…warmup-1, timed calls after), so a benchmark that
    must not repeat itself (a transition) can take a fresh incident each time."""
    for i in range(warmup):
        app_op(i)
        if floor_op:
            floor_op(i)
    app_ms, floor_ms = [], []
    for i in range(warmup, warmup + iterations):
        ms, _ = timed(lambda i=i: app_op(i))
        app_ms.append(ms)
        if floor_op:
            ms, inner = timed(lambda i=i: floor_op(i))
            floor_ms.append(inner if isinstance(inner, float) else ms)
    return app_ms, floor_ms


# --- the app and the raw connection ---------------------------------------------------------------

class Bench:
    def __init__(self, url: str, iterations: int, warmup: int, seed: int, sweep_iterations: int,
                 transitions: int | None) -> None:
        self.url = url
        self.iterations = iterations
        self.warmup = warmup
        self.seed = seed
        self.sweep_iterations = sweep_iterations
        self.transitions = transitions if transitions is not None else iterations
        self.instance = tempfile.mkdtemp(prefix="breachdesk-bench-")
        self.app: Flask = create_app(instance_path=self.instance, database_url=url, secret_key="bench")
        freeze_startup_objects()  # as the WSGI entry point does for a server's workers
        assert db.engine is not None
        self.engine = db.engine
        _check_revision(url, self.engine)
        self.dialect = self.engine.dialect.name
        self.results: list[Result] = []
        self.connections: set[int] = set()

        @event.listens_for(self.engine, "checkout")
        def _seen(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            self.connections.add(id(dbapi_connection))

    # raw SQL through the bare DB-API cursor of a pooled connection (the same one the app uses:
    # requests run one after another, so the pool hands back its single idle connection)
    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def when(self, moment: datetime) -> Any:
        """A datetime as the driver stores it: naive UTC text on SQLite (as the app's type does)."""
        if self.dialect == "sqlite":
            return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def fetch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple]]:
        return self.fetch_timed(statements)[1]

    def fetch_timed(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> tuple[float, list[list[tuple]]]:
        """Run the statements through the bare cursor; the time covers execute and fetchall only
        (not the pool checkout, which the app pays and the floor does not)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            out = []
            started = time.perf_counter()
            for statement, params in statements:
                cursor.execute(self.sql(statement), tuple(params))
                out.append(cursor.fetchall())
            elapsed = (time.perf_counter() - started) * 1000
            cursor.close()
            if self.dialect == "postgresql":
                connection.rollback()
            return elapsed, out
        finally:
            connection.close()

    def login(self, email: str) -> FlaskClient:
        client = self.app.test_client()
        html = client.get("/login").get_data(as_text=True)
        match = CSRF.search(html)
        if not match:
            raise RuntimeError("no CSRF token on /login")
        response = client.post("/login", data={"email": email, "password": BENCH_PASSWORD,
                                               "csrf_token": match.group(1) or match.group(2)})
        if response.status_code != 302:
            raise RuntimeError(f"could not sign in as {email}: HTTP {response.status_code}")
        return client

    def user(self, role: str) -> User:
        with self.app.app_context():
            email = f"{role.replace('_', '-')}-1@{EMAIL_DOMAIN}"
            preferred = db.session.scalar(select(User).where(User.email == email))
            if preferred is not None and preferred.active:
                user = preferred
            else:
                user = db.session.scalar(select(User).where(User.role == role, User.active.is_(True))
                                         .order_by(User.id))
            if user is None:
                raise RuntimeError(f"no active {role} user: generate the database with bench.generate first")
            db.session.expunge(user)
            return user

    def get_page(self, client: FlaskClient, path: str) -> str:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered HTTP {response.status_code}")
        return response.get_data(as_text=True)

    def record(self, result: Result) -> None:
        self.results.append(result)
        print(format_row(result), flush=True)

    # --- 1. the queue page ------------------------------------------------------------------------
    def bench_queue(self) -> None:
        with self.app.app_context():
            max_id = db.session.scalar(select(func.max(Incident.id))) or 1
            state = _busy_state(db.session)
            due_cursor = _deep_due_cursor(db.session)
        deep = max(2, int(max_id * 0.1))
        filters = [("none", {}), ("workflow", {"workflow": "content-removal"}), ("state", {"state": state}),
                   ("closed", {"status": "closed"}), ("severity", {"severity": "high"}), ("overdue", {"overdue": "1"}),
                   ("due sort", {"sort": "due"})]
        for role in ("admin", "comms"):
            user = self.user(role)
            client = self.login(user.email)
            for name, params in filters:
                due = params.get("sort") == "due"
                for page, before in (("first", None), ("deep", deep)):
                    cursor = (due_cursor if due else str(before)) if before else None
                    query = dict(params, **({("after" if due else "before"): cursor} if cursor else {}))
                    path = "/incidents" + ("?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
                                           if query else "")
                    statements = [self._queue_sql(user, params, cursor)]
                    if "workflow" in params:  # the page also shows capped counts per state
                        statements.append(self._counts_sql(user, params))
                    app_ids = [int(x) for x in INCIDENT_LINK.findall(self.get_page(client, path))]
                    rows = self.fetch(statements)[0]
                    if due and len(rows) <= PAGE_SIZE:
                        # The running deadlines ran out before the page filled: like the app, go on with the
                        # incidents that have none, newest first.
                        statements.append(self._no_deadline_sql(user, params, PAGE_SIZE - len(rows) + 1))
                        rows = rows + self.fetch(statements)[-1]
                    floor_ids = [row[0] for row in rows][:PAGE_SIZE]
                    if app_ids != floor_ids:
                        raise RuntimeError(f"queue {role} {name} {page}: the floor query returns other rows "
                                           f"than the page shows ({floor_ids[:5]}… vs {app_ids[:5]}…)")
                    app_ms, floor_ms = compare(lambda _i, c=client, p=path: self.get_page(c, p),
                                               lambda _i, s=statements: self.fetch_timed(s)[0], self.iterations,
                                               self.warmup)
                    self.record(Result("queue", f"{role} {name} {page}", Figures.of(app_ms), Figures.of(floor_ms),
                                       {"path": path, "rows": len(app_ids)}))

    def _queue_where(self, user: User, params: dict[str, str], below: int | None = None) -> tuple[list[str], list[Any]]:
        where, args = [], []
        if user.role != "admin":
            # app.permissions.knowable_incidents (= visible_incidents unless admin), written by hand
            visible, args = self._visible_sql(user)
            where.append(visible)
        if "workflow" in params:
            where.append("i.workflow_key = ?")
            args.append(params["workflow"])
        if "state" in params:
            where.append("i.state = ?")
            args.append(params["state"])
        if "severity" in params:
            where.append("i.severity = ?")
            args.append(params["severity"])
        if "overdue" in params:  # below a page's cursor the deadlines are bounded by it too, as the app does
            where.append("i.id IN (SELECT o.incident_id FROM deadlines o WHERE o.status = 'running' "
                         "AND o.due_at <= ?" + (" AND o.incident_id < ?)" if below else ")"))
            args += [self.when(datetime.now(UTC)), *([below] if below else [])]
        status = params.get("status", "open")
        if status == "open":
            where.append("i.closed_at IS NULL")
        elif status == "closed":
            where.append("i.closed_at IS NOT NULL")
        return where, args

    def _queue_sql(self, user: User, params: dict[str, str], cursor: str | None) -> tuple[str, list[Any]]:
        below = int(cursor) if cursor and params.get("sort") != "due" else None
        where, args = self._queue_where(user, params, below)
        if params.get("sort") == "due":
            # The earliest running deadline stands for its incident; walked in (due_at, id) order. The check for an
            # earlier one goes by incident (``|| ''`` keeps SQLite off the status index, as the app does).
            where += ["d.status = 'running'",
                      "NOT EXISTS (SELECT 1 FROM deadlines e WHERE e.incident_id = d.incident_id AND "
                      "e.status || '' = 'running' AND (e.due_at < d.due_at OR (e.due_at = d.due_at AND e.id < d.id)))"]
            if cursor:
                moment, _, deadline_id = cursor[4:].rpartition("~")
                where.append("d.due_at >= ? AND (d.due_at > ? OR (d.due_at = ? AND d.id > ?))")  # as the app
                due = self.when(datetime.fromisoformat(moment))
                args += [due, due, due, int(deadline_id)]
            sql = ("SELECT i.*, d.due_at, d.id, u.*, p.* FROM deadlines d JOIN incidents i ON i.id = d.incident_id "
                   "LEFT OUTER JOIN users u ON u.id = i.assignee_id LEFT OUTER JOIN people p ON p.id = i.subject_id "
                   f"WHERE {' AND '.join(where)} ORDER BY d.due_at, d.id LIMIT {PAGE_SIZE + 1}")
            return sql, args
        if cursor:
            where.append("i.id < ?")
            args.append(int(cursor))
        return _newest_first_sql(where, PAGE_SIZE + 1), args

    def _no_deadline_sql(self, user: User, params: dict[str, str], limit: int) -> tuple[str, list[Any]]:
        """The due-sorted queue's second part: incidents without a running deadline, newest first."""
        where, args = self._queue_where(user, params)
        where.append("NOT EXISTS (SELECT 1 FROM deadlines n WHERE n.incident_id = i.id AND n.status = 'running')")
        return _newest_first_sql(where, limit), args

    def _counts_sql(self, user: User, params: dict[str, str]) -> tuple[str, list[Any]]:
        """Capped counts per state of the chosen workflow (app.services.queue.state_counts), by hand."""
        from app.services.queue import COUNT_CAP

        definition = self.app.extensions["breachdesk.workflows"].get(params["workflow"])
        base = {k: v for k, v in params.items() if k != "state"}
        status = params.get("status", "open")
        parts, args = [], []
        for state, spec in definition.states.items():
            if (status == "open" and spec.final) or (status == "closed" and not spec.final):
                continue  # as the app: open incidents are never in a final state, closed ones always
            where, where_args = self._queue_where(user, base)
            parts.append(f"SELECT ?, count(*) FROM (SELECT i.id FROM incidents i WHERE {' AND '.join(where)} "
                         f"AND i.state = ? LIMIT {COUNT_CAP + 1}) AS c")
            args += [state, *where_args, state]
        return " UNION ALL ".join(parts), args

    # --- 2. full-text search ----------------------------------------------------------------------
    def bench_search(self) -> None:
        """The queue page searching every incident (status=all) for one word, best 50 matches first, for a
        rare, a common and a very common word (bench/words.py's frequency tiers) and a two-word query. The
        floor is hand-written FTS SQL with the same bounded candidate set, visibility and order, plus the
        page's snippet texts, on the same connection."""
        from bench import words

        tiers = words.search_terms()
        queries = [("rare", tiers["rare"]), ("common", tiers["common"]), ("very common", tiers["very_common"]),
                   ("two words", f"{tiers['very_common']} {tiers['common']}")]
        for role in ("admin", "comms"):
            user = self.user(role)
            client = self.login(user.email)
            for name, query in queries:
                path = "/incidents?status=all&q=" + query.replace(" ", "+")
                probes = self._probe_sql(query.split())
                common = self._common(probes)
                statement = self._search_sql(user, query.split(), common)
                app_ids = [int(x) for x in INCIDENT_LINK.findall(self.get_page(client, path))]
                floor_ids = [row[0] for row in self.fetch([statement])[0]][:PAGE_SIZE]
                if app_ids != floor_ids:
                    raise RuntimeError(f"search {role} {name}: the floor query returns other rows than the page "
                                       f"shows ({floor_ids[:5]}… vs {app_ids[:5]}…)")
                texts = self._snippet_sql(app_ids)
                app_ms, floor_ms = compare(lambda _i, c=client, p=path: self.get_page(c, p),
                                           lambda _i, s=statement, t=texts, b=probes: self.fetch_timed(
                                               [*b, s, *t])[0], self.iterations, self.warmup)
                self.record(Result("search", f"{role} {name}", Figures.of(app_ms), Figures.of(floor_ms),
                                   {"path": path, "rows": len(app_ids), "matches": self._match_counts(query),
                                    "unscored": sorted(common)}))

    def _probe_sql(self, terms: list[str]) -> list[tuple[str, list[Any]]]:
        """app.services.search.common_sources by hand: is each FTS5 table's match list longer than COMMON? (On
        PostgreSQL nothing is probed: its planner chooses between the GIN index and a newest-first walk.)"""
        from app.services.search import COMMON

        if self.dialect != "sqlite":
            return []
        match = " ".join(f'"{t.lower()}"' for t in terms)
        return [(f"SELECT count(*) FROM (SELECT rowid FROM {t} WHERE {t} MATCH ? LIMIT ?)", [match, COMMON + 1])
                for t in ("incidents_fts", "posts_fts", "notes_fts")]

    def _common(self, probes: list[tuple[str, list[Any]]]) -> frozenset[str]:
        from app.services.search import COMMON

        counts = self.fetch(probes)
        return frozenset(t for t, c in zip(("incidents_fts", "posts_fts", "notes_fts"), counts, strict=False)
                         if c[0][0] > COMMON)

    def _visible_sql(self, user: User) -> tuple[str, list[Any]]:
        """app.permissions.visible_incidents, written by hand (searching needs the right to read)."""
        own = ("(i.assignee_id = ? OR i.created_by_id = ? OR EXISTS (SELECT 1 FROM incident_shares s "
               "WHERE s.incident_id = i.id AND s.user_id = ? AND s.revoked_at IS NULL "
               "AND (s.expires_at IS NULL OR s.expires_at > ?)))")
        args: list[Any] = [user.id, user.id, user.id, self.when(datetime.now(UTC))]
        if user.role == "admin":
            return f"({own} OR NOT i.restricted)", args
        if user.role in COLLEGE_WIDE_ROLES:
            shared, extra = "i.side = 'college'", []
        elif user.role == "comms" and user.team_id is not None:
            shared, extra = "i.side = 'college' AND i.team_id = ?", [user.team_id]
        elif user.role == "regional_officer" and user.team_id is not None:
            shared, extra = "i.side <> 'college' AND i.team_id = ?", [user.team_id]
        else:
            shared, extra = "1 = 0", []
        return f"({own} OR (NOT i.restricted AND {shared}))", args + extra

    def _search_sql(self, user: User, terms: list[str], common: frozenset[str]) -> tuple[str, list[Any]]:
        from app.services.search import CANDIDATES

        visible, args = self._visible_sql(user)
        if self.dialect == "sqlite":
            match = " ".join(f'"{t.lower()}"' for t in terms)
            def rank(t: str) -> str:  # a very common word's source is not scored (see app.services.search)
                return "0.0" if t in common else "rank"

            sources = (f"SELECT rowid AS incident_id, {rank('incidents_fts')} AS score FROM incidents_fts "
                       "WHERE incidents_fts MATCH ? ORDER BY rowid DESC LIMIT ?")
            hits = (f"SELECT * FROM ({sources}) UNION ALL SELECT p.incident_id, f.score FROM (SELECT rowid AS id, "
                    f"{rank('posts_fts')} AS score FROM posts_fts WHERE posts_fts MATCH ? ORDER BY rowid DESC "
                    "LIMIT ?) f JOIN posts p ON p.id = f.id UNION ALL SELECT a.incident_id, f.score FROM (SELECT "
                    f"rowid AS id, {rank('notes_fts')} AS score FROM notes_fts WHERE notes_fts MATCH ? ORDER BY "
                    "rowid DESC LIMIT ?) f JOIN audit_events a ON a.id = f.id")
            hit_args: list[Any] = [match, CANDIDATES] * 3
        else:  # the stored vectors of migration 0019 and their GIN indexes
            from app.services.search import _postgresql_sources

            hits = _postgresql_sources(CANDIDATES).replace(":q", "?").replace(":limit", "?")
            hit_args = [" ".join(terms), " ".join(terms), CANDIDATES] * 3  # per source: rank, match, limit
        sql = ("SELECT i.*, h.score, u.*, p.* FROM incidents i JOIN (SELECT incident_id, min(score) AS score "
               f"FROM ({hits}) AS x GROUP BY incident_id) h ON h.incident_id = i.id "
               "LEFT OUTER JOIN users u ON u.id = i.assignee_id LEFT OUTER JOIN people p ON p.id = i.subject_id "
               f"WHERE {visible} ORDER BY h.score, i.id DESC LIMIT {PAGE_SIZE + 1}")
        return sql, hit_args + args

    @staticmethod
    def _snippet_sql(ids: list[int]) -> list[tuple[str, list[Any]]]:
        marks = ", ".join("?" for _ in ids) or "NULL"
        return [(f"SELECT incident_id, text FROM posts WHERE incident_id IN ({marks}) AND text IS NOT NULL "
                 "ORDER BY id", list(ids)),
                (f"SELECT incident_id, comment FROM audit_events WHERE incident_id IN ({marks}) "
                 "AND comment IS NOT NULL ORDER BY id", list(ids))]

    def _match_counts(self, query: str) -> dict[str, int] | None:
        if self.dialect != "sqlite":
            return None
        match = " ".join(f'"{t.lower()}"' for t in query.split())
        counts = self.fetch([(f"SELECT count(*) FROM {t} WHERE {t} MATCH ?", [match])
                             for t in ("incidents_fts", "posts_fts", "notes_fts")])
        return {t: c[0][0] for t, c in zip(("titles", "posts", "notes"), counts, strict=True)}

    # --- 3. the incident page ---------------------------------------------------------------------
    def bench_incident(self) -> None:
        rng = random.Random(f"{self.seed}:incident")
        for role in ("admin", "comms"):
            user = self.user(role)
            with self.app.app_context():
                # unrestricted (a restricted file asks even an administrator to "break glass" first)
                query = select(Incident.id).where(Incident.version >= 3, Incident.restricted.is_(False))
                if role == "comms":
                    query = query.where(Incident.side == "college", Incident.team_id == user.team_id)
                ids = db.session.scalars(query.order_by(Incident.id)).all()
            if not ids:
                continue
            sample = [ids[rng.randrange(len(ids))] for _ in range(self.iterations + self.warmup)]
            client = self.login(user.email)
            history: list[int] = []

            def app_op(i: int, c: FlaskClient = client, s: list[int] = sample) -> None:
                self.get_page(c, f"/incidents/{s[i]}")

            def floor_op(i: int, s: list[int] = sample, h: list[int] = history) -> float:
                ms, rows = self.fetch_timed(self._incident_sql(s[i]))
                h.append(len(rows[6]))
                return ms

            app_ms, floor_ms = compare(app_op, floor_op, self.iterations, self.warmup)
            self.record(Result("incident", f"{role} random with history", Figures.of(app_ms), Figures.of(floor_ms),
                               {"incidents": len(set(sample)),
                                "history_rows_mean": round(sum(history) / max(1, len(history)), 1)}))

    @staticmethod
    def _incident_sql(incident_id: int) -> list[tuple[str, list[Any]]]:
        """What the page shows, fetched by hand: the incident with its people, posts, evidence, clauses,
        deadlines (with extensions), shares, history with actors, and links with both ends."""
        one = [incident_id]
        return [
            ("SELECT i.*, p.*, u.*, c.* FROM incidents i LEFT OUTER JOIN people p ON p.id = i.subject_id "
             "LEFT OUTER JOIN users u ON u.id = i.assignee_id LEFT OUTER JOIN users c ON c.id = i.created_by_id "
             "WHERE i.id = ?", one),
            ("SELECT * FROM posts WHERE incident_id = ? ORDER BY id", one),
            ("SELECT * FROM evidence_files WHERE incident_id = ? ORDER BY id", one),
            ("SELECT * FROM incident_clauses WHERE incident_id = ? ORDER BY clause_key", one),
            ("SELECT d.*, x.* FROM deadlines d LEFT OUTER JOIN deadline_extensions x ON x.deadline_id = d.id "
             "WHERE d.incident_id = ? ORDER BY d.due_at", one),
            ("SELECT s.*, u.* FROM incident_shares s JOIN users u ON u.id = s.user_id WHERE s.incident_id = ? "
             "ORDER BY s.id", one),
            ("SELECT a.*, u.* FROM audit_events a LEFT OUTER JOIN users u ON u.id = a.actor_id "
             "WHERE a.incident_id = ? ORDER BY a.id", one),
            ("SELECT l.*, s.*, t.* FROM incident_links l JOIN incidents s ON s.id = l.from_id "
             "JOIN incidents t ON t.id = l.to_id WHERE l.from_id = ? OR l.to_id = ?", [incident_id, incident_id]),
        ]

    # --- 6. the deadline sweep --------------------------------------------------------------------
    def bench_sweep(self) -> None:
        """One sweep as a running worker meets it: the deadlines' next reminders were already worked out by the
        sweeps before (done here once, untimed in the figure but reported, as of a minute ago, and committed:
        the reminders due until then are queued), then timed sweeps (each rolled back) find the breaches due and
        the reminders that fell due in the last minute."""
        from app.services import sweep

        registry = self.app.extensions["breachdesk.workflows"]
        now = datetime.now(UTC)
        with self.app.app_context():
            started = time.perf_counter()
            scheduled = sweep.SweepReport()
            sweep._queue_reminders(db.session, now - timedelta(minutes=1), scheduled)
            db.session.commit()
            self.record(Result("sweep", "reminders worked out once (first sweep after 0017)",
                               Figures.of([(time.perf_counter() - started) * 1000]), None,
                               {"reminders_queued": scheduled.reminders}))
        due_sql = ("SELECT d.*, i.* FROM deadlines d JOIN incidents i ON i.id = d.incident_id "
                   "WHERE d.status = 'running' AND d.due_at <= ? AND d.breached_at IS NULL ORDER BY d.due_at, d.id",
                   [self.when(now)])
        soon_sql = ("SELECT d.*, i.* FROM deadlines d JOIN incidents i ON i.id = d.incident_id "
                    "WHERE d.status = 'running' AND d.next_remind_at <= ? ORDER BY d.id", [self.when(now)])
        due, soon = (len(rows) for rows in self.fetch([due_sql, soon_sql]))
        with self.app.app_context():
            running = _count_running(db.session)
            open_incidents = db.session.scalar(select(func.count()).select_from(Incident)
                                               .where(Incident.closed_at.is_(None)))
        notes: dict[str, Any] = {"due": due, "reminders_due": soon, "running_deadlines": running,
                                 "open_incidents": open_incidents}
        reports: list[Any] = []

        def app_op(_i: int) -> None:
            with self.app.app_context():
                try:
                    reports.append(sweep.run_sweep(db.session, registry, now))
                    db.session.flush()
                finally:
                    db.session.rollback()

        def floor_op(_i: int) -> float:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                started = time.perf_counter()
                if self.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(self.sql(due_sql[0]), tuple(due_sql[1]))
                cursor.fetchall()
                cursor.execute(self.sql("UPDATE deadlines SET breached_at = ? WHERE status = 'running' "
                                        "AND due_at <= ? AND breached_at IS NULL"), (self.when(now), self.when(now)))
                cursor.execute(self.sql(soon_sql[0]), tuple(soon_sql[1]))
                cursor.fetchall()
                connection.rollback() if self.dialect == "postgresql" else cursor.execute("ROLLBACK")
                elapsed = (time.perf_counter() - started) * 1000
                cursor.close()
                return elapsed
            finally:
                connection.close()

        app_ms, floor_ms = compare(app_op, floor_op, self.sweep_iterations, 0)
        last = reports[-1]
        notes.update({"breaches": last.breaches, "reminders_queued": last.reminders,
                      "escalations": len(last.escalations)})
        result = Result("sweep", "run_sweep (rolled back)", Figures.of(app_ms), Figures.of(floor_ms), notes)
        result.notes["due_items_per_s"] = round(due / (result.app.p50 / 1000), 1) if result.app.p50 else None
        self.record(result)

        # Where the time goes: each pass alone, once. These call the sweep's private helpers, so they
        # are skipped (saying so) if those change shape; the figure above is the benchmark.
        for name, part in (("breaches pass", lambda s: sweep._handle_breaches(s, registry, now, sweep.SweepReport())),
                           ("reminders pass", lambda s: sweep._queue_reminders(s, now, sweep.SweepReport()))):
            def run_part(_i: int, part: Callable[[Any], Any] = part) -> None:
                with self.app.app_context():
                    try:
                        part(db.session)
                        db.session.flush()
                    finally:
                        db.session.rollback()

            try:
                part_ms, _ = compare(run_part, None, 1, 0)
            except (AttributeError, TypeError) as error:
                print(f"# sweep {name}: breakdown skipped, app.services.sweep changed ({error})")
                continue
            self.record(Result("sweep", name, Figures.of(part_ms), None))

        # The rest of a worker's minute: folding the dashboard counts the sweep's escalations changed (the worker
        # folds after every sweep; until migration 0028 that rewrote every count row, bench/RESULTS.md run 21).
        from app.services import counts

        with self.app.app_context():
            try:
                sweep.run_sweep(db.session, registry, now)
                db.session.flush()
                started = time.perf_counter()
                rewritten = counts.fold(db.session)
                fold_ms = (time.perf_counter() - started) * 1000
                rows = db.session.scalar(select(func.count()).select_from(IncidentCount))
            finally:
                db.session.rollback()
        self.record(Result("sweep", "fold after the sweep (rolled back)", Figures.of([fold_ms]), None,
                           {"count_rows_rewritten": rewritten, "count_rows_after": rows}))

    # --- 4. dashboards ---------------------------------------------------------------------------------
    def bench_dashboard(self) -> None:
        """``GET /dashboard/<audience>`` rendered to HTML for each audience, signed in as its role. The floor is
        the dashboard's own aggregate SQL (captured from one build, as compiled for this database), replayed
        through the bare cursor: every number on the page is one of those GROUP BYs, so the ratio is what
        Python, permissions and the charts and template add over the database's work."""
        from sqlalchemy import event as sa_event

        from app.clock import utcnow
        from app.services import dashboard

        registry = self.app.extensions["breachdesk.workflows"]
        for role, audience in DASHBOARD_AUDIENCES:
            user = self.user(role)
            client = self.login(user.email)
            captured: list[tuple[str, Any]] = []

            def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                        _many: bool, into: list = captured) -> None:
                into.append((statement, parameters))

            with self.app.app_context():
                sa_event.listen(self.engine, "before_cursor_execute", capture)
                try:
                    board = dashboard.build(db.session, db.session.get(User, user.id), registry, audience, utcnow())
                finally:
                    sa_event.remove(self.engine, "before_cursor_execute", capture)
                db.session.rollback()
            statements = list(captured)
            path = f"/dashboard/{audience}"
            self.get_page(client, path)
            app_ms, floor_ms = compare(lambda _i, c=client, p=path: self.get_page(c, p),
                                       lambda _i, s=statements: self._replay(s), self.iterations, self.warmup)
            self.record(Result("dashboard", f"{role} {audience}", Figures.of(app_ms), Figures.of(floor_ms),
                               {"path": path, "queries": len(statements), "sections": list(board.sections),
                                "opened_12_months": sum(board.volume.opened)}))

    def _replay(self, statements: Sequence[tuple[str, Any]]) -> float:
        """Run statements exactly as the app's driver received them (its own parameter style), timed alone."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            started = time.perf_counter()
            for statement, params in statements:
                cursor.execute(statement, params)
                cursor.fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            cursor.close()
            if self.dialect == "postgresql":
                connection.rollback()
            return elapsed
        finally:
            connection.close()

    # --- 5. transitions -------------------------------------------------------------------------
    def bench_transitions(self) -> None:
        from app.services.incidents import take_transition
        from app.workflow import TransitionNotAllowed

        registry = self.app.extensions["breachdesk.workflows"]
        rng = random.Random(f"{self.seed}:transitions")
        chosen = {(d.key, s): pick for d in registry.current.values() for s in d.states
                  if (pick := _bench_transition(d, s)) is not None}
        with self.app.app_context():
            rows = db.session.execute(
                select(Incident.id, Incident.workflow_key, Incident.state)
                .where(Incident.closed_at.is_(None), Incident.restricted.is_(False)).order_by(Incident.id)).all()
            admin = db.session.scalar(select(User).where(User.email == f"admin-1@{EMAIL_DOMAIN}")) or \
                db.session.scalar(select(User).where(User.role == "admin").order_by(User.id))
            assert admin is not None
            admin_id = admin.id
            before = _max_ids(db.session)
        # Transitions that write a deadline and e-mails first; deadline-only ones when those run out.
        tiers: dict[int, list[tuple[int, Any]]] = {1: [], 2: []}
        for r in rows:
            pick = chosen.get((r.workflow_key, r.state))
            if pick is not None:
                tiers[pick[1]].append((r.id, pick[0]))
        n = self.transitions
        candidates = []
        for tier in (2, 1):
            rng.shuffle(tiers[tier])
            candidates += tiers[tier][:max(0, 2 * (n + self.warmup) - len(candidates))]
        rng.shuffle(candidates)
        app_set, floor_set = candidates[0:2 * (n + self.warmup):2], candidates[1:2 * (n + self.warmup):2]
        if len(app_set) < n + self.warmup or len(floor_set) < n + self.warmup:
            n = max(1, min(len(app_set), len(floor_set)) - self.warmup)
        skipped: list[str] = []
        kinds: dict[str, int] = {}

        def app_op(i: int) -> None:
            incident_id, transition = app_set[i]
            with self.app.app_context():
                session = db.session
                actor = session.get(User, admin_id)
                incident = session.get(Incident, incident_id)
                try:
                    take_transition(session, registry, incident, transition.key, actor=actor,
                                    values=_values(transition, registry), comment="Benchmark transition.")
                    session.commit()
                    kinds[transition.key] = kinds.get(transition.key, 0) + 1
                except TransitionNotAllowed as refused:
                    session.rollback()
                    skipped.append(f"{incident_id}:{transition.key}: {refused.reason}")

        floor = RawTransition(self, registry, admin_id)
        app_ms, floor_ms = compare(app_op, lambda i: floor.take(*floor_set[i]), n, self.warmup)
        with self.app.app_context():
            written = _rows_since(db.session, before, [incident_id for incident_id, _ in app_set[:n + self.warmup]])
        notes = {"transitions": n + self.warmup, "refused": len(skipped), "app_rows_written": written,
                 "transitions_taken": kinds}
        if skipped:
            notes["first_refusal"] = skipped[0]
        self.record(Result("transitions", "take_transition + commit", Figures.of(app_ms), Figures.of(floor_ms), notes))

    # --- running ------------------------------------------------------------------------------------
    def run(self, only: Sequence[str]) -> None:
        for name in BENCHMARKS:
            if name in only:
                getattr(self, f"bench_{name}")()


def _check_revision(url: str, engine: Any) -> None:
    """Stop early, saying what to do, when the database is behind the code's migrations."""
    from alembic.script import ScriptDirectory

    from app.cli import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    with engine.connect() as connection:
        current = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
    if current != heads:
        raise SystemExit(f"bench.run: the database is at revision {', '.join(sorted(current)) or 'none'} but the code "
                         f"expects {', '.join(sorted(heads))}: run `breachdesk db upgrade` on it "
                         "(BREACHDESK_DATABASE_URL=…) or generate it again")


def _newest_first_sql(where: list[str], limit: int) -> str:
    """The queue page's rows by hand: incidents with assignee and subject, newest first."""
    return ("SELECT i.*, u.*, p.* FROM incidents i LEFT OUTER JOIN users u ON u.id = i.assignee_id "
            "LEFT OUTER JOIN people p ON p.id = i.subject_id" + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY i.id DESC LIMIT {limit}")


def _deep_due_cursor(session: Any) -> str:
    """A cursor about a tenth of the way down the running deadlines, as the due-sorted queue writes it."""
    from app.models import Deadline

    running = _count_running(session)
    row = session.execute(select(Deadline.due_at, Deadline.id).where(Deadline.status == "running")
                          .order_by(Deadline.due_at, Deadline.id).offset(max(1, running // 10)).limit(1)).first()
    return f"due:{row[0].isoformat()}~{row[1]}" if row else "due:2000-01-01T00:00:00+00:00~0"


def _count_running(session: Any) -> int:
    from app.models import Deadline

    return session.scalar(select(func.count()).select_from(Deadline).where(Deadline.status == "running")) or 0


def _tables() -> tuple[tuple[str, Any], ...]:
    from app.models import AuditEvent, Deadline, OutboxMessage

    return (("audit_events", AuditEvent), ("deadlines", Deadline), ("outbox_messages", OutboxMessage))


def _max_ids(session: Any) -> dict[str, int]:
    return {name: session.scalar(select(func.max(model.id))) or 0 for name, model in _tables()}


def _rows_since(session: Any, before: dict[str, int], incident_ids: list[int]) -> dict[str, int]:
    """Rows the app's transitions wrote (the floor's writes, on other incidents, are left out)."""
    counts = {}
    for name, model in _tables():
        counts[name] = session.scalar(select(func.count()).select_from(model).where(
            model.id > before[name], model.incident_id.in_(incident_ids))) or 0
    return counts


def _busy_state(session: Any) -> str:
    """An open college-side state (so every user benchmarked sees some) holding a modest share of incidents."""
    rows = session.execute(select(Incident.state, func.count())
                           .where(Incident.closed_at.is_(None), Incident.side == "college")
                           .group_by(Incident.state).order_by(func.count().desc(), Incident.state)).all()
    return rows[min(3, len(rows) - 1)][0] if rows else "reported"


def _bench_transition(definition: Any, state: str) -> tuple[Any, int] | None:
    """The transition benchmarked from ``state`` and its tier: 2 writes a deadline and an e-mail, 1 a deadline."""
    best, best_tier = None, 0
    for transition in definition.transitions_from(state):
        if "admin" not in transition.roles or transition.guards or transition.to == state:
            continue
        if any(f.type == "person" and f.required for f in transition.fields):
            continue
        names = {e.name for e in transition.effects}
        deadline = bool(names & {"start_deadline", "stop_deadline"})
        tier = 2 if deadline and "notify_role" in names else 1 if "start_deadline" in names else 0
        if tier > best_tier:
            best, best_tier = transition, tier
    return (best, best_tier) if best is not None else None


def _values(transition: Any, registry: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    values: dict[str, Any] = {}
    for spec in transition.fields:
        if spec.type == "boolean":
            values[spec.key] = False
        elif spec.type == "choice":
            values[spec.key] = spec.choices[0]
        elif spec.type == "date":
            values[spec.key] = today.isoformat()
        elif spec.type == "datetime":
            values[spec.key] = (today + timedelta(days=7)).isoformat() + "T10:00"
        elif spec.type == "clause_list":
            values[spec.key] = ["rcr:2.4"]
        elif spec.type in ("text", "long_text"):
            values[spec.key] = "Benchmark value."
    return values


class RawTransition:
    """The floor for a transition: the same writes by hand, in the app's order — incident row, deadlines,
    a linked incident where the workflow opens one, outbox rows, audit rows with their hashes and the
    chain head — in one transaction on a pooled raw connection. Effects that only touch the incident's
    own columns (outcome, severity) are folded into its UPDATE; clause citations and warnings are left out."""

    def __init__(self, bench: Bench, registry: Any, admin_id: int) -> None:
        self.bench = bench
        self.registry = registry
        with bench.app.app_context():
            admin = db.session.get(User, admin_id)
            assert admin is not None
            self.admin_id, self.admin_email = admin.id, admin.email

    def take(self, incident_id: int, transition: Any) -> float:
        """Take the transition by hand; returns the time from BEGIN to COMMIT in ms."""
        b = self.bench
        connection = b.engine.raw_connection()
        cursor = connection.cursor()
        try:
            started = time.perf_counter()
            if b.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            self._take(cursor, incident_id, transition)
            if b.dialect == "sqlite":
                cursor.execute("COMMIT")
            else:
                connection.commit()
            return (time.perf_counter() - started) * 1000
        except BaseException:
            if b.dialect == "postgresql":
                connection.rollback()
            elif connection.dbapi_connection.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
            connection.close()

    def _take(self, cursor: Any, incident_id: int, transition: Any) -> None:

        b, q = self.bench, self.bench.sql
        now = datetime.now(UTC)
        stamp = b.when(now)
        lock = " FOR UPDATE" if b.dialect == "postgresql" else ""
        cursor.execute(q("SELECT last_hash FROM audit_chain_head WHERE id = 1" + lock))
        self.prev = cursor.fetchone()[0]
        cursor.execute(q("SELECT version, state, workflow_key, workflow_version, team_id, calendar, fields, side, "
                         "subject_id, assignee_id, severity, restricted, title FROM incidents WHERE id = ?"),
                       (incident_id,))
        (version, from_state, workflow_key, workflow_version, team_id, calendar, fields, side, subject_id,
         assignee_id, severity, restricted, title) = cursor.fetchone()
        definition = self.registry.get(workflow_key)
        final = definition.states[transition.to].final
        values = _values(transition, self.registry)
        merged = {**(json.loads(fields) if isinstance(fields, str) else (fields or {})), **values}
        outcome = next((str(values[e.params["field"]]) for e in transition.effects
                        if e.name == "record_outcome" and e.params["field"] in values), None)
        cursor.execute(q("UPDATE incidents SET state = ?, state_entered_at = ?, updated_at = ?, version = ?, "
                         "fields = ?, outcome = COALESCE(?, outcome), closed_at = ? WHERE id = ? AND version = ?"),
                       (transition.to, stamp, stamp, version + 1, json.dumps(merged), outcome,
                        stamp if final else None, incident_id, version))
        for effect in transition.effects:
            key = effect.params.get("deadline")
            if effect.name in ("start_deadline", "stop_deadline"):
                status = "cancelled" if effect.name == "start_deadline" else "met"
                cursor.execute(q("UPDATE deadlines SET status = ?, finished_at = ? WHERE incident_id = ? "
                                 "AND key = ? AND status IN ('running', 'paused')"), (status, stamp, incident_id, key))
            if effect.name == "start_deadline":
                spec = definition.deadlines[key]
                cursor.execute(q("INSERT INTO deadlines (incident_id, key, title, why, duration, calendar, "
                                 "started_at, due_at, status, paused_seconds, reminders, on_breach) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', 0, ?, ?)"),
                               (incident_id, key, spec.title, spec.why, spec.duration, calendar, stamp,
                                b.when(now + approx_duration(spec.duration)), json.dumps(list(spec.reminders)),
                                json.dumps(dict(spec.on_breach)) if spec.on_breach else None))
            elif effect.name == "open_linked":
                target = self.registry.get(effect.params["workflow"])
                cursor.execute(q("SELECT id FROM workflow_versions WHERE workflow_key = ? AND version = ?"),
                               (target.key, target.version))
                cursor.fetchall()
                cursor.execute(q("INSERT INTO reference_counters (year, last_number) VALUES (?, 1) ON CONFLICT (year) "
                                 "DO UPDATE SET last_number = reference_counters.last_number + 1 "
                                 "RETURNING last_number"), (now.year,))
                reference = f"BD-{now.year}-{cursor.fetchone()[0]:05d}"
                linked_title = f"{target.title}: {title}"[:200]
                cursor.execute(q("INSERT INTO incidents (reference, kind, title, summary, side, workflow_key, "
                                 "workflow_version, state, state_entered_at, severity, calendar, fields, restricted, "
                                 "subject_id, assignee_id, team_id, created_by_id, created_at, updated_at, version) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id"),
                               (reference, target.kind, linked_title, "Opened by the benchmark.", target.side,
                                target.key, target.version, target.initial, stamp, severity, calendar, restricted,
                                subject_id, assignee_id, team_id if target.side == side else None, self.admin_id,
                                stamp, stamp))
                linked_id = cursor.fetchone()[0]
                self._audit(cursor, now, "incident.opened", linked_id, None, target.initial, None, target.version,
                            None, {"workflow": target.key, "title": linked_title, "clauses": [],
                                   "severity": severity})
                cursor.execute(q("INSERT INTO incident_links (from_id, to_id, relation, created_at) "
                                 "VALUES (?, ?, ?, ?)"), (incident_id, linked_id, effect.params["relation"], stamp))
                self._audit(cursor, now, "incident.linked", incident_id, None, None, None, workflow_version, None,
                            {"relation": effect.params["relation"], "to": reference},
                            object_type="incident", object_id=str(linked_id))
            elif effect.name == "notify_role":
                role = effect.params["role"]
                team_clause = " AND team_id = ?" if role == "regional_officer" else ""
                cursor.execute(q("SELECT id, email FROM users WHERE role = ? AND active" + team_clause
                                 + " ORDER BY id"), (role, team_id) if team_clause else (role,))
                for _uid, email in cursor.fetchall():
                    cursor.execute(q("INSERT INTO outbox_messages (created_at, to_address, subject, body, "
                                     "incident_id, status, attempts, next_attempt_at) "
                                     "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)"),
                                   (stamp, email, f"[Breachdesk] {definition.title}: your attention is needed",
                                    "Written by the benchmark's floor.", incident_id, stamp))
        if final:
            cursor.execute(q("UPDATE deadlines SET status = 'cancelled', finished_at = ? WHERE incident_id = ? "
                             "AND status IN ('running', 'paused')"), (stamp, incident_id))
        comment = "Benchmark transition." if transition.comment != "none" else None
        last_id = self._audit(cursor, now, "incident.transition", incident_id, from_state, transition.to,
                              transition.key, workflow_version, comment, {"fields": values})
        cursor.execute(q("UPDATE audit_chain_head SET last_id = ?, last_hash = ? WHERE id = 1"), (last_id, self.prev))

    def _audit(self, cursor: Any, now: datetime, action: str, incident_id: int, from_state: str | None,
               to_state: str | None, transition: str | None, workflow_version: str | None, comment: str | None,
               data: dict[str, Any], object_type: str | None = None, object_id: str | None = None) -> int:
        digest = audit_hash(self.prev, now, self.admin_id, self.admin_email, action, incident_id, from_state,
                            to_state, transition, workflow_version, comment, data, object_type, object_id)
        cursor.execute(self.bench.sql(
            "INSERT INTO audit_events (at, actor_id, actor_label, action, incident_id, object_type, object_id, "
            "from_state, to_state, transition, workflow_version, comment, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
            (self.bench.when(now), self.admin_id, self.admin_email, action, incident_id, object_type, object_id,
             from_state, to_state, transition, workflow_version, comment, json.dumps(data), self.prev, digest))
        self.prev = digest
        return cursor.fetchone()[0]


# --- output -------------------------------------------------------------------------------------------

HEADER = (f"{'benchmark':<12} {'case':<30} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'ops/s':>9} | "
          f"{'floor p50':>9} {'p95':>8} {'p99':>8} | {'ratio p50':>9} {'p95':>6}")


def _fmt(value: float | None, width: int, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width},.{digits}f}"


def format_row(r: Result) -> str:
    f = r.floor
    ops = _fmt(r.app.ops_per_s, 9, 1 if r.app.ops_per_s >= 10 else 3)
    line = (f"{r.benchmark:<12} {r.case:<30} {r.app.n:>5} {_fmt(r.app.p50, 9)} {_fmt(r.app.p95, 9)} "
            f"{_fmt(r.app.p99, 9)} {ops} | {_fmt(f.p50 if f else None, 9, 3)} "
            f"{_fmt(f.p95 if f else None, 8, 3)} {_fmt(f.p99 if f else None, 8, 3)} | "
            f"{_fmt(r.ratio_p50, 9, 1)} {_fmt(r.ratio_p95, 6, 1)}")
    if r.notes:
        line += "\n" + " " * 13 + json.dumps(r.notes, default=str)
    return line


def environment(url: str) -> dict[str, Any]:
    import sqlalchemy

    with db.engine.connect() as connection:  # type: ignore[union-attr]
        server = connection.exec_driver_sql(
            "SELECT version()" if db.dialect == "postgresql" else "SELECT sqlite_version()").scalar()
        incidents = connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar()
        dead = dead_rows(connection)
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), **machine.describe(),
            "sqlalchemy": sqlalchemy.__version__, "database": str(server), "incidents": incidents,
            "dead_rows": dead, "url": db.engine.url.render_as_string(hide_password=True)}  # type: ignore[union-attr]


# A table holding this many dead rows (and at least a fifth as many as live ones) is worth a warning.
DEAD_ROWS_WORTH_A_WARNING = 10_000


def dead_rows(connection: Any) -> dict[str, dict[str, int]]:
    """PostgreSQL: the tables with many dead rows (left by updates and deletes, the benchmark's rolled-back sweeps
    included) that VACUUM has not yet reclaimed. Queries read past them until it does: run 24's dashboards ran at
    half speed on a database whose deadlines held more dead rows than live ones. Empty on SQLite."""
    if connection.dialect.name != "postgresql":
        return {}
    rows = connection.exec_driver_sql(
        "SELECT relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables "
        "WHERE n_dead_tup >= %(least)s AND n_dead_tup * 5 >= n_live_tup ORDER BY n_dead_tup DESC",
        {"least": DEAD_ROWS_WORTH_A_WARNING})
    return {name: {"dead": dead, "live": live} for name, dead, live in rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--iterations", type=int, default=200, help="timed repetitions of each case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repetitions first")
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run only this benchmark (repeatable); default: all")
    parser.add_argument("--sweep-iterations", type=int, default=3, help="timed sweeps (each rolled back)")
    parser.add_argument("--transitions", type=int, help="transitions to time (default: --iterations)")
    parser.add_argument("--seed", type=int, default=42, help="picks the incidents visited")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    bench = Bench(args.database_url, args.iterations, args.warmup, args.seed, args.sweep_iterations,
                  args.transitions)
    with bench.app.app_context():
        env = environment(args.database_url)
    print("# " + json.dumps(env))
    for table, counts in env["dead_rows"].items():
        print(f"# warning: {table} holds {counts['dead']:,} dead rows against {counts['live']:,} live, which queries "
              "read past until VACUUM reclaims them: run VACUUM ANALYZE first for figures comparable with other runs")
    print(HEADER)
    started = time.monotonic()
    bench.run(args.only or BENCHMARKS)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"# {len(bench.connections)} distinct database connection(s) used by app and floor; "
          f"{time.monotonic() - started:,.0f} s in all; load average now {load} (1, 5, 15 min)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"environment": env, "argv": list(sys.argv), "connections": len(bench.connections),
                       "load_average_at_end": load,
                       "results": [dict(asdict(r), ratio_p50=r.ratio_p50, ratio_p95=r.ratio_p95)
                                   for r in bench.results]}, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
