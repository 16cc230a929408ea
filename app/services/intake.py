"""Taking in reported posts: the one home of duplicate joining, subject matching and repeat detection.

The capture form, the officers' Escalate page, mail-in, the API and the bulk import all come
through here, so a post reported twice — by a member on Monday and by monitoring on Tuesday, as
``twitter.com/…?s=20`` and as ``x.com/…`` — is one incident with two reports, whichever way each
arrived.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload

from app.clock import utcnow
from app.models import Incident, Person, PersonFlag, Post, Report, SocialHandle, User
from app.models.evidence import REPORT_CHANNELS
from app.models.incidents import SEVERITIES
from app.models.people import PLATFORMS, PersonRole, normalise_handle
from app.permissions import can_open, can_view
from app.posts import BadUrl, check_url, post_id_from_url, url_key
from app.services import InvalidInput, ServiceError, audit
from app.services import evidence as evidence_service
from app.services.bulk import executemany, insert_rows
from app.services.incidents import OpenRequest, PostInput, open_incident
from app.workflow import WorkflowRegistry

# The PersonFlag a workflow sets (effect flag_subject) when it finds a breach proved.
UPHELD_BREACH = "upheld_breach"
MAX_HANDLE_LENGTH = 100
# Letters, digits and the punctuation platforms allow in user names (Mastodon's user@server too).
HANDLE_CHARACTERS = r"[\w.\-@]"
_NOT_HANDLE_CHARACTER = re.compile(r"[^\w.\-@]")


@dataclass
class SubjectInput:
    """Who posted it: an existing person (``person_id``) or a name with handles to match or create."""

    name: str = ""
    role: str | None = None
    handles: list[tuple[str, str]] = field(default_factory=list)  # (platform, handle)
    person_id: int | None = None


@dataclass
class ReportInput:
    channel: str
    reporter: str | None = None
    note: str | None = None
    reported_at: datetime | None = None


@dataclass
class IntakeResult:
    incident: Incident
    # True when the post was already on file and this report joined its incident.
    joined: bool
    report: Report


def check_handle(handle: str, label: str = "handle") -> str:
    """The handle as typed, trimmed, or InvalidInput saying what is wrong with it."""
    text = handle.strip()
    key = normalise_handle(text)
    if not key:
        raise InvalidInput(f"The {label} is blank.", {label: "must not be blank"})
    if len(text) > MAX_HANDLE_LENGTH:
        raise InvalidInput(f"The {label} is {len(text)} characters long; handles are under {MAX_HANDLE_LENGTH}.",
                           {label: "too long"})
    odd = sorted(set(_NOT_HANDLE_CHARACTER.findall(key)))
    if odd:
        shown = " ".join(repr(ch) for ch in odd[:5])
        raise InvalidInput(f"The {label} {text!r} has characters no platform allows in a handle ({shown}); "
                           "type just the account name, like @dr_smith.", {label: "has characters handles cannot have"})
    return text


def check_post(post: PostInput, *, now: datetime | None = None) -> PostInput:
    """Check a post's details before anything is stored; fills in the platform's post id from the address."""
    fields: dict[str, str] = {}
    if post.platform not in PLATFORMS:
        fields["platform"] = f"unknown platform; use one of {', '.join(PLATFORMS)}"
    url = post.url
    if url is not None or post.platform not in ("whatsapp", "other"):
        try:
            url = check_url(url or "")
        except BadUrl as error:
            fields["url"] = str(error)
    moment = now or utcnow()
    if post.posted_at is not None and post.posted_at > moment:
        fields["posted_at"] = "That time is in the future; give the time the post went up (UK time)."
    handle = post.author_handle
    if handle:
        try:
            handle = check_handle(handle, "author's handle")
        except InvalidInput as error:
            fields["author_handle"] = str(error)
    if fields:
        raise InvalidInput("Check the post's details: " + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ".",
                           fields)
    post_id = (post.platform_post_id or "").strip() or None
    if post_id is None and url:
        found = post_id_from_url(url)
        if found is not None and found[0] == post.platform:
            post_id = found[1]
    return PostInput(platform=post.platform, url=url, platform_post_id=post_id, author_handle=handle or None,
                     posted_at=post.posted_at, text=post.text)


def find_existing_post(session: Session, post: PostInput) -> Post | None:
    """A post already on file that is the same post: same platform post id, or the same address."""
    return find_existing_posts(session, [post])[0]


def find_existing_posts(session: Session, posts: list[PostInput]) -> list[Post | None]:
    """``find_existing_post`` for many posts with one query (the bulk import): for each, the oldest post on
    file with the same platform post id or the same address, or None."""
    keys = [(url_key(p.url) if p.url else None, (p.platform, p.platform_post_id) if p.platform_post_id else None)
            for p in posts]
    url_keys = sorted({k for k, _ in keys if k})
    post_ids = sorted({pid for _, pid in keys if pid})
    # One query per index — url_key, and (platform, platform_post_id) per platform: with "a OR b … ORDER BY
    # id" SQLite walks the whole table in id order instead. The oldest match wins, so rows are sorted here.
    found_posts: dict[int, Post] = {}
    if url_keys:
        found_posts.update((p.id, p) for p in session.scalars(select(Post).where(Post.url_key.in_(url_keys))))
    for platform in sorted({platform for platform, _pid in post_ids}):
        wanted = sorted({pid for on, pid in post_ids if on == platform})
        found_posts.update((p.id, p) for p in session.scalars(
            select(Post).where(Post.platform == platform, Post.platform_post_id.in_(wanted))))
    by_url: dict[str, Post] = {}
    by_id: dict[tuple[str, str], Post] = {}
    for found in sorted(found_posts.values(), key=lambda p: p.id):  # oldest first
        if found.url_key:
            by_url.setdefault(found.url_key, found)
        if found.platform_post_id:
            by_id.setdefault((found.platform, found.platform_post_id), found)
    result: list[Post | None] = []
    for key, pid in keys:
        candidates = [p for p in (by_url.get(key) if key else None, by_id.get(pid) if pid else None) if p]
        result.append(min(candidates, key=lambda p: p.id) if candidates else None)
    return result


def resolve_subject(session: Session, subject: SubjectInput, *, actor: User | None, via: str) -> Person:
    """The person a post is about: the one chosen, the one who already holds one of the handles
    (on any platform, whatever the case or spacing), or a new person. Checks everything before adding."""
    if subject.person_id is not None:
        person = session.get(Person, subject.person_id)
        if person is None:
            raise InvalidInput("No such person on file; pick the author again.", {"subject": "no such person"})
        return person
    name, role, handles = _checked_subject(subject)
    found = people_with_handles(session, [key for _platform, key in handles])
    person = _holder(found, {p.id: {(h.platform, h.handle_key) for h in p.handles} for p in found}, handles)
    if person is not None:
        known = {(h.platform, h.handle_key) for h in person.handles}
        for (platform, key), text in handles.items():
            if (platform, key) not in known and not _handle_taken(session, platform, key):
                person.handles.append(SocialHandle(platform=platform, handle=text))
        return person
    person = Person(name=name, role=role)
    for (platform, _key), text in handles.items():
        person.handles.append(SocialHandle(platform=platform, handle=text))
    session.add(person)
    session.flush()
    audit.record(session, actor=actor, action="person.created", object_type="person", object_id=person.id,
                 data={"via": via, "handles": len(handles)})
    return person


def _checked_subject(subject: SubjectInput) -> tuple[str, str, dict[tuple[str, str], str]]:
    """(name, role, {(platform, handle key): handle as typed}) of a subject to match or create."""
    name = " ".join((subject.name or "").split())
    if not name:
        raise InvalidInput("Give the author's name (or pick an existing person).",
                           {"subject.name": "must not be blank"})
    if len(name) > 200:
        raise InvalidInput("Keep the author's name under 200 characters.", {"subject.name": "too long"})
    role = subject.role or PersonRole.CONTRIBUTOR
    if role not in {r.value for r in PersonRole}:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(r.value for r in PersonRole)}.",
                           {"subject.role": "unknown role"})
    handles: dict[tuple[str, str], str] = {}
    for index, (platform, handle) in enumerate(subject.handles):
        if platform not in PLATFORMS:
            raise InvalidInput(f"Unknown platform {platform!r} for a handle.",
                               {f"subject.handles.{index}.platform": "unknown platform"})
        text = check_handle(handle, f"subject.handles.{index}.handle")
        handles.setdefault((platform, normalise_handle(text)), text)
    return name, role, handles


def _holder(found: list[Any], held: dict[int, set[tuple[str, str]]], handles: dict[tuple[str, str], str]
            ) -> Any:
    """Which of ``found`` (everyone holding one of the handle keys on any platform; ``held`` maps each one's
    id to its (platform, key) pairs) the handles are: the holder of the same handle on the same platform,
    else the one holder on another platform; None for nobody; InvalidInput when they point at two people."""
    same_platform = {p.id: p for p in found if held[p.id] & handles.keys()}
    candidates = same_platform or {p.id: p for p in found}
    if len(candidates) > 1:
        raise InvalidInput("These handles belong to different people already on file; give the handles of one "
                           "person or pick the person.", {"subject.handles": "handles of more than one person"})
    return next(iter(candidates.values())) if candidates else None


def _handle_taken(session: Session, platform: str, key: str) -> bool:
    return session.scalar(select(SocialHandle.id).where(SocialHandle.platform == platform,
                                                        SocialHandle.handle_key == key)) is not None


def people_with_handles(session: Session, handle_keys: list[str]) -> list[Person]:
    """Everyone holding one of these (normalised) handles on any platform."""
    keys = sorted({k for k in handle_keys if k})
    if not keys:
        return []
    return list(session.scalars(
        select(Person).join(SocialHandle).where(SocialHandle.handle_key.in_(keys))
        .options(joinedload(Person.handles)).order_by(Person.id)
    ).unique())


def report_post(
    session: Session,
    registry: WorkflowRegistry,
    request: OpenRequest,
    report: ReportInput,
    *,
    actor: User | None,
    check_role: bool = True,
) -> IntakeResult:
    """Record a report of a post: join the incident that already holds the same post, or open one.

    ``request.post`` must have been through ``check_post``.
    """
    values = report_values(report, actor)
    if request.post is not None:
        _serialise_same_post(session, request.post)
    existing = find_existing_post(session, request.post) if request.post is not None else None
    if existing is not None:
        incident = existing.incident
        entry = Report(incident_id=incident.id, post_id=existing.id, **values)
        incident.reports.append(entry)
        session.flush()
        audit.record_many(session, [joined_entry(actor, incident.id, incident.workflow_version, entry.id,
                                                 report.channel, request.post)])
        return IntakeResult(incident=incident, joined=True, report=entry)
    incident = open_incident(session, registry, request, actor=actor, check_role=check_role)
    entry = Report(post_id=incident.posts[0].id if incident.posts else None, **values)
    incident.reports.append(entry)
    session.flush()
    return IntakeResult(incident=incident, joined=False, report=entry)


def report_values(report: ReportInput, actor: User | None, now: datetime | None = None) -> dict[str, Any]:
    """A report's column values (besides its incident and post); refuses an unknown channel."""
    if report.channel not in REPORT_CHANNELS:
        raise InvalidInput(f"Unknown report channel {report.channel!r}.", {"channel": "unknown channel"})
    return {"channel": report.channel, "reporter": " ".join((report.reporter or "").split())[:200] or None,
            "note": (report.note or "").strip() or None, "logged_by_id": actor.id if actor else None,
            "reported_at": report.reported_at or now or utcnow()}


def joined_entry(actor: User | None, incident_id: int, workflow_version: str, report_id: int, channel: str,
                 post: PostInput | None) -> audit.Entry:
    """The audit row of a report that joined the incident already holding its post."""
    return audit.Entry(actor=actor, action="incident.reported_again", incident_id=incident_id,
                       workflow_version=workflow_version, object_type="report", object_id=report_id,
                       data={"channel": channel, "url": post.url if post else None})


def _serialise_same_post(session: Session, post: PostInput) -> None:
    serialise_same_posts(session, [post])


def serialise_same_posts(session: Session, posts: list[PostInput]) -> None:
    """Two people reporting the same post at the same moment must end with one incident, not two.
    SQLite already runs one writer at a time (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped
    advisory lock per duplicate key makes the second report wait for the first to commit, and then
    find its post. Keys are taken in sorted order (all of a batch's at once) so two writers can never
    wait on each other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = set()
    for post in posts:
        if post.url:
            keys.add(f"url:{url_key(post.url)}")
        if post.platform_post_id:
            keys.add(f"id:{post.platform}:{post.platform_post_id}")
    if keys:
        numbers = sorted({int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
                          for key in keys})
        session.execute(_TAKE_POST_LOCKS, {"keys": numbers})


# One statement for a batch's locks: one per key was 40,000 round trips for 20,000 rows, and taking them together
# took a PostgreSQL import from 759-786 to 967-1,026 rows/s (bench/RESULTS.md run 24). PostgreSQL calls a volatile
# function of the select list after the ORDER BY, so the locks are taken in ascending order, the same order in every
# writer.
_TAKE_POST_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k")


@dataclass(eq=False)
class NewOrKnownPerson:
    """A person ``SubjectBatch`` resolved a subject to: on file, or to be added by ``SubjectBatch.write``."""

    id: int  # negative until a new person is written
    role: str
    held: set[tuple[str, str]]  # (platform, handle key)
    new: bool = False


class SubjectBatch:
    """``resolve_subject`` for many subjects (the bulk import), in order and as if one after another — a
    person added for one subject is found by a later one — with one query for everyone holding the
    handles and, in ``write``, one INSERT each for the new people and the new handles.

    ``handle_keys``: the (normalised) handle keys the subjects may have, looked up at once; a key not
    among them is looked up when met. Subjects by ``person_id`` are not taken."""

    def __init__(self, session: Session, handle_keys: list[str]) -> None:
        self.session = session
        self.by_key: dict[str, list[NewOrKnownPerson]] = {}
        self.taken: set[tuple[str, str]] = set()
        self.looked_up: set[str] = set()
        self.known: dict[int, NewOrKnownPerson] = {}
        self.new_people: list[tuple[NewOrKnownPerson, str, int]] = []  # person, name, handles given
        self.new_handles: list[tuple[NewOrKnownPerson, str, str]] = []  # person, platform, handle as typed
        self._look_up(handle_keys)

    def _look_up(self, keys: list[str]) -> None:
        wanted = sorted({k for k in keys if k} - self.looked_up)
        self.looked_up.update(wanted)
        for person in people_with_handles(self.session, wanted):
            if person.id in self.known:  # loaded for another key already (and maybe given handles since)
                continue
            known = self.known[person.id] = NewOrKnownPerson(person.id, person.role,
                                                             {(h.platform, h.handle_key) for h in person.handles})
            self.taken |= known.held
            for _platform, key in known.held:
                self.by_key.setdefault(key, []).append(known)

    def resolve(self, subject: SubjectInput) -> NewOrKnownPerson:
        """The person (InvalidInput when the subject cannot be resolved; nothing is then planned for it)."""
        name, role, handles = _checked_subject(subject)
        self._look_up([key for _platform, key in handles])
        holders = list({id(h): h for _platform, key in handles for h in self.by_key.get(key, ())}.values())
        person = _holder(holders, {h.id: h.held for h in holders}, handles)
        if person is None:
            person = NewOrKnownPerson(-1 - len(self.new_people), role, set(), new=True)
            self.new_people.append((person, name, len(handles)))
        for (platform, key), handle in handles.items():
            if (platform, key) not in person.held and (platform, key) not in self.taken:
                self.new_handles.append((person, platform, handle))
                person.held.add((platform, key))
                self.taken.add((platform, key))
                self.by_key.setdefault(key, []).append(person)
        return person

    def write(self, *, actor: User | None, via: str) -> dict[int, audit.Entry]:
        """Insert the new people and handles; returns each new person's "person.created" audit row, by
        person id, for the caller to write with ``audit.record_many``. Flushes."""
        entries: dict[int, audit.Entry] = {}
        if self.new_people:
            now = utcnow()
            ids = insert_rows(self.session, Person.__table__, [{"name": name, "role": p.role, "created_at": now}
                                                               for p, name, _count in self.new_people])
            for (person, _name, count), person_id in zip(self.new_people, ids, strict=True):
                person.id = person_id
                entries[person_id] = audit.Entry(actor=actor, action="person.created", object_type="person",
                                                 object_id=person_id, data={"via": via, "handles": count})
        if self.new_handles:
            rows = []
            for person, platform, handle in self.new_handles:
                model = SocialHandle(platform=platform, handle=handle)  # the model's own trimming and key
                rows.append({"person_id": person.id, "platform": model.platform, "handle": model.handle,
                             "handle_key": model.handle_key})
            executemany(self.session, SocialHandle.__table__, rows)
        self.new_people, self.new_handles = [], []
        return entries


def joined_message(result: IntakeResult, actor: User) -> str:
    """What to tell the person whose report joined an existing incident (without naming a file they may not see)."""
    if can_view(actor, result.incident):
        return (f"This post is already on file as {result.incident.reference}; your report was added to it "
                "instead of opening a second incident.")
    return ("This post has already been reported and is being handled; your report was added to that file "
            "and its team can see it.")


def earlier_breaches(session: Session, incident: Incident, actor: User) -> list[Incident]:
    """Other incidents where a breach was upheld against the same author — the same person, or anyone
    holding one of their handles or the post's author handle on any platform (2.32: a continued breach).
    Only those ``actor`` may see are listed."""
    person_ids: set[int] = set()
    keys: list[str] = []
    if incident.subject is not None:
        person_ids.add(incident.subject.id)
        keys.extend(h.handle_key for h in incident.subject.handles)
    keys.extend(normalise_handle(p.author_handle) for p in incident.posts if p.author_handle)
    person_ids.update(p.id for p in people_with_handles(session, keys))
    if not person_ids:
        return []
    return list(i for i in session.scalars(
        select(Incident).join(PersonFlag, PersonFlag.incident_id == Incident.id)
        .where(PersonFlag.person_id.in_(sorted(person_ids)), PersonFlag.flag == UPHELD_BREACH,
               Incident.id != incident.id)
        .order_by(Incident.created_at.desc()).limit(50)
    ).unique() if can_view(actor, i))


@dataclass
class UploadInput:
    filename: str
    stream: BinaryIO
    description: str | None = None


@dataclass
class CaptureRequest:
    """Everything the "Log a reported post" form collects."""

    workflow_key: str
    post: PostInput
    report: ReportInput
    subject: SubjectInput | None = None  # None: the author is not known yet
    title: str | None = None
    severity: str | None = None
    clauses: list[str] = field(default_factory=list)
    files: list[UploadInput] = field(default_factory=list)


def capture_post(
    session: Session,
    registry: WorkflowRegistry,
    request: CaptureRequest,
    *,
    actor: User,
    evidence_folder: Path,
    now: datetime | None = None,
) -> IntakeResult:
    """Log a reported post with its author, first clauses and files: one incident (or a further report on
    the incident already holding the same post). Every input, files included, is checked before anything
    is written, so a refusal leaves nothing behind; files go to disk only after the rows are flushed."""
    post = check_post(request.post, now=now)
    checked: list[tuple[evidence_service.CheckedFile, str | None]] = []
    for upload in request.files:
        try:
            checked.append((evidence_service.check_file(upload.filename, upload.stream), upload.description))
        except ServiceError as error:
            raise InvalidInput(str(error), {"files": str(error)}) from None
    if request.workflow_key not in registry:
        raise InvalidInput(f"Unknown workflow {request.workflow_key!r}.", {"workflow": "unknown workflow"})
    definition = registry.get(request.workflow_key)
    if not can_open(actor, definition):
        raise ServiceError(f"Your role may not open {definition.title} incidents.")
    unknown = [key for key in request.clauses if not registry.catalogues.known(key)]
    if unknown:
        raise InvalidInput(f"Unknown clause {unknown[0]!r}; pick the clauses from the list.", {"clauses": "unknown"})
    if request.severity is not None and request.severity not in SEVERITIES:
        raise InvalidInput(f"Severity must be one of {', '.join(SEVERITIES)}.", {"severity": "unknown severity"})
    subject = None
    if request.subject is not None and find_existing_post(session, post) is None:
        wanted = request.subject
        if wanted.person_id is None and post.author_handle and post.platform in PLATFORMS:
            # The handle the post was made from is one of the author's handles: record it for repeat detection.
            wanted = SubjectInput(name=wanted.name, role=wanted.role, person_id=None,
                                  handles=[*wanted.handles, (post.platform, post.author_handle)])
        subject = resolve_subject(session, wanted, actor=actor, via="capture")
    title = " ".join((request.title or "").split()) or _default_title(post, subject)
    result = report_post(
        session, registry,
        OpenRequest(workflow_key=definition.key, title=title, subject=subject, severity=request.severity,
                    clauses=list(dict.fromkeys(request.clauses)), post=post),
        request.report, actor=actor,
    )
    for file, description in checked:
        evidence_service.store_file(session, result.incident, file, actor=actor, folder=evidence_folder,
                                    description=description)
    return result


def _default_title(post: PostInput, subject: Person | None) -> str:
    who = subject.name if subject is not None else (post.author_handle or "an unknown author")
    return f"{PLATFORMS.get(post.platform, post.platform)} post by {who}"[:200]
