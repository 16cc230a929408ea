"""Bulk import of reported posts and of people (members, contributors) from CSV and JSON Lines files.

Monitoring tools and membership systems export files with hundreds of thousands of rows, so the file
is read as a stream (one row at a time, constant memory) and handled in batches: the CLI hands each
batch to ``import_posts_batch`` / ``import_people_batch``, commits, and starts a fresh session. Posts
follow the rules of ``app.services.intake`` like a post captured on the web form — a post already on file
joins its incident as a further report (channel "import") instead of opening a second incident — through
its batch forms (``find_existing_posts``, ``SubjectBatch``, ``incidents.open_incidents``), so a batch
costs a few queries and one INSERT per table rather than a couple of dozen statements a row.

Re-running the same file imports nothing twice: a row whose post already has a report from an import
with the same reporter is counted as "already recorded" and changes nothing (docs/import.md).

A row that cannot be used is rejected with the reason — its line in the file and its original fields go
to the rejects file — and never stops the rest of the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, Person, Post, Report, User
from app.models.people import PLATFORMS, PersonRole, normalise_handle
from app.pii import scan
from app.policy.suggest import suggest_clauses
from app.posts import BadUrl, check_url, post_id_from_url, url_key
from app.services import InvalidInput, ServiceError, audit
from app.services.bulk import insert_rows
from app.services.incidents import OpenRequest, PostInput, check_open, open_incidents
from app.services.intake import (
    NewOrKnownPerson,
    ReportInput,
    SubjectBatch,
    SubjectInput,
    check_handle,
    check_post,
    find_existing_posts,
    joined_entry,
    report_values,
    resolve_subject,
    serialise_same_posts,
)
from app.timing import LONDON
from app.workflow import WorkflowRegistry

FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CHANNEL = "import"
DEFAULT_WORKFLOW = "problem-solving"

POST_COLUMNS = ("platform", "url", "platform_post_id", "author_handle", "author_name", "posted_at", "text",
                "reporter", "clauses", "title", "workflow")
PEOPLE_COLUMNS = ("name", "role", "email", "office", "handles")
# Platform names monitoring tools use for the platforms Breachdesk knows by another key.
PLATFORM_ALIASES = {"twitter": "x", "x (twitter)": "x", "fb": "facebook", "ig": "instagram", "yt": "youtube",
                    "bsky": "bluesky"}
MAX_TEXT = 50_000
MAX_TITLE = 200
MAX_FIELD = 2_000  # any other single value
MAX_CELL = 16 * 1024 * 1024  # what the CSV reader accepts in one cell before giving up on the file
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImportFileError(ServiceError):
    """The file as a whole cannot be read (not the format claimed, no usable header, not UTF-8)."""


# --- reading the file ------------------------------------------------------------------------------

@dataclass
class SourceRow:
    """One record of the file: where it starts, its values by (mapped) column, and what it looked like."""

    line: int
    values: dict[str, str]
    original: list[str]
    problem: str | None = None  # set when the record itself cannot be read (a JSON line that is not an object)


def detect_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportFileError(f"Unknown format {given!r}; use csv or jsonl.")
        return given
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(f"Cannot tell the format of {path.name} from its name; name it .csv, .jsonl or "
                              ".ndjson, or pass --format csv|jsonl.")
    return found


def _column(name: str) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).lower()


def parse_mapping(pairs: Iterable[str], known: Iterable[str]) -> dict[str, str]:
    """``["Tweet URL=url", ...]`` -> {"tweet url": "url"}; the target must be a documented column."""
    targets = set(known)
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        source, target = _column(source), _column(target)
        if not sep or not source or not target:
            raise InvalidInput(f"--map {pair!r}: write it as SOURCE=TARGET, such as --map 'Tweet URL=url'.",
                               {"map": "not SOURCE=TARGET"})
        if target not in targets:
            raise InvalidInput(f"--map {pair!r}: {target!r} is not a column Breachdesk reads; use one of "
                               f"{', '.join(sorted(targets))}.", {"map": "unknown target column"})
        mapping[source] = target
    return mapping


class SourceFile:
    """A CSV or JSON Lines file read one record at a time. ``bytes_read`` tells how far it has got."""

    def __init__(self, path: Path, fmt: str, mapping: dict[str, str] | None = None) -> None:
        self.path = path
        self.format = fmt
        self.mapping = mapping or {}
        self.size = path.stat().st_size
        self._binary: IO[bytes] | None = None
        self._text: io.TextIOWrapper | None = None
        self.header: list[str] = []  # the CSV header as written in the file
        self.columns: list[str] = []  # the same, normalised and mapped

    def __enter__(self) -> SourceFile:
        self._binary = open(self.path, "rb")  # noqa: SIM115 - closed in __exit__
        if self.format == "csv":
            # utf-8-sig drops a byte-order mark; newline="" lets the csv module see quoted newlines and \r\n.
            self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")
            # Read an over-long cell (the csv module stops at 128 KiB) so its row is refused, not the whole file.
            csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL))
            self._reader = csv.reader(self._text)
            try:
                self.header = next(self._reader, [])
            except UnicodeDecodeError as error:  # text is decoded 8 KB at a time: near the start
                raise ImportFileError(f"{self.path.name} is not UTF-8 text ({_decode_reason(error)}); save it as "
                                      "UTF-8 (CSV UTF-8 in Excel) and import it again.") from None
            except csv.Error as error:
                raise ImportFileError(f"{self.path.name}: the header cannot be read ({error}).") from None
            self._last_line = self._reader.line_num
            self.columns = [self.mapping.get(_column(name), _column(name)) for name in self.header]
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._text is not None:
            self._text.close()
        elif self._binary is not None:
            self._binary.close()

    @property
    def bytes_read(self) -> int:
        return self._binary.tell() if self._binary is not None and not self._binary.closed else self.size

    def rows(self) -> Iterator[SourceRow]:
        return self._csv_rows() if self.format == "csv" else self._jsonl_rows()

    def _csv_rows(self) -> Iterator[SourceRow]:
        width = len(self.header)
        while True:
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise ImportFileError(f"{self.path.name}: after line {self._last_line} the file is not UTF-8 text "
                                      f"({_decode_reason(error)}); save it as UTF-8 (CSV UTF-8 in Excel) and "
                                      "import it again.") from None
            except csv.Error as error:
                raise ImportFileError(f"{self.path.name}: line {self._last_line + 1} cannot be read as CSV "
                                      f"({error}); rows before it were handled.") from None
            start, self._last_line = self._last_line + 1, self._reader.line_num
            if not values or not any(v.strip() for v in values):
                continue
            problem = None
            if len(values) > width:
                problem = (f"the row has {len(values)} values but the header names {width} columns "
                           "(an unquoted comma?)")
            record = {name: value for name, value in zip(self.columns, values, strict=False) if name}
            yield SourceRow(line=start, values=record, original=values, problem=problem)

    def _jsonl_rows(self) -> Iterator[SourceRow]:
        assert self._binary is not None
        for number, raw in enumerate(self._binary, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield SourceRow(line=number, values={}, original=[raw.decode("utf-8", "replace").strip()],
                                problem=f"the line is not UTF-8 text ({_decode_reason(error)})")
                continue
            text = text.lstrip("\ufeff").strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except ValueError as error:
                yield SourceRow(line=number, values={}, original=[text], problem=f"not valid JSON ({error})")
                continue
            if not isinstance(data, dict):
                yield SourceRow(line=number, values={}, original=[text],
                                problem="each line must be one JSON object ({...})")
                continue
            values: dict[str, str] = {}
            problem = None
            for key, value in data.items():
                name = self.mapping.get(_column(key), _column(key))
                try:
                    values[name] = _flat(value)
                except ValueError as error:
                    problem = f"{key}: {error}"
            yield SourceRow(line=number, values=values, original=[text], problem=problem)


def _flat(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold (lists joined with ';', {"x": "@a"} as x:@a)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return ";".join(f"{k}:{v}" for k, v in value.items())
    raise ValueError("a nested value this column cannot hold; give text, a number or a list of text")


def _decode_reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"byte 0x{error.object[error.start]:02x} is not UTF-8"
    return str(error)


def batches(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    except ImportFileError:
        if batch:  # the rows read before the file became unreadable are still handled
            yield batch
        raise
    if batch:
        yield batch


# --- outcomes and the rejects file -----------------------------------------------------------------

IMPORTED, JOINED, ALREADY, REJECTED = "imported", "joined", "already recorded", "rejected"
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass(frozen=True)
class Review:
    """A written row's text, still to be checked for patient or contact details and for suggested clauses. Only
    the summary counts them (the incident's page works its suggestions out again), so the check can run after the
    row is decided, and in a second process (``review_counts``; app/imports_cli.py)."""

    text: str
    subject_role: str | None


@dataclass
class RowOutcome:
    row: SourceRow
    status: str
    reason: str | None = None
    reference: str | None = None
    review: Review | None = None


@dataclass
class Tally:
    """Counts for the summary; kept as numbers only, so memory stays flat however long the file."""

    counts: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    with_pii: int = 0
    with_suggestions: int = 0

    def add(self, outcome: RowOutcome) -> None:
        self.rows += 1
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1

    def add_reviewed(self, with_pii: int, with_suggestions: int) -> None:
        self.with_pii += with_pii
        self.with_suggestions += with_suggestions

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)


class RejectsWriter:
    """The rejects file: line, reason, then the row's original fields (for CSV under the file's own header;
    for JSON Lines the original line). Cells a spreadsheet would run as a formula get a leading apostrophe."""

    def __init__(self, path: Path, source: SourceFile) -> None:
        self.path = path
        self.columns = ["line", "reason", *(source.header if source.format == "csv" else ["record"])]
        self.written = 0
        self._handle: IO[str] | None = None

    def __enter__(self) -> RejectsWriter:
        self._handle = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in __exit__
        self._writer = csv.writer(self._handle, lineterminator="\r\n")
        self._writer.writerow(self.columns)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, outcome: RowOutcome) -> None:
        from app.services.exports import neutralise

        self._writer.writerow([outcome.row.line, outcome.reason or "",
                               *(neutralise(v) for v in outcome.row.original)])
        self.written += 1


# --- one value at a time ---------------------------------------------------------------------------

def parse_when(text: str) -> datetime | None:
    """ISO 8601 (an offset or Z, else UK time) or dd/mm/yyyy [HH:MM[:SS]] in UK time, as UTC; blank is None."""
    value = text.strip()
    if not value:
        return None
    match = UK_DATE.match(value)
    try:
        if match:
            day, month, year, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            moment = datetime(year, month, day, hour, minute, second)
        else:
            moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{value[:40]!r} is not a date; give ISO 8601 (2026-03-31T14:30:00Z) or "
                         "dd/mm/yyyy HH:MM in UK time (31/03/2026 14:30)") from None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"{value[:40]!r} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(UTC)


def _platform(value: str, url: str) -> str:
    name = _column(value)
    name = PLATFORM_ALIASES.get(name, name)
    if not name and url:
        # Exports that leave the platform out: the address of a known platform's post says it.
        try:
            found = post_id_from_url(check_url(url))
        except BadUrl:
            found = None
        name = found[0] if found else ""
    return name


def _check_text(values: dict[str, str]) -> None:
    for name, value in values.items():
        if "\x00" in value:
            raise InvalidInput(f"{name}: contains a NUL character (is this a binary file?)", {name: "NUL"})
        limit = MAX_TEXT if name == "text" else MAX_FIELD
        if len(value) > limit:
            raise InvalidInput(f"{name}: {len(value)} characters long; at most {limit} are kept",
                               {name: "too long"})


def _clauses(text: str, registry: WorkflowRegistry) -> list[str]:
    keys = [k.strip().lower() for k in re.split(r"[;,]", text) if k.strip()]
    unknown = [k for k in keys if not registry.catalogues.known(k)]
    if unknown:
        raise InvalidInput(f"clauses: unknown clause {unknown[0]!r}; clause keys look like rcr:2.8",
                           {"clauses": "unknown clause"})
    return list(dict.fromkeys(keys))


# --- posts -----------------------------------------------------------------------------------------

@dataclass
class _PostRow:
    post: PostInput
    workflow: str
    title: str
    author_name: str
    reporter: str | None
    clauses: list[str]


def _read_post_row(row: SourceRow, registry: WorkflowRegistry, default_workflow: str, now: datetime) -> _PostRow:
    if row.problem:
        raise InvalidInput(row.problem)
    values = row.values
    _check_text(values)
    get = lambda name: (values.get(name) or "").strip()  # noqa: E731
    url = get("url")
    platform = _platform(get("platform"), url)
    try:
        posted_at = parse_when(get("posted_at"))
    except ValueError as error:
        raise InvalidInput(f"posted_at: {error}", {"posted_at": "not a date"}) from None
    if not platform:
        raise InvalidInput("platform: blank, and the address does not say which platform it is; use one of "
                           + ", ".join(PLATFORMS), {"platform": "blank"})
    post = check_post(PostInput(platform=platform, url=url or None, platform_post_id=get("platform_post_id") or None,
                                author_handle=get("author_handle") or None, posted_at=posted_at,
                                text=(values.get("text") or "").strip() or None), now=now)
    workflow = get("workflow") or default_workflow
    if workflow not in registry:
        raise InvalidInput(f"workflow: no workflow {workflow!r}; use one of {', '.join(sorted(registry.current))}",
                           {"workflow": "unknown"})
    author_name = " ".join(get("author_name").split())
    title = " ".join(get("title").split())
    if not title:
        who = post.author_handle or author_name
        title = f"{PLATFORMS[platform]} post" + (f" by {who}" if who else "")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"title: {len(title)} characters long; keep it under {MAX_TITLE}", {"title": "too long"})
    if len(author_name) > 200:
        raise InvalidInput("author_name: keep it under 200 characters", {"author_name": "too long"})
    return _PostRow(post=post, workflow=workflow, title=title[:MAX_TITLE], author_name=author_name,
                    reporter=" ".join(get("reporter").split())[:200] or None,
                    clauses=_clauses(get("clauses"), registry))


def imported_reports(session: Session, posts: list[Post]) -> set[tuple[int, str | None]]:
    """(post id, reporter) of the reports an import has already recorded for these posts (the same file run
    again, or the same row twice in one file): such a row is "already recorded" and changes nothing."""
    if not posts:
        return set()
    # Through the incident (reports are indexed by incident, not by post).
    return set(session.execute(
        select(Report.post_id, Report.reporter)
        .where(Report.incident_id.in_(sorted({p.incident_id for p in posts})),
               Report.post_id.in_(sorted({p.id for p in posts})), Report.channel == CHANNEL)
    ).tuples())


@dataclass
class _Planned:
    """What one readable row of a batch does: open incident number ``new`` of the batch, or report again
    the post ``post`` (on file) / ``new`` (opened earlier in the batch); or nothing (already recorded)."""

    index: int
    parsed: _PostRow
    status: str
    post: Post | None = None
    new: int | None = None
    subject: NewOrKnownPerson | None = None
    summary: str | None = None


def import_posts_batch(session: Session, registry: WorkflowRegistry, rows: list[SourceRow], *, actor: User,
                       workflow: str = DEFAULT_WORKFLOW) -> list[RowOutcome]:
    """Import one batch of posts, set-wise: one query for the posts already on file, one for the reports
    already imported, one for the authors' handles; new people, incidents (``incidents.open_incidents``),
    posts, reports and audit rows written with one INSERT per table. The outcome is what importing the rows
    one at a time through ``intake.report_post`` gives: rows are decided in file order, so a post opened by
    one row is joined (or already recorded) by a later row of the same batch. A refused row is decided before
    anything is written and leaves nothing behind. Flushes, never commits."""
    now = utcnow()
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    readable: list[tuple[int, _PostRow]] = []
    for index, row in enumerate(rows):
        try:
            parsed = _read_post_row(row, registry, workflow, now)
            check_open(registry, _open_request(parsed), actor=actor)
        except ServiceError as error:
            outcomes[index] = RowOutcome(row, REJECTED, str(error))
            continue
        readable.append((index, parsed))
    posts = [parsed.post for _index, parsed in readable]
    serialise_same_posts(session, posts)
    on_file = find_existing_posts(session, posts)
    recorded: set[tuple[tuple[str, int], str | None]] = {
        (("post", post_id), reporter) for post_id, reporter in imported_reports(session, [p for p in on_file if p])}
    # The handles of the authors of posts not on file (only such rows can open an incident).
    subjects = SubjectBatch(session, [normalise_handle(p.author_handle) for p, e in zip(posts, on_file, strict=True)
                                      if e is None and p.author_handle])
    # Posts opened by earlier rows of this batch, by address and by platform post id.
    new_by_url: dict[str, int] = {}
    new_by_id: dict[tuple[str, str], int] = {}
    plan: list[_Planned] = []
    opening: list[_Planned] = []
    for (index, parsed), existing in zip(readable, on_file, strict=True):
        post = parsed.post
        key = url_key(post.url) if post.url else None
        post_id = (post.platform, post.platform_post_id) if post.platform_post_id else None
        if existing is None:  # a post on file is older than any opened here, so it is found first
            earlier = [n for n in (new_by_url.get(key) if key else None, new_by_id.get(post_id) if post_id else None)
                       if n is not None]
            new = min(earlier) if earlier else None
        else:
            new = None
        if existing is not None or new is not None:
            target = ("post", existing.id) if existing is not None else ("new", new)
            status = ALREADY if (target, parsed.reporter) in recorded else JOINED
            recorded.add((target, parsed.reporter))
            plan.append(_Planned(index, parsed, status, post=existing, new=new))
            continue
        item = _Planned(index, parsed, IMPORTED, new=len(opening))
        if post.author_handle:
            try:
                item.subject = subjects.resolve(SubjectInput(name=parsed.author_name or post.author_handle,
                                                             handles=[(post.platform, post.author_handle)]))
            except ServiceError as error:
                outcomes[index] = RowOutcome(rows[index], REJECTED, str(error))
                continue
        elif parsed.author_name:
            # Without a handle a name cannot be matched to anyone on file; keep it, but as text.
            item.summary = f"Author as named in the import: {parsed.author_name}"
        if key:
            new_by_url.setdefault(key, item.new)  # type: ignore[arg-type]
        if post_id:
            new_by_id.setdefault(post_id, item.new)  # type: ignore[arg-type]
        recorded.add((("new", item.new), parsed.reporter))
        plan.append(item)
        opening.append(item)

    created = subjects.write(actor=actor, via=CHANNEL)
    opened = open_incidents(session, registry, [
        _open_request(i.parsed, summary=i.summary, subject_id=i.subject.id if i.subject else None)
        for i in opening], actor=actor, write_audit=False)
    # Reports, one INSERT for the batch; the joined ones' ids go into their audit rows.
    reporting = [i for i in plan if i.status != ALREADY]
    report_rows = []
    for item in reporting:
        if item.post is not None:
            incident_id, post_row_id = item.post.incident_id, item.post.id
        else:
            incident_id, post_row_id = opened[item.new].id, opened[item.new].post_id  # type: ignore[index]
        report_rows.append({"incident_id": incident_id, "post_id": post_row_id,
                            **report_values(ReportInput(channel=CHANNEL, reporter=item.parsed.reporter), actor,
                                            now)})
    report_ids = insert_rows(session, Report.__table__, report_rows)
    # The incidents on file that rows joined: reference, workflow version and the subject's role.
    on_file_ids = sorted({i.post.incident_id for i in plan if i.post is not None})
    incidents = {row.id: row for row in session.execute(
        select(Incident.id, Incident.reference, Incident.workflow_version, Person.role)
        .outerjoin(Person, Person.id == Incident.subject_id).where(Incident.id.in_(on_file_ids)))} \
        if on_file_ids else {}
    # Audit rows in file order, as one row after another would have written them; one chain extension.
    entries: list[audit.Entry] = []
    report_id = dict(zip((i.index for i in reporting), report_ids, strict=True))
    for item in plan:
        if item.status == IMPORTED:
            if item.subject is not None and item.subject.id in created:
                entries.append(created.pop(item.subject.id))
            entries.append(opened[item.new].entry)  # type: ignore[index, arg-type]
        elif item.status == JOINED:
            if item.post is not None:
                incident_id, version = item.post.incident_id, incidents[item.post.incident_id].workflow_version
            else:
                incident_id, version = opened[item.new].id, opened[item.new].workflow_version  # type: ignore[index]
            entries.append(joined_entry(actor, incident_id, version, report_id[item.index], CHANNEL,
                                        item.parsed.post))
    audit.record_many(session, entries)
    roles = {n: (i.subject.role if i.subject else None) for n, i in enumerate(opening)}
    for item in plan:
        if item.post is not None:
            known = incidents[item.post.incident_id]
            reference, role = known.reference, known.role
        else:
            reference, role = opened[item.new].reference, roles[item.new]  # type: ignore[index]
        outcome = RowOutcome(rows[item.index], item.status, reference=reference)
        if item.status != ALREADY and item.parsed.post.text:
            outcome.review = Review(item.parsed.post.text, role)
        outcomes[item.index] = outcome
    return outcomes  # type: ignore[return-value]


def _open_request(parsed: _PostRow, *, summary: str | None = None, subject_id: int | None = None) -> OpenRequest:
    return OpenRequest(workflow_key=parsed.workflow, title=parsed.title, summary=summary, subject_id=subject_id,
                       assignee=None, clauses=parsed.clauses, post=parsed.post)


def _suggestions(text: str, registry: WorkflowRegistry, role: str | None) -> tuple[bool, bool]:
    """(has PII, has a suggested clause) for a row's text. Suggestions are only shown (on the incident page),
    never stored; the summary counts the rows that have them."""
    hits = scan(text)
    return bool(hits), bool(suggest_clauses(text, registry.catalogues, author_role=role, pii_hits=hits, limit=1))


def review_counts(reviews: Iterable[Review], registry: WorkflowRegistry) -> tuple[int, int]:
    """How many of ``reviews`` have patient or contact details, and how many a suggested clause: the summary's
    counts (for ``Tally.add_reviewed``)."""
    with_pii = with_suggestions = 0
    for item in reviews:
        pii, suggested = _suggestions(item.text, registry, item.subject_role)
        with_pii += pii
        with_suggestions += suggested
    return with_pii, with_suggestions


# --- people ----------------------------------------------------------------------------------------

def _people_handles(values: dict[str, str]) -> list[tuple[str, str]]:
    handles: list[tuple[str, str]] = []
    for item in re.split(r"[;,]", values.get("handles") or ""):
        if not item.strip():
            continue
        platform, sep, handle = item.partition(":")
        platform = PLATFORM_ALIASES.get(_column(platform), _column(platform))
        if not sep or not handle.strip():
            raise InvalidInput(f"handles: {item.strip()!r} is not platform:handle, such as x:@drsmith",
                               {"handles": "not platform:handle"})
        handles.append((platform, handle.strip()))
    for column, value in values.items():
        platform = PLATFORM_ALIASES.get(column, column)
        if platform in PLATFORMS and value.strip():
            handles.extend((platform, h.strip()) for h in value.split(";") if h.strip())
    for platform, handle in handles:
        if platform not in PLATFORMS:
            raise InvalidInput(f"handles: unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}",
                               {"handles": "unknown platform"})
        check_handle(handle, f"{platform} handle")
    return handles


def import_people_batch(session: Session, rows: list[SourceRow], *, actor: User | None) -> list[RowOutcome]:
    """Add or update people from a membership export. A person is recognised by any of their handles
    (intake.resolve_subject), or by e-mail address when the row has no handles; a row with neither is
    refused, since it could not be recognised on a re-run. Flushes, never commits."""
    outcomes = []
    for row in rows:
        try:
            with session.begin_nested():
                outcomes.append(_import_person(session, row, actor))
        except ServiceError as error:
            outcomes.append(RowOutcome(row, REJECTED, str(error)))
    return outcomes


def _import_person(session: Session, row: SourceRow, actor: User | None) -> RowOutcome:
    if row.problem:
        raise InvalidInput(row.problem)
    values = row.values
    _check_text(values)
    get = lambda name: " ".join((values.get(name) or "").split())  # noqa: E731
    name, email, office = get("name"), get("email").lower(), get("office")
    role = get("role").lower() or None
    if role is not None and role not in {r.value for r in PersonRole}:
        raise InvalidInput(f"role: unknown role {role!r}; use one of {', '.join(r.value for r in PersonRole)}",
                           {"role": "unknown"})
    if email and (len(email) > 254 or not EMAIL.match(email)):
        raise InvalidInput(f"email: {email[:60]!r} is not an e-mail address", {"email": "not an address"})
    if len(office) > 200:
        raise InvalidInput("office: keep it under 200 characters", {"office": "too long"})
    handles = _people_handles(values)
    if not handles and not email:
        raise InvalidInput("give at least one handle or an e-mail address, so the person is recognised when the "
                           "file is imported again", {"handles": "none"})
    person = None
    if not handles:
        person = session.scalar(select(Person).where(func.lower(Person.email) == email).order_by(Person.id)
                                .limit(1))
    if person is None:
        newest = session.scalar(select(func.max(Person.id))) or 0
        person = resolve_subject(session, SubjectInput(name=name, role=role, handles=handles), actor=actor,
                                 via=CHANNEL)
        if person.id > newest:  # resolve_subject made (and audited) a new person
            _fill(person, email=email, office=office)
            session.flush()
            return RowOutcome(row, CREATED, reference=f"person {person.id}")
    changed = _fill(person, name=name, role=role, email=email, office=office)
    if any(handle in session.new for handle in person.handles):  # resolve_subject added handles new to them
        changed.append("handles")
    if not changed:
        return RowOutcome(row, UNCHANGED, reference=f"person {person.id}")
    session.flush()
    audit.record(session, actor=actor, action="person.updated", object_type="person", object_id=person.id,
                 data={"via": CHANNEL, "fields": changed})
    return RowOutcome(row, UPDATED, reference=f"person {person.id}")


def _fill(person: Person, **values: str | None) -> list[str]:
    """Set the given (non-blank) values; returns the names of those that changed."""
    changed = []
    for name, value in values.items():
        if value and getattr(person, name) != value:
            setattr(person, name, value)
            changed.append(name)
    return changed
