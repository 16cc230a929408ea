"""Small builders for the data-protection tests: a person, an incident about them, closed on a given day."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from app.models import Incident, Person, Report, SocialHandle, User
from app.services.evidence import capture_file
from app.services.incidents import OpenRequest, PostInput, open_incident


def person(db, name: str, email: str | None = None, handle: str | None = None, **kw) -> Person:
    someone = Person(name=name, email=email, role=kw.pop("role", "contributor"), **kw)
    if handle:
        someone.handles.append(SocialHandle(platform="x", handle=handle))
    db.add(someone)
    db.flush()
    return someone


def incident(app, db, actor: User, subject: Person, *, title: str, text: str = "", closed: datetime | None = None,
             workflow: str = "problem-solving", reporter: str | None = None, evidence: bool = True) -> Incident:
    registry = app.extensions["breachdesk.workflows"]
    post = PostInput(platform="x", author_handle=subject.handles[0].handle if subject.handles else None,
                     text=text, url="https://x.com/p/1") if text else None
    opened = open_incident(db, registry, OpenRequest(workflow_key=workflow, title=title, subject=subject, post=post,
                                                     summary=f"Summary about {subject.name}"),
                           actor=actor, check_role=False)
    if reporter:
        opened.reports.append(Report(channel="member_report", reporter=reporter, note=f"{reporter} saw it"))
    if evidence:
        capture_file(db, opened, actor=actor, filename="shot.txt", stream=io.BytesIO(b"screenshot of the post"),
                     folder=app.config["BREACHDESK"].evidence_path)
    if closed is not None:
        definition = registry.get(workflow)
        opened.state = definition.final_states[0]
        opened.closed_at = closed
    db.flush()
    return opened


def at(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)
