"""Retention: how long each class of closed file is kept (``workflows/data-protection/retention.yaml``),
what is due, and carrying it out.

Two stages, each done once per incident and recorded in ``retention_records``:

- ``summary``: a closed file whose warning expired has its paperwork removed (evidence files, post text,
  free-text fields, report and meeting notes) and keeps the summary: title, subject, warning level and
  dates, clauses, severity, outcome.
- ``anonymised``: the retention period passed. Everything personal goes as above, and so do the title,
  summary, subject, flags and warnings: what is left is the statistical record (workflow, states, dates,
  clauses, severity, outcome). Audit rows are not touched here (the chain keeps what happened).

An active legal hold (or legal-claims exemption) on the incident or on its subject stops both stages.
Evidence files are removed from disk by ``delete_files`` only after the caller has committed, so a
rolled-back run never leaves rows pointing at deleted files.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.clock import utcnow
from app.models import (
    CaseFile,
    Incident,
    LegalHold,
    Meeting,
    Member,
    PersonFlag,
    RetentionRecord,
    User,
    Warning,
)
from app.services import audit
from app.services.evidence import path_of
from app.workflow import WorkflowRegistry
from app.workflow.definition import RETENTION_CLASSES
from app.workflow.source import DefinitionError, Document, load_document

STARTS = ("closure", "office_end_or_closure")
FREE_TEXT_TYPES = ("text", "long_text", "person")
_PERIOD = re.compile(r"\s*([0-9]+)\s+(year|years|month|months|week|weeks|day|days)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """Calendar time: N years, months, weeks or days."""

    amount: int
    unit: str  # years | months | weeks | days

    def after(self, day: date) -> date:
        if self.unit in ("years", "months"):
            months = self.amount * (12 if self.unit == "years" else 1)
            year, month = divmod(day.month - 1 + months, 12)
            year += day.year
            return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
        return day + timedelta(days=self.amount * (7 if self.unit == "weeks" else 1))

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


def parse_period(text: object) -> Period:
    """"6 years", "18 months", "0 days": a whole number and a calendar unit; anything else is refused."""
    if not isinstance(text, str):
        raise ValueError(f"a period must be text such as '6 years', not {text!r}")
    match = _PERIOD.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a period; write a whole number and years, months, weeks or days, "
                         "e.g. '6 years' (working days and hours do not apply to retention)")
    unit = match.group(2).lower()
    return Period(int(match.group(1)), unit if unit.endswith("s") else unit + "s")


@dataclass(frozen=True)
class RetentionClass:
    key: str
    title: str
    keep: Period
    start: str  # closure | office_end_or_closure
    why: str


@dataclass(frozen=True)
class RetentionPolicy:
    classes: dict[str, RetentionClass]
    warning_summary_after: Period
    source_path: str

    def keep_until(self, incident: Incident, retention_class: str) -> date | None:
        """The last day the full file is kept; None while it is open."""
        if incident.closed_at is None:
            return None
        cls = self.classes[retention_class]
        start = incident.closed_at.date()
        office_end = incident.subject.office_ended_on if incident.subject is not None else None
        if cls.start == "office_end_or_closure" and office_end is not None and office_end > start:
            start = office_end
        return cls.keep.after(start)


def _text(doc: Document, value: object, *where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(f"'{where[-1]}' must be some text", *where)
    return value.strip()


def load_policy(path: Path, text: str | None = None) -> RetentionPolicy:
    """Read and check the retention file; a mistake raises DefinitionError with the file, line and reason."""
    doc = load_document(path, text)
    allowed = {"classes", "expired_warnings"}
    for key in doc.data:
        if key not in allowed:
            raise doc.error(f"unknown key '{key}' (only {', '.join(sorted(allowed))} are allowed)", key)
    raw = doc.data.get("classes")
    if not isinstance(raw, dict) or not raw:
        raise doc.error("'classes' must map each retention class to its period", "classes")
    classes = {}
    for key, spec in raw.items():
        if key not in RETENTION_CLASSES:
            raise doc.error(f"unknown retention class '{key}'; the classes are {', '.join(RETENTION_CLASSES)}",
                            "classes", key)
        if not isinstance(spec, dict):
            raise doc.error(f"class '{key}' must be a mapping with title, keep, from and why", "classes", key)
        extra = sorted(set(spec) - {"title", "keep", "from", "why"})
        if extra:
            raise doc.error(f"class '{key}' has an unknown key '{extra[0]}' (it takes title, keep, from, why)",
                            "classes", key, extra[0])
        if "keep" not in spec:
            raise doc.error(f"class '{key}' needs 'keep', its period (e.g. '6 years')", "classes", key)
        try:
            keep = parse_period(spec["keep"])
        except ValueError as error:
            raise doc.error(f"bad period for '{key}': {error}", "classes", key, "keep") from None
        start = spec.get("from", "closure")
        if start not in STARTS:
            raise doc.error(f"'from' must be one of {', '.join(STARTS)}, not {start!r}", "classes", key, "from")
        classes[key] = RetentionClass(key, _text(doc, spec.get("title", key), "classes", key, "title"), keep, start,
                                      _text(doc, spec.get("why"), "classes", key, "why"))
    missing = [c for c in RETENTION_CLASSES if c not in classes]
    if missing:
        raise doc.error(f"no period for the retention class '{missing[0]}' (workflows use it)", "classes")
    warnings = doc.data.get("expired_warnings") or {}
    if not isinstance(warnings, dict):
        raise doc.error("'expired_warnings' must be a mapping with summary_after and why", "expired_warnings")
    extra = sorted(set(warnings) - {"summary_after", "why"})
    if extra:
        raise doc.error(f"unknown key '{extra[0]}' (expired_warnings takes summary_after, why)",
                        "expired_warnings", extra[0])
    try:
        summary_after = parse_period(warnings.get("summary_after", "0 days"))
    except ValueError as error:
        raise doc.error(f"bad period for expired warnings: {error}", "expired_warnings", "summary_after") from None
    return RetentionPolicy(classes, summary_after, str(path))


def policy_path(workflows_path: Path) -> Path:
    return workflows_path / "data-protection" / "retention.yaml"


_cache: dict[tuple[str, str], RetentionPolicy] = {}


def load_for(workflows_path: Path) -> RetentionPolicy:
    """The policy for a workflows folder, parsed once per distinct content (a broken file is never cached)."""
    path = policy_path(workflows_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DefinitionError(path, None, f"cannot be read: {error.strerror or error}") from None
    key = (str(path.resolve()), text)
    if key not in _cache:
        _cache[key] = load_policy(path, text)
    return _cache[key]


# --------------------------------------------------------------------------------------------- what is due


@dataclass
class DueItem:
    incident_id: int
    reference: str
    workflow_key: str
    retention_class: str
    stage: str  # summary | anonymised
    due_on: date
    held: list[str] = field(default_factory=list)  # why it is held; empty when it can go ahead

    def line(self) -> str:
        what = "anonymise" if self.stage == "anonymised" else "reduce to summary (expired warning)"
        text = f"{self.reference:<14} {self.workflow_key:<24} {self.retention_class:<15} {what}, due {self.due_on}"
        return text + (f"  HELD: {'; '.join(self.held)}" if self.held else "")


def _holds(session: Session) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    by_incident: dict[int, list[str]] = {}
    by_person: dict[int, list[str]] = {}
    for hold in session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))):
        text = f"{hold.kind_title.lower()} since {hold.placed_at:%d %b %Y} ({hold.reason})"
        if hold.incident_id is not None:
            by_incident.setdefault(hold.incident_id, []).append(text)
        else:
            by_person.setdefault(hold.person_id or 0, []).append(text)
    return by_incident, by_person


def due_items(session: Session, registry: WorkflowRegistry, policy: RetentionPolicy,
              today: date | None = None) -> list[DueItem]:
    """Every closed incident whose retention step has come, held ones included (marked)."""
    today = today or utcnow().date()
    done = {(i, s) for i, s in session.execute(select(RetentionRecord.incident_id, RetentionRecord.stage))}
    held_incidents, held_people = _holds(session)
    items: list[DueItem] = []
    closed = session.scalars(select(Incident).where(Incident.closed_at.is_not(None)).order_by(Incident.id)
                             .options(selectinload(Incident.subject))).all()
    expired = {}
    for warning in session.scalars(select(Warning).where(Warning.incident_id.is_not(None))):
        summary_on = policy.warning_summary_after.after(warning.expires_on)
        if warning.incident_id not in expired or summary_on > expired[warning.incident_id]:
            expired[warning.incident_id] = summary_on
    for incident in closed:
        if (incident.id, "anonymised") in done:
            continue
        cls = registry.get(incident.workflow_key).retention if incident.workflow_key in registry else "short"
        held = held_incidents.get(incident.id, []) + held_people.get(incident.subject_id or -1, [])
        keep_until = policy.keep_until(incident, cls)
        assert keep_until is not None
        if keep_until <= today:
            items.append(DueItem(incident.id, incident.reference, incident.workflow_key, cls, "anonymised",
                                 keep_until, held))
        elif incident.id in expired and expired[incident.id] <= today and (incident.id, "summary") not in done:
            items.append(DueItem(incident.id, incident.reference, incident.workflow_key, cls, "summary",
                                 expired[incident.id], held))
    return items


# --------------------------------------------------------------------------------------------- carrying out


@dataclass
class RetentionReport:
    done: list[DueItem] = field(default_factory=list)
    held: list[DueItem] = field(default_factory=list)
    files_to_delete: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        anonymised = sum(1 for i in self.done if i.stage == "anonymised")
        summarised = len(self.done) - anonymised
        return (f"Retention: {anonymised} file(s) anonymised, {summarised} reduced to a summary, "
                f"{len(self.held)} held, {len(self.files_to_delete)} evidence file(s) deleted")


def _free_text_fields(registry: WorkflowRegistry, workflow_key: str) -> set[str]:
    if workflow_key not in registry:
        return set()
    definition = registry.get(workflow_key)
    return {f.key for t in definition.transitions.values() for f in t.fields if f.type in FREE_TEXT_TYPES}


def _strip(session: Session, registry: WorkflowRegistry, incident: Incident, folder: Path, actor: User | None,
           report: RetentionReport) -> dict[str, int]:
    """Remove the paperwork: evidence files, post text, free-text fields, report and meeting notes."""
    removed = {"evidence_files": 0, "posts": 0, "fields": 0, "reports": 0, "meetings": 0}
    for evidence in list(incident.evidence_files):
        report.files_to_delete.append(path_of(evidence, folder))
        audit.record(session, actor=actor, action="retention.evidence_deleted", incident=incident,
                     object_type="evidence", object_id=evidence.id,
                     data={"sha256": evidence.sha256, "bytes": evidence.size_bytes})
        session.delete(evidence)
        removed["evidence_files"] += 1
    for post in incident.posts:
        if post.text or post.url or post.author_handle:
            removed["posts"] += 1
        post.text = post.url = post.url_key = post.platform_post_id = post.author_handle = post.text_sha256 = None
    for rep in incident.reports:
        if rep.reporter or rep.note:
            removed["reports"] += 1
        rep.reporter = rep.note = None
    for meeting in session.scalars(select(Meeting).where(Meeting.incident_id == incident.id)):
        meeting.place = meeting.companion = meeting.documents_received = meeting.notes = None
        meeting.details = {}
        removed["meetings"] += 1
    free = _free_text_fields(registry, incident.workflow_key)
    fields = dict(incident.fields or {})
    for key in [k for k in fields if k in free]:
        del fields[key]
        removed["fields"] += 1
    incident.fields = fields
    incident.summary = None
    return removed


def carry_out(session: Session, registry: WorkflowRegistry, item: DueItem, *, folder: Path, actor: User | None,
              report: RetentionReport) -> None:
    incident = session.get(Incident, item.incident_id)
    assert incident is not None
    removed = _strip(session, registry, incident, folder, actor, report)
    if item.stage == "anonymised":
        removed["flags"] = _delete_count(session, PersonFlag, incident.id)
        removed["warnings"] = _delete_count(session, Warning, incident.id)
        definition_title = registry.get(incident.workflow_key).title if incident.workflow_key in registry else "file"
        incident.title = f"Anonymised {definition_title.lower()} ({incident.reference})"[:200]
        incident.subject_id = None
        incident.fields = {k: v for k, v in (incident.fields or {}).items() if not isinstance(v, str) or len(v) <= 64}
        if incident.case_file_id is not None:
            case_file = session.get(CaseFile, incident.case_file_id)
            others = [t for t in case_file.tracks if t.id != incident.id] if case_file else []
            if case_file is not None and all(t.closed_at is not None for t in others):
                case_file.title = f"Anonymised case file ({case_file.reference})"
            if case_file is not None:
                removed["member_details"] = _clear_member_if_last(session, case_file.member, incident.id)
    incident.bump_version()
    session.add(RetentionRecord(incident_id=incident.id, stage=item.stage, retention_class=item.retention_class,
                                done_at=utcnow(), removed=removed))
    session.flush()
    audit.record(session, actor=actor, action=f"retention.{item.stage}", incident=incident,
                 data={"class": item.retention_class, "due_on": item.due_on.isoformat(), "removed": removed})
    report.done.append(item)


MEMBER_DETAILS = ("branch", "workplace", "job_title", "manager", "access_needs", "consent_note")


def _clear_member_if_last(session: Session, member: Member, anonymising: int) -> int:
    """A member's details (branch, workplace, manager, access needs…) go with their last case file: once every
    track of every case file of theirs is anonymised (this one now), nothing is kept but the membership
    number, which the statistics and a returning member's new file still need. Returns fields cleared."""
    tracks = session.scalars(select(Incident.id).join(CaseFile, Incident.case_file_id == CaseFile.id)
                             .where(CaseFile.member_id == member.id, Incident.id != anonymising)).all()
    done = set(session.scalars(select(RetentionRecord.incident_id).where(
        RetentionRecord.incident_id.in_(tracks), RetentionRecord.stage == "anonymised"))) if tracks else set()
    if set(tracks) - done:
        return 0
    cleared = sum(1 for name in MEMBER_DETAILS if getattr(member, name))
    for name in MEMBER_DETAILS:
        setattr(member, name, None)
    return cleared


def _delete_count(session: Session, model: type[PersonFlag] | type[Warning], incident_id: int) -> int:
    rows = session.scalars(select(model).where(model.incident_id == incident_id)).all()
    for row in rows:
        session.delete(row)
    return len(rows)


def run_retention(session: Session, registry: WorkflowRegistry, policy: RetentionPolicy, *, folder: Path,
                  actor: User | None = None, dry_run: bool = False,
                  progress: Callable[[int, int, DueItem], None] | None = None) -> RetentionReport:
    """List (dry run) or carry out every due step; held files are listed, never touched."""
    report = RetentionReport()
    items = due_items(session, registry, policy)
    for number, item in enumerate(items, start=1):
        if progress is not None:
            progress(number, len(items), item)
        if item.held:
            report.held.append(item)
            continue
        if dry_run:
            report.done.append(item)
            continue
        carry_out(session, registry, item, folder=folder, actor=actor, report=report)
    if not dry_run and items:
        audit.record(session, actor=actor, action="retention.run",
                     data={"done": len(report.done), "held": [i.reference for i in report.held]})
    return report


def delete_files(report: RetentionReport) -> int:
    """After the commit: remove the evidence files the run deleted the rows of."""
    count = 0
    for path in report.files_to_delete:
        try:
            path.unlink()
            count += 1
        except FileNotFoundError:
            pass
    return count
