"""Generate a realistic Breachdesk organisation at a chosen scale, fast and deterministically.

    python -m bench.generate --database-url sqlite:///bench/out/bench.sqlite3 --incidents 100000 [--seed 42]

Migrates the database (Alembic, as ``breachdesk db upgrade`` does), then bulk-inserts teams, users, people
with social handles, incidents spread over every workflow and state across 2022 to today, their posts,
evidence records, cited clauses, deadlines, links and audit rows whose hash chain verifies. SQLite is
loaded with SQLAlchemy Core ``insert()`` executemany in batches; PostgreSQL with psycopg ``COPY``.

The same ``--seed`` and ``--now`` give the same database. ``--now`` (default: the start of today, UTC)
is the moment the data is generated "as of": deadlines fall due around it. ``--due-now K`` makes exactly
K running deadlines already due at that moment (default 1% of them); every other running deadline falls
due between 3 and 60 days after it, so a sweep run within three days of ``--now`` sees exactly K.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import heapq
import json
import os
import random
import string
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, text

from app import ROOT
from app.models import (
    AuditEvent,
    Deadline,
    EvidenceFile,
    Incident,
    IncidentClause,
    IncidentLink,
    IncidentShare,
    OrganisationSettings,
    Person,
    Post,
    ReferenceCounter,
    SocialHandle,
    Team,
    User,
    WorkflowVersion,
)
from app.models.people import PLATFORMS
from app.policy import Catalogues, load_catalogues
from app.services.audit import GENESIS_HASH, compute_hash
from app.services.references import format_reference
from app.timing import parse_duration
from app.workflow import WorkflowDef, WorkflowRegistry, load_registry
from bench import words

BENCH_PASSWORD = "breachdesk-bench-2026"
EMAIL_DOMAIN = "bench.breachdesk.example"
START = datetime(2022, 1, 1, tzinfo=UTC)

# Share of incidents per workflow (normalised over the workflows that exist).
WORKFLOW_WEIGHTS = {
    "problem-solving": 20, "content-removal": 12, "antagonistic-tag": 10, "press-referral": 8,
    "harassment-complaint": 5, "brand-permission": 4, "formal-action": 5, "employer-disciplinary": 15,
    "disciplinary-appeal": 5, "employment-tribunal": 6, "regulator-ftp-hcpc": 4, "regulator-ftp-nmc": 3,
    "regulator-ftp-gmc": 3,
}
# Which catalogue an incident's cited clauses come from, by side.
CATALOGUE_BY_SIDE = {"college": "rcr", "union": "employer", "regulator": "hcpc"}
ROLE_SHARES = (("comms", 0.25), ("director_of_comms", 0.02), ("press_office", 0.04), ("officer", 0.10),
               ("rep", 0.40), ("regional_officer", 0.10), ("admin", 0.05), ("auditor", 0.04))
PERSON_ROLES = (("contributor", 40), ("officer", 10), ("member", 40), ("staff", 5), ("external", 5))
CALENDARS = (("england-and-wales", 85), ("scotland", 10), ("northern-ireland", 5))
SEVERITIES = (("low", 30), ("medium", 45), ("high", 20), ("critical", 5))
EVIDENCE_KINDS = (("screenshot-{n}.png", "image/png"), ("letter-{n}.pdf", "application/pdf"),
                  ("email-{n}.eml", "message/rfc822"), ("photo-{n}.jpg", "image/jpeg"))


# --- the shape of each workflow, worked out once ---------------------------------------------------

@dataclass
class DeadlineTemplate:
    key: str
    start_step: int  # 0 = at opening, k = at the k-th transition of the path
    end_step: int | None = None  # None = still live at the end of the path
    end_status: str | None = None  # met | cancelled


@dataclass
class StatePlan:
    """How an incident comes to stand in one state: the path from the start and what it leaves behind."""

    state: str
    final: bool
    paused: bool
    path: list[Any]  # TransitionDefs from the initial state
    deadlines: list[DeadlineTemplate]
    links: list[tuple[int, str, str]]  # (step, target workflow, relation)
    outcome: tuple[int, tuple[str, ...]] | None  # (step, choices) of the last record_outcome effect

    @property
    def running(self) -> int:
        return 0 if self.paused else sum(1 for d in self.deadlines if d.end_step is None)


@dataclass
class WorkflowPlan:
    definition: WorkflowDef
    open_states: list[StatePlan] = field(default_factory=list)
    final_states: list[StatePlan] = field(default_factory=list)


def _paths(definition: WorkflowDef) -> dict[str, list[Any]]:
    """Shortest path (list of transitions) from the initial state to every reachable state."""
    paths: dict[str, list[Any]] = {definition.initial: []}
    queue = deque([definition.initial])
    while queue:
        state = queue.popleft()
        for transition in definition.transitions_from(state):
            if transition.to not in paths:
                paths[transition.to] = [*paths[state], transition]
                queue.append(transition.to)
    return paths


def _state_plan(definition: WorkflowDef, state: str, path: list[Any]) -> StatePlan:
    live: dict[str, DeadlineTemplate] = {}
    made: list[DeadlineTemplate] = []

    def start(key: str, step: int) -> None:
        if key in live:
            live[key].end_step, live[key].end_status = step, "cancelled"
        live[key] = DeadlineTemplate(key, step)
        made.append(live[key])

    for ref in definition.on_open:
        if ref.name == "start_deadline":
            start(ref.params["deadline"], 0)
    links: list[tuple[int, str, str]] = []
    outcome = None
    for step, transition in enumerate(path, start=1):
        for ref in transition.effects:
            if ref.name == "start_deadline":
                start(ref.params["deadline"], step)
            elif ref.name == "stop_deadline" and ref.params["deadline"] in live:
                ended = live.pop(ref.params["deadline"])
                ended.end_step, ended.end_status = step, "met"
            elif ref.name == "open_linked":
                links.append((step, ref.params["workflow"], ref.params["relation"]))
            elif ref.name == "record_outcome":
                spec = transition.field(ref.params["field"])
                if spec is not None and spec.choices:
                    outcome = (step, spec.choices)
        if definition.states[transition.to].final:
            for ended in live.values():
                ended.end_step, ended.end_status = step, "cancelled"
            live.clear()
    target = definition.states[state]
    return StatePlan(state, target.final, target.clock_paused, path, made, links, outcome)


def plan_workflows(registry: WorkflowRegistry) -> list[WorkflowPlan]:
    plans = []
    for key in sorted(registry.current):
        definition = registry.current[key]
        plan = WorkflowPlan(definition)
        for state, path in _paths(definition).items():
            state_plan = _state_plan(definition, state, path)
            (plan.final_states if state_plan.final else plan.open_states).append(state_plan)
        plan.open_states.sort(key=lambda s: s.state)
        plan.final_states.sort(key=lambda s: s.state)
        plans.append(plan)
    return plans


def approx_duration(text: str) -> timedelta:
    """A rough length for a finished deadline's due time (the exact counting does not matter here)."""
    parsed = parse_duration(text)
    per_unit = {"working_days": 1.4, "days": 1, "weeks": 7, "months": 30.4, "hours": 1 / 24,
                "business_hours": 1 / 8}[parsed.unit]
    return timedelta(days=max(parsed.amount * per_unit - parsed.less_days, 1 / 24))


# --- writing rows ----------------------------------------------------------------------------------

# When the PostgreSQL writer refreshes the statistics of the tables the triggers read (Writer._analyze): after
# this many audit rows, then each time they have doubled.
ANALYZE_FIRST_AT = 1_000  # low enough that the smoke test (600 incidents) runs it too
ANALYZED_WHILE_LOADING = ("incidents", "deadlines", "audit_events", "incident_counts")


class Writer:
    """Bulk insert: Core ``insert()`` executemany on SQLite, ``COPY`` on PostgreSQL. One transaction per flush."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.rows = 0
        if self.postgres:
            self.raw = engine.raw_connection()
            self.pg = self.raw.driver_connection
            with self.pg.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
            self.pg.commit()
            self._analyze_at = ANALYZE_FIRST_AT
            self.written: dict[str, int] = {}
        else:
            self.connection = engine.connect()
            self._statements: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[int, Any]]]] = {}

    def insert(self, model: Any, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        self.rows += len(rows)
        if self.postgres:
            table = model.__tablename__
            self.written[table] = self.written.get(table, 0) + len(rows)
            json_columns = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS.get(table, ())]
            with self.pg.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                if json_columns:
                    for row in rows:
                        values = list(row)
                        for i in json_columns:
                            if values[i] is not None:
                                values[i] = json.dumps(values[i])
                        copy.write_row(values)
                else:
                    for row in rows:
                        copy.write_row(row)
        else:
            sql, processors = self._compiled(model.__table__, columns)
            if processors:
                prepared = []
                for row in rows:
                    values = list(row)
                    for i, process in processors:
                        value = values[i]
                        if value is not None:
                            values[i] = process(value)
                    prepared.append(tuple(values))
                rows = prepared
            self.connection.exec_driver_sql(sql, rows)

    def _compiled(self, table: Any, columns: Sequence[str]) -> tuple[str, list[tuple[int, Any]]]:
        """Core ``insert()`` compiled once per table; each row's values go through the column types' own
        bind processors (UTC datetimes, JSON, booleans) and then to the driver's executemany in one call."""
        key = (table.name, tuple(columns))
        cached = self._statements.get(key)
        if cached is None:
            compiled = insert(table).compile(dialect=self.engine.dialect, column_keys=list(columns))
            order = list(compiled.positiontup or [])
            if order != list(columns):
                raise RuntimeError(f"unexpected bind order for {table.name}: {order}")
            processors = []
            for i, name in enumerate(columns):
                column_type = table.c[name].type.dialect_impl(self.engine.dialect)
                process = column_type.bind_processor(self.engine.dialect)
                if process is not None:
                    processors.append((i, process))
            cached = (str(compiled), processors)
            self._statements[key] = cached
        return cached

    def set_chain_head(self, last_id: int, last_hash: str) -> None:
        if self.postgres:
            with self.pg.cursor() as cursor:
                cursor.execute("UPDATE audit_chain_head SET last_id = %s, last_hash = %s WHERE id = 1",
                               (last_id, last_hash))
        else:
            self.connection.execute(text("UPDATE audit_chain_head SET last_id = :id, last_hash = :hash WHERE id = 1"),
                                    {"id": last_id, "hash": last_hash})

    def commit(self) -> None:
        if self.postgres:
            self.pg.commit()
            if self.written.get("audit_events", 0) >= self._analyze_at:
                self._analyze()
        else:
            self.connection.commit()

    def _analyze(self) -> None:
        """Fresh statistics as the tables grow. The counting triggers' PL/pgSQL statements keep the plan they were
        first given in this session; planned on empty tables, the removal trigger's look-ups of an incident's
        audit rows and deadlines stayed sequential scans, so each content-removal incident read every audit row
        written before it (3 billion rows read by a fifth of the way, the load slowing to a crawl). ANALYZE
        invalidates those plans, and the next are made for the tables' real size."""
        with self.pg.cursor() as cursor:
            for table in ANALYZED_WHILE_LOADING:
                cursor.execute(f"ANALYZE {table}")
        self.pg.commit()
        self._analyze_at = self.written["audit_events"] * 2

    def close(self) -> None:
        if self.postgres:
            self.raw.close()
        else:
            self.connection.close()


_JSON_COLUMNS = {"incidents": ("fields",), "deadlines": ("reminders", "on_breach"), "audit_events": ("data",)}

COLUMNS = {
    "teams": ("id", "key", "name"),
    "users": ("id", "email", "name", "password_hash", "role", "team_id", "active", "session_token", "created_at",
              "password_changed_at", "last_login_at"),
    "people": ("id", "name", "role", "email", "office", "notes", "created_at"),
    "social_handles": ("id", "person_id", "platform", "handle", "handle_key"),
    "incidents": ("id", "reference", "kind", "title", "summary", "side", "workflow_key", "workflow_version",
                  "state", "state_entered_at", "severity", "calendar", "outcome", "fields", "restricted",
                  "subject_id", "assignee_id", "team_id", "created_by_id", "created_at", "updated_at", "closed_at",
                  "first_action_at", "version"),
    "posts": ("id", "incident_id", "platform", "url", "url_key", "platform_post_id", "author_handle", "posted_at",
              "text", "text_sha256", "captured_by_id", "captured_at"),
    "evidence_files": ("id", "incident_id", "original_name", "stored_name", "content_type", "size_bytes", "sha256",
                       "description", "captured_by_id", "captured_at"),
    "incident_clauses": ("id", "incident_id", "clause_key", "catalogue_version", "cited_at", "cited_by_id"),
    "deadlines": ("id", "incident_id", "key", "title", "why", "duration", "calendar", "started_at", "due_at",
                  "status", "paused_at", "paused_seconds", "finished_at", "breached_at", "reminders", "on_breach"),
    "audit_events": ("id", "at", "actor_id", "actor_label", "action", "incident_id", "object_type", "object_id",
                     "from_state", "to_state", "transition", "workflow_version", "comment", "data", "ip",
                     "prev_hash", "hash"),
    "incident_links": ("id", "from_id", "to_id", "relation", "created_at"),
    "incident_shares": ("id", "incident_id", "user_id", "kind", "reason", "granted_by_id", "created_at",
                        "expires_at", "revoked_at"),
}


# --- progress ---------------------------------------------------------------------------------------

class Progress:
    def __init__(self, total: int, writer: Writer) -> None:
        self.total, self.writer = total, writer
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_report = -1.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and not self.tty and now - self.last_report < 10:
            return
        self.last_report = now
        elapsed = max(now - self.started, 1e-9)
        share = done / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        line = (f"[{bar:<30}] {share:6.1%}  incidents {done:,}/{self.total:,}  rows {self.writer.rows:,}  "
                f"{self.writer.rows / elapsed:,.0f} rows/s  {elapsed:,.0f} s")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


# --- the generator ----------------------------------------------------------------------------------

def _cum(pairs: Iterable[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    items, weights = zip(*pairs, strict=True)
    total, acc = 0.0, []
    for w in weights:
        total += w
        acc.append(total)
    return list(items), acc


def _token(rng: random.Random, length: int = 43) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choices(alphabet, k=length))


def _hex(rng: random.Random, nbytes: int = 32) -> str:
    return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


def audit_hash(prev: str, at: datetime, actor_id: int | None, actor_label: str, action: str,
               incident_id: int | None, from_state: str | None, to_state: str | None, transition: str | None,
               workflow_version: str | None, comment: str | None, data: dict[str, Any],
               object_type: str | None = None, object_id: str | None = None) -> str:
    """The hash ``app.services.audit.compute_hash`` gives such a row (no ip: not from a web request)."""
    body = {"prev": prev, "at": at.isoformat(), "actor_id": actor_id, "actor": actor_label, "action": action,
            "incident_id": incident_id, "object_type": object_type, "object_id": object_id, "from": from_state,
            "to": to_state, "transition": transition, "workflow_version": workflow_version, "comment": comment,
            "data": data, "ip": None}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@dataclass
class Options:
    database_url: str
    incidents: int
    seed: int = 42
    now: datetime | None = None
    due_now: int | None = None
    batch: int = 20_000
    reset: bool = False
    verify: bool = False
    quiet: bool = False


@dataclass
class Summary:
    counts: dict[str, int]
    seconds: float
    now: datetime
    due_now: int
    running_deadlines: int
    open_incidents: int


class Generator:
    def __init__(self, options: Options, registry: WorkflowRegistry, catalogues: Catalogues) -> None:
        self.o = options
        self.registry = registry
        self.catalogues = catalogues
        self.now = options.now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.now <= START + timedelta(days=30):
            raise SystemExit("--now must be well after 2022-01-01")
        self.plans = plan_workflows(registry)
        names = [p.definition.key for p in self.plans]
        self.workflow_cum = _cum((i, WORKFLOW_WEIGHTS.get(k, 3)) for i, k in enumerate(names))
        self.counts: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.version_cache: dict[tuple[str, date], str] = {}

    # ids -------------------------------------------------------------------------------------------
    def next_id(self, table: str) -> int:
        value = self.seq.get(table, 0) + 1
        self.seq[table] = value
        return value

    # organisation --------------------------------------------------------------------------------
    def organisation(self, writer: Writer) -> None:
        from app.services.passwords import hasher

        rng = random.Random(f"{self.o.seed}:org")
        n_users = max(24, self.o.incidents // 2000)
        counts = {role: max(1, round(n_users * share)) for role, share in ROLE_SHARES}
        n_rep_teams = max(1, min(8, counts["regional_officer"], counts["rep"]))
        regions = ["north", "south", "east", "west", "midlands", "scotland", "wales", "northern-ireland"]
        teams = [("communications", "Communications"), ("press-office", "Press office")]
        teams += [(f"reps-{r}", f"Reps, {r.replace('-', ' ').title()}") for r in regions[:n_rep_teams]]
        team_rows = [(i, key, name) for i, (key, name) in enumerate(teams, start=1)]
        self.team_id = {key: i for i, key, _ in team_rows}
        self.rep_team_ids = [self.team_id[k] for k, _ in teams[2:]]
        writer.insert(Team, COLUMNS["teams"], team_rows)
        self.counts["teams"] = len(team_rows)

        # Hashed once (argon2id is deliberately slow), with the app's parameters and a seeded salt.
        password_hash = hasher.hash(BENCH_PASSWORD, salt=rng.getrandbits(128).to_bytes(16, "big"))
        created = START - timedelta(days=30)
        self.users: list[tuple[int, str, str, int | None]] = []  # id, email, role, team
        user_rows = []
        for role, _ in ROLE_SHARES:
            for n in range(1, counts[role] + 1):
                if role in ("comms", "director_of_comms"):
                    team = self.team_id["communications"]
                elif role == "press_office":
                    team = self.team_id["press-office"]
                elif role in ("rep", "regional_officer"):
                    team = self.rep_team_ids[(n - 1) % len(self.rep_team_ids)]
                else:
                    team = None
                uid = len(user_rows) + 1
                email = f"{role.replace('_', '-')}-{n}@{EMAIL_DOMAIN}"
                name = f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"
                user_rows.append((uid, email, name, password_hash, role, team, True, _token(rng), created, created,
                                  None))
                self.users.append((uid, email, role, team))
        writer.insert(User, COLUMNS["users"], user_rows)
        self.counts["users"] = len(user_rows)
        self.email = {u[0]: u[1] for u in self.users}
        self.by_role: dict[str, list[int]] = {}
        self.by_role_team: dict[tuple[str, int | None], list[int]] = {}
        for uid, _, role, team in self.users:
            self.by_role.setdefault(role, []).append(uid)
            self.by_role_team.setdefault((role, team), []).append(uid)

        writer.insert(OrganisationSettings, ("id", "name", "default_calendar", "timezone", "working_day_ends",
                                             "office_opens"),
                      [(1, "Bench College and Union", "england-and-wales", "Europe/London", "17:00", "09:00")])
        versions = [(i, p.definition.key, p.definition.version, p.definition.source_text, START)
                    for i, p in enumerate(self.plans, start=1)]
        writer.insert(WorkflowVersion, ("id", "workflow_key", "version", "source", "first_used_at"), versions)
        writer.commit()

    # people ----------------------------------------------------------------------------------------
    def people(self, writer: Writer) -> None:
        rng = random.Random(f"{self.o.seed}:people")
        n_people = max(20, self.o.incidents // 5)
        roles, role_cum = _cum(PERSON_ROLES)
        platforms = list(PLATFORMS)
        self.person_handle: list[str | None] = [None]  # index = person id
        self.person_role: list[str] = [""]
        people_rows: list[tuple] = []
        handle_rows: list[tuple] = []
        for pid in range(1, n_people + 1):
            first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            role = rng.choices(roles, cum_weights=role_cum)[0]
            title = "Dr " if role == "officer" or rng.random() < 0.3 else ""
            email = f"{first}.{last}{pid}@example.org".lower().replace("'", "") if rng.random() < 0.6 else None
            office = rng.choice(words.OFFICES) if role == "officer" else None
            people_rows.append((pid, f"{title}{first} {last}", role, email, office, None,
                                START + timedelta(seconds=rng.random() * 86400 * 30)))
            first_handle = None
            for platform in rng.sample(platforms, rng.randint(1, 3)):
                style = rng.randrange(3)
                base = (f"{first}{last}", f"{first[0]}{last}_{pid % 97}", f"dr_{last}")[style]
                handle = f"@{base}{pid}".replace("'", "")
                handle_rows.append((self.next_id("social_handles"), pid, platform, handle,
                                    handle.lstrip("@").lower()))
                first_handle = first_handle or handle
            self.person_handle.append(first_handle)
            self.person_role.append(role)
            if len(people_rows) >= 50_000:
                writer.insert(Person, COLUMNS["people"], people_rows)
                writer.insert(SocialHandle, COLUMNS["social_handles"], handle_rows)
                people_rows, handle_rows = [], []
        writer.insert(Person, COLUMNS["people"], people_rows)
        writer.insert(SocialHandle, COLUMNS["social_handles"], handle_rows)
        writer.commit()
        self.counts["people"] = n_people
        self.counts["social_handles"] = self.seq.get("social_handles", 0)

    # the plan: workflow, state and time of every incident ------------------------------------------
    def plan_incidents(self) -> None:
        rng = random.Random(f"{self.o.seed}:plan")
        n = self.o.incidents
        span = (self.now - timedelta(hours=1) - START).total_seconds()
        self.created = sorted(rng.random() * span for _ in range(n))
        items, cum = self.workflow_cum
        self.wf_index = rng.choices(items, cum_weights=cum, k=n)
        self.state_plan: list[StatePlan] = []
        running = 0
        now_s = span
        for i in range(n):
            plan = self.plans[self.wf_index[i]]
            age_days = (now_s - self.created[i]) / 86400
            p_closed = 0.2 + 0.6 * min(1.0, age_days / 1095)
            pool = plan.final_states if (rng.random() < p_closed and plan.final_states) else plan.open_states
            pool = pool or plan.final_states
            state = pool[rng.randrange(len(pool))]
            self.state_plan.append(state)
            running += state.running
        self.running_total = running
        due = self.o.due_now if self.o.due_now is not None else round(running * 0.01)
        if due > running:
            raise SystemExit(f"--due-now {due} is more than the {running:,} running deadlines this scale makes; "
                             "generate more incidents or ask for fewer")
        self.due_now = due
        self.due_set = set(rng.sample(range(running), due))

    # incidents and everything hanging off them --------------------------------------------------
    def incidents(self, writer: Writer, progress: Progress) -> None:
        rng = random.Random(f"{self.o.seed}:incidents")
        text_rng = random.Random(f"{self.o.seed}:text")
        vocab, vocab_cum = words.vocabulary()
        sev_items, sev_cum = _cum(SEVERITIES)
        cal_items, cal_cum = _cum(CALENDARS)
        platforms = list(PLATFORMS)
        n = self.o.incidents
        n_people = len(self.person_handle) - 1
        by_role, by_role_team = self.by_role, self.by_role_team
        email = self.email
        catalogue_keys = {side: sorted(self.catalogues.by_key[cat].current.clauses) for side, cat in
                          CATALOGUE_BY_SIDE.items() if cat in self.catalogues.by_key}
        comms_team = self.team_id["communications"]
        self.year_counts: dict[int, int] = {}
        self.ids_by_workflow: dict[str, list[int]] = {p.definition.key: [] for p in self.plans}
        self.link_requests: list[tuple[int, str, str, datetime]] = []
        pending: list[tuple[float, int, tuple]] = []  # audit events waiting for their turn, by time
        self.audit_seq = 0
        self.prev_hash = GENESIS_HASH
        self.checked_hashes = 0
        running_index = 0
        open_count = 0
        event_seq = 0
        rows: dict[str, list[tuple]] = {k: [] for k in ("incidents", "posts", "evidence_files", "incident_clauses",
                                                       "deadlines", "audit_events", "incident_shares")}
        all_users = [u[0] for u in self.users]
        spec_cache: dict[tuple[str, str], tuple] = {}

        def flush(upto: float | None) -> None:
            # Audit rows go out in time order; an event can go once no later incident can precede it.
            while pending and (upto is None or pending[0][0] < upto):
                _, _, ev = heapq.heappop(pending)
                self.audit_seq += 1
                at, actor_id, action, incident_id, from_state, to_state, transition, version, comment, data = ev
                label = email[actor_id] if actor_id else "system"
                digest = audit_hash(self.prev_hash, at, actor_id, label, action, incident_id, from_state, to_state,
                                    transition, version, comment, data)
                if self.checked_hashes < 50:
                    self._check_hash(self.audit_seq, at, actor_id, label, action, incident_id, from_state, to_state,
                                     transition, version, comment, data, digest)
                rows["audit_events"].append((self.audit_seq, at, actor_id, label, action, incident_id, None, None,
                                             from_state, to_state, transition, version, comment, data, None,
                                             self.prev_hash, digest))
                self.prev_hash = digest

        def write() -> None:
            writer.insert(Incident, COLUMNS["incidents"], rows["incidents"])
            for table, model in (("posts", Post), ("evidence_files", EvidenceFile),
                                 ("incident_clauses", IncidentClause), ("deadlines", Deadline),
                                 ("incident_shares", IncidentShare), ("audit_events", AuditEvent)):
                writer.insert(model, COLUMNS[table], rows[table])
                self.counts[table] = self.counts.get(table, 0) + len(rows[table])
            self.counts["incidents"] = self.counts.get("incidents", 0) + len(rows["incidents"])
            for value in rows.values():
                value.clear()
            writer.commit()

        for i in range(n):
            iid = i + 1
            wplan = self.plans[self.wf_index[i]]
            definition = wplan.definition
            wf_key = definition.key
            splan = self.state_plan[i]
            side = definition.side
            created = START + timedelta(seconds=self.created[i])
            age = self.now - created
            year = created.year
            number = self.year_counts.get(year, 0) + 1
            self.year_counts[year] = number
            self.ids_by_workflow[wf_key].append(iid)

            # people involved
            if side == "college":
                team = comms_team
                if wf_key == "press-referral":
                    assignee_pool = by_role.get("press_office") or by_role["comms"]
                else:
                    assignee_pool = by_role["director_of_comms"] if rng.random() < 0.1 else by_role["comms"]
                creator_pool = by_role["officer"] if wf_key in ("antagonistic-tag", "press-referral",
                                                                 "brand-permission") else None
            else:
                team = self.rep_team_ids[rng.randrange(len(self.rep_team_ids))]
                reps = by_role_team.get(("rep", team)) or by_role["rep"]
                regional = by_role_team.get(("regional_officer", team)) or by_role["regional_officer"]
                assignee_pool = regional if rng.random() < 0.06 else reps
                creator_pool = None
            assignee = assignee_pool[rng.randrange(len(assignee_pool))] if rng.random() < 0.9 else None
            if creator_pool and rng.random() < 0.5:
                creator = creator_pool[rng.randrange(len(creator_pool))]
            else:
                creator = assignee or assignee_pool[rng.randrange(len(assignee_pool))]
            subject = rng.randint(1, n_people) if rng.random() < 0.85 else None

            # timeline
            steps = len(splan.path)
            if splan.final:
                span_s = min(age.total_seconds() - 60, rng.uniform(3600, 120 * 86400))
                end = created + timedelta(seconds=max(span_s, 1))
            else:
                end = created + timedelta(seconds=rng.random() * min(age.total_seconds(), 90 * 86400))
            total_s = (end - created).total_seconds()
            fractions = sorted(rng.random() for _ in range(steps - 1)) + [1.0] if steps else []
            step_at = [created] + [created + timedelta(seconds=f * total_s) for f in fractions]
            state_entered = step_at[-1]
            closed_at = state_entered if splan.final else None
            if not splan.final:
                open_count += 1

            severity = rng.choices(sev_items, cum_weights=sev_cum)[0]
            calendar = rng.choices(cal_items, cum_weights=cal_cum)[0]
            outcome = None
            if splan.outcome is not None:
                outcome = rng.choice(splan.outcome[1])
            kind = definition.kind
            a, b = vocab[rng.randrange(300)], vocab[rng.randrange(2000)]
            who_name = f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"
            title = rng.choice(words.TITLE_TEMPLATES[kind]).format(
                who=who_name, a=a, b=b, platform=PLATFORMS[rng.choice(platforms)])[:200]
            summary = (f"Raised by {rng.choice(words.FIRST_NAMES)} on {created:%d %B %Y}: {a}, {b} and "
                       f"{vocab[rng.randrange(5000)]}.") if rng.random() < 0.7 else None
            restricted = rng.random() < 0.02
            rows["incidents"].append((
                iid, format_reference(year, number), kind, title, summary, side, wf_key, definition.version,
                splan.state, state_entered, severity, calendar, outcome, {}, restricted, subject, assignee, team,
                creator, created, state_entered, closed_at, step_at[1] if steps else None, 1 + steps,
            ))

            # clauses
            clause_rows = rows["incident_clauses"]
            keys = catalogue_keys.get(side, ())
            cited = rng.sample(keys, min(len(keys), rng.choices((0, 1, 2, 3), cum_weights=(30, 65, 85, 100))[0]))
            cat = CATALOGUE_BY_SIDE[side]
            day = created.date()
            cited_keys = [f"{cat}:{k}" for k in cited]
            for number_key in cited:
                clause_key = f"{cat}:{number_key}"
                version = self.version_cache.get((clause_key, day))
                if version is None:
                    version = self.catalogues.clause(clause_key, day).version
                    self.version_cache[(clause_key, day)] = version
                clause_rows.append((self.next_id("incident_clauses"), iid, clause_key, version, created, creator))

            # the post
            if rng.random() < 0.7:
                count = text_rng.randint(8, 40)
                content = text_rng.choices(vocab, cum_weights=vocab_cum, k=count)
                tokens = []
                for word in content:
                    if text_rng.random() < 0.35:
                        tokens.append(words.FUNCTION_WORDS[text_rng.randrange(len(words.FUNCTION_WORDS))])
                    tokens.append(word)
                if text_rng.random() < 0.3:
                    tokens.append(f"q{text_rng.getrandbits(32):x}")
                if text_rng.random() < 0.4:
                    tokens.append(words.HASHTAGS[text_rng.randrange(len(words.HASHTAGS))])
                if text_rng.random() < 0.2:
                    mention = self.person_handle[text_rng.randint(1, n_people)]
                    if mention:
                        tokens.insert(0, mention)
                body = " ".join(tokens)
                body = body[0].upper() + body[1:] + "."
                platform = platforms[rng.randrange(len(platforms))]
                post_id = str(rng.getrandbits(60))
                author = self.person_handle[subject] if subject else None
                rows["posts"].append((
                    self.next_id("posts"), iid, platform, f"https://{platform}.example/{post_id}",
                    f"{platform}.example/{post_id}", post_id, author,  # url_key as app.posts.url_key makes it
                    created - timedelta(seconds=rng.random() * 3 * 86400), body,
                    hashlib.sha256(body.encode()).hexdigest(), creator, created,
                ))

            # evidence records (the files themselves are not written)
            if rng.random() < 0.2:
                for k in range(1, rng.randint(1, 3) + 1):
                    name, content_type = EVIDENCE_KINDS[rng.randrange(len(EVIDENCE_KINDS))]
                    rows["evidence_files"].append((
                        self.next_id("evidence_files"), iid, name.format(n=k), f"{iid:08d}-{k}-{_hex(rng, 12)}",
                        content_type, rng.randint(20_000, 4_000_000), _hex(rng), None, creator, created,
                    ))

            # deadlines
            for template in splan.deadlines:
                spec_key = (wf_key, template.key)
                spec = spec_cache.get(spec_key)
                if spec is None:
                    dspec = definition.deadlines[template.key]
                    duration = str(parse_duration(dspec.duration))
                    spec = (dspec.title, dspec.why, duration, list(dspec.reminders),
                            dict(dspec.on_breach) if dspec.on_breach else None, approx_duration(duration))
                    spec_cache[spec_key] = spec
                title_d, why, duration, reminders, on_breach, length = spec
                started = step_at[template.start_step]
                paused_at = finished = breached = None
                if template.end_step is None:
                    if splan.paused:
                        status, paused_at = "paused", state_entered
                        due = self.now + timedelta(seconds=rng.uniform(3 * 86400, 60 * 86400))
                    else:
                        status = "running"
                        if running_index in self.due_set:
                            due = self.now - timedelta(seconds=rng.uniform(600, 30 * 86400))
                        else:
                            due = self.now + timedelta(seconds=rng.uniform(3 * 86400, 60 * 86400))
                        running_index += 1
                    started = min(started, due - length)
                else:
                    status = template.end_status
                    due = started + length
                    finished = step_at[template.end_step]
                    breached = due if finished > due else None
                rows["deadlines"].append((
                    self.next_id("deadlines"), iid, template.key, title_d, why, duration, calendar, started, due,
                    status, paused_at, 0, finished, breached, reminders, on_breach,
                ))

            # explicit shares with someone outside the usual rules (~1%), some expired or revoked
            if rng.random() < 0.01:
                shared_at = created + timedelta(seconds=rng.random() * max(1.0, (end - created).total_seconds()))
                roll = rng.random()
                expires = shared_at + timedelta(days=rng.choice((7, 30, 90))) if roll < 0.5 else None
                revoked = shared_at + timedelta(days=1) if 0.5 <= roll < 0.6 else None
                rows["incident_shares"].append((
                    self.next_id("incident_shares"), iid, all_users[rng.randrange(len(all_users))], "share",
                    f"Second opinion on {vocab[rng.randrange(300)]}.", assignee or creator, shared_at, expires,
                    revoked))

            # links to incidents opened by this one's transitions (resolved at the end)
            for step, target, relation in splan.links:
                self.link_requests.append((iid, target, relation, step_at[step]))

            # audit events
            event_seq += 1
            heapq.heappush(pending, (created.timestamp(), event_seq, (
                created, creator, "incident.opened", iid, None, definition.initial, None, definition.version, None,
                {"workflow": wf_key, "title": title, "clauses": cited_keys, "severity": severity})))
            for step, transition in enumerate(splan.path, start=1):
                actor = assignee if assignee is not None and self._role_of(assignee) in transition.roles else None
                if actor is None:
                    pool = next((by_role[r] for r in transition.roles if by_role.get(r)), by_role["admin"])
                    actor = pool[rng.randrange(len(pool))]
                comment = (f"{transition.title}: {vocab[rng.randrange(3000)]} {vocab[rng.randrange(3000)]}."
                           if transition.comment == "required" or rng.random() < 0.2 else None)
                if transition.comment == "none":
                    comment = None
                at = step_at[step]
                event_seq += 1
                heapq.heappush(pending, (at.timestamp(), event_seq, (
                    at, actor, "incident.transition", iid, splan.path[step - 2].to if step > 1 else definition.initial,
                    transition.to, transition.key, definition.version, comment, {"fields": {}})))

            if len(rows["incidents"]) >= self.o.batch or iid == n:
                flush(None if iid == n else created.timestamp())
                write()
                progress.update(iid, force=iid == n)

        self.open_incidents = open_count

    def _role_of(self, uid: int) -> str:
        return self.users[uid - 1][2]

    def _check_hash(self, audit_id: int, at: datetime, actor_id: int | None, label: str, action: str,
                    incident_id: int, from_state: str | None, to_state: str | None, transition: str | None,
                    version: str, comment: str | None, data: dict[str, Any], digest: str) -> None:
        """Guard against drift from the app's canonical form: compare with compute_hash itself."""
        self.checked_hashes += 1
        event = AuditEvent(id=audit_id, at=at, actor_id=actor_id, actor_label=label, action=action,
                           incident_id=incident_id, object_type=None, object_id=None, from_state=from_state,
                           to_state=to_state, transition=transition, workflow_version=version, comment=comment,
                           data=data, ip=None, prev_hash=self.prev_hash)
        if compute_hash(event) != digest:
            raise SystemExit("bench.generate: audit hashes no longer match app.services.audit.compute_hash; "
                             "update bench.generate.audit_hash to the new canonical form")

    # links, counters and the chain head -----------------------------------------------------------
    def finish(self, writer: Writer) -> None:
        rng = random.Random(f"{self.o.seed}:links")
        link_rows = []
        seen: set[tuple[int, int, str]] = set()
        for from_id, target, relation, at in self.link_requests:
            ids = self.ids_by_workflow.get(target) or []
            if not ids:
                continue
            start = bisect.bisect_right(ids, from_id)
            to_id = ids[rng.randrange(start, len(ids))] if start < len(ids) else ids[rng.randrange(len(ids))]
            if to_id == from_id or (from_id, to_id, relation) in seen:
                continue
            seen.add((from_id, to_id, relation))
            link_rows.append((len(link_rows) + 1, from_id, to_id, relation, at))
        for i in range(0, len(link_rows), 50_000):
            writer.insert(IncidentLink, COLUMNS["incident_links"], link_rows[i:i + 50_000])
        self.counts["incident_links"] = len(link_rows)
        writer.insert(ReferenceCounter, ("year", "last_number"), sorted(self.year_counts.items()))
        writer.set_chain_head(self.audit_seq, self.prev_hash)
        writer.commit()


# --- running it ---------------------------------------------------------------------------------------

def _bulk_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # A throw-away load: no journal, no fsync, a big page cache. WAL is switched back on at the end.
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-524288")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()
    return engine


def migrate(url: str) -> None:
    from alembic import command

    from app.cli import alembic_config

    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def reset_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def generate(options: Options) -> Summary:
    started = time.monotonic()
    say = (lambda *_: None) if options.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    if options.reset:
        reset_database(options.database_url)
    if options.database_url.startswith("sqlite:///"):
        Path(options.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    say("Migrating (alembic upgrade head)…")
    migrate(options.database_url)
    catalogues = load_catalogues(ROOT / "workflows" / "policies")
    registry = load_registry(ROOT / "workflows", catalogues)
    engine = _bulk_engine(options.database_url)
    with engine.connect() as connection:
        existing = connection.execute(text("SELECT count(*) FROM incidents")).scalar_one()
        users = connection.execute(text("SELECT count(*) FROM users")).scalar_one()
    if existing or users:
        raise SystemExit(f"bench.generate: the database already holds {existing:,} incident(s) and {users:,} "
                         "user(s); use a fresh database or pass --reset")
    generator = Generator(options, registry, catalogues)
    writer = Writer(engine)
    try:
        generator.organisation(writer)
        generator.people(writer)
        say(f"{generator.counts['users']:,} users, {generator.counts['people']:,} people; planning "
            f"{options.incidents:,} incidents as of {generator.now.isoformat()}…")
        generator.plan_incidents()
        progress = Progress(options.incidents, writer)
        if options.quiet:
            progress.update = lambda *_a, **_k: None  # type: ignore[method-assign]
        generator.incidents(writer, progress)
        generator.finish(writer)
        progress.finish()
    finally:
        writer.close()
    say("Finishing (sequences, folded dashboard counts, statistics)…")
    _after_load(engine)
    engine.dispose()
    summary = Summary(counts=dict(generator.counts), seconds=time.monotonic() - started, now=generator.now,
                      due_now=generator.due_now, running_deadlines=generator.running_total,
                      open_incidents=generator.open_incidents)
    summary.counts["audit_events"] = generator.audit_seq
    if options.verify:
        say("Verifying the audit chain with app.services.audit.verify_chain…")
        _verify(options.database_url)
    return summary


def _after_load(engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from app.services import counts

    # The triggers left a +1 row per incident and citation in incident_counts; a running worker folds every
    # minute, so a benchmark should start from folded counts too (all of them at once: every row is a change row).
    with Session(engine) as session:
        if engine.dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))
        counts.rebuild(session)
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            tables = connection.execute(text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'id' AND (column_default IS NOT NULL OR is_identity = 'YES')")).scalars().all()
            for table in tables:
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT max(id) FROM {table}), 1), (SELECT max(id) IS NOT NULL FROM {table}))"))
            connection.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def _verify(url: str) -> None:
    from sqlalchemy.orm import Session

    from app.extensions import make_engine
    from app.services.audit import verify_chain

    engine = make_engine(url)
    with Session(engine) as session:
        problem = verify_chain(session)
    engine.dispose()
    if problem is not None:
        raise SystemExit(f"bench.generate: audit chain broken at row {problem.event_id}: {problem.reason}")


def report(summary: Summary, options: Options) -> str:
    lines = [f"Generated {summary.counts.get('incidents', 0):,} incidents in {summary.seconds:,.1f} s "
             f"(seed {options.seed}, as of {summary.now.isoformat()})."]
    total = sum(summary.counts.values())
    lines.append(f"  {total:,} rows, {total / summary.seconds:,.0f} rows/s overall")
    for table, count in sorted(summary.counts.items()):
        lines.append(f"  {table:<18} {count:>12,}")
    lines.append(f"  open incidents {summary.open_incidents:,}; running deadlines {summary.running_deadlines:,}, "
                 f"{summary.due_now:,} of them due at {summary.now.isoformat()}")
    lines.append(f"  sign in as admin-1@{EMAIL_DOMAIN} or comms-1@{EMAIL_DOMAIN}, password {BENCH_PASSWORD}")
    lines.append(f"  load average now {[round(x, 2) for x in os.getloadavg()]} (1, 5, 15 min): other work on the "
                 "machine slows generation")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL (sqlite:///… or postgresql+psycopg://…)")
    parser.add_argument("--incidents", type=int, required=True, help="how many incidents to generate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", help="generate as of this UTC time (ISO 8601); default: the start of today")
    parser.add_argument("--due-now", type=int, help="exactly this many running deadlines already due (default 1%%)")
    parser.add_argument("--batch", type=int, default=20_000, help="incidents per insert batch and commit")
    parser.add_argument("--reset", action="store_true",
                        help="delete the SQLite file / drop and recreate the PostgreSQL public schema first")
    parser.add_argument("--verify", action="store_true", help="walk the audit hash chain afterwards")
    args = parser.parse_args(argv)
    now = None
    if args.now:
        now = datetime.fromisoformat(args.now)
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    if args.incidents < 1:
        parser.error("--incidents must be at least 1")
    return Options(database_url=args.database_url, incidents=args.incidents, seed=args.seed, now=now,
                   due_now=args.due_now, batch=args.batch, reset=args.reset, verify=args.verify)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    summary = generate(options)
    print(report(summary, options))


if __name__ == "__main__":
    main()
