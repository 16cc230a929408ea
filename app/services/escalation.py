"""Officers' one-step escalation (RCR 2.26 antagonistic tags, 2.13 press approaches).

One call records what the officer passed on, opens (or joins) the incident through intake, hands it on
as the workflow says (refer to the Director of Communications / forward to the press office), keeps any
screenshot as evidence and queues the e-mails — all in the caller's transaction. The Escalate page and
mail-in both come through here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path

from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import EvidenceFile, Incident, User
from app.models.people import PLATFORMS
from app.permissions import can_open
from app.posts import BadUrl, check_url, post_id_from_url
from app.roles import Role
from app.services import InvalidInput, ServiceError, audit, notifications, rota
from app.services import deadlines as deadline_service
from app.services import evidence as evidence_service
from app.services.incidents import OpenRequest, PostInput, take_transition
from app.services.intake import IntakeResult, ReportInput, check_post, report_post
from app.workflow import TransitionNotAllowed, WorkflowRegistry

TAG_WORKFLOW = "antagonistic-tag"
PRESS_WORKFLOW = "press-referral"
# The step that hands each kind on, taken for the officer when their role may take it.
JOURNALIST_DEADLINE = "journalist"
HAND_ON = {TAG_WORKFLOW: "refer_to_director", PRESS_WORKFLOW: "forward_to_press_office"}
CONTACT_METHODS: dict[str, str] = {
    "email": "E-mail",
    "phone": "Phone call or voicemail",
    "social_media": "Social media message",
    "in_person": "In person",
    "other": "Another way",
}
MAX_TEXT = 20000
MAX_SHORT = 200


@dataclass
class Attachment:
    filename: str
    data: bytes
    description: str | None = None


@dataclass
class TagReport:
    platform: str
    link: str | None = None
    text: str | None = None
    author_handle: str | None = None
    note: str | None = None
    # Mail-in: the forwarded message's subject makes a better title than its first line.
    title: str | None = None


@dataclass
class PressReport:
    outlet: str | None = None
    journalist: str | None = None
    deadline: datetime | None = None
    contact_method: str | None = None
    asked: str | None = None
    # Mail-in: the forwarded message, when outlet and journalist are not known yet.
    title: str | None = None


@dataclass
class EscalationResult:
    incident: Incident
    joined: bool
    handed_on: bool
    # E-mail addresses told, and why those people.
    notified: list[str] = field(default_factory=list)
    why: str = ""
    evidence: list[EvidenceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _clean(text: str | None, limit: int, name: str, label: str, *, required: bool,
           fields: dict[str, str]) -> str | None:
    value = (text or "").replace("\x00", "").strip()
    if not value:
        if required:
            fields[name] = f"give {label}"
        return None
    if len(value) > limit:
        fields[name] = f"keep {label} under {limit} characters (it has {len(value)})"
    return value


def _refuse(fields: dict[str, str]) -> None:
    if fields:
        raise InvalidInput("Check the form: " + "; ".join(fields.values()) + ".", fields)


def check_tag(report: TagReport) -> PostInput:
    """The tagged message as a post to record, or InvalidInput saying what to fix (nothing stored)."""
    fields: dict[str, str] = {}
    link = (report.link or "").strip() or None
    text = _clean(report.text, MAX_TEXT, "text", "the message's text", required=False, fields=fields)
    if report.platform not in PLATFORMS:
        fields["platform"] = "choose the platform it was on"
    if link is None and text is None:
        fields["link"] = "paste the link to the message, or its text (or both)"
    _refuse(fields)
    if link is None:
        # Only the text: nothing to check an address against, and no duplicate key.
        return PostInput(platform=report.platform, text=text,
                         author_handle=(report.author_handle or "").strip() or None)
    try:
        return check_post(PostInput(platform=report.platform, url=link, text=text,
                                    author_handle=(report.author_handle or "").strip() or None))
    except InvalidInput as error:
        mapped = {("link" if k == "url" else k): v for k, v in error.fields.items()}
        raise InvalidInput(str(error).replace("url:", "link:"), mapped) from None


def check_press(report: PressReport, *, now: datetime) -> PressReport:
    """The approach's details, trimmed, or InvalidInput saying what to fix. A forwarded e-mail
    (``report.title`` set) may leave outlet and journalist for the press office to fill in."""
    fields: dict[str, str] = {}
    from_mail = report.title is not None
    outlet = _clean(report.outlet, MAX_SHORT, "outlet", "the outlet (newspaper, programme or site)",
                    required=not from_mail, fields=fields)
    journalist = _clean(report.journalist, MAX_SHORT, "journalist", "the journalist's name",
                        required=not from_mail, fields=fields)
    asked = _clean(report.asked, MAX_TEXT, "asked", "what they asked you", required=True, fields=fields)
    method = report.contact_method or ("email" if from_mail else None)
    if method not in CONTACT_METHODS:
        fields["contact_method"] = "choose how they contacted you"
    if report.deadline is not None:
        if report.deadline.tzinfo is None:
            fields["deadline"] = "give the journalist's deadline as a date and time"
        elif report.deadline <= now:
            fields["deadline"] = "the journalist's deadline is in the past; give the time they want an answer by"
    _refuse(fields)
    return PressReport(outlet=outlet, journalist=journalist, deadline=report.deadline, contact_method=method,
                       asked=asked, title=report.title)


def _may_open(actor: User, registry: WorkflowRegistry, key: str) -> None:
    if key not in registry or not can_open(actor, registry.get(key)):
        title = registry.get(key).title if key in registry else key
        raise ServiceError(f"Your role may not pass on {title.lower()} incidents.")


def _hand_on(session: Session, registry: WorkflowRegistry, incident: Incident, actor: User,
             values: dict[str, object]) -> bool:
    """Take the workflow's hand-on step for the officer, when their role may take it from here."""
    key = HAND_ON[incident.workflow_key]
    step = registry.get(incident.workflow_key).transitions.get(key)
    if step is None or incident.state not in step.from_states or actor.role not in step.roles:
        return False
    try:
        take_transition(session, registry, incident, key, actor=actor, values=values,
                        comment="Passed on at once from the Escalate page.")
    except TransitionNotAllowed as refused:
        raise InvalidInput(refused.reason, {("deadline" if k == "journalist_deadline" else k): v
                                            for k, v in refused.field_errors.items()}) from None
    return True


def _keep_files(session: Session, incident: Incident, actor: User, files: Sequence[Attachment], folder: Path,
                *, skip_refused: bool) -> tuple[list[EvidenceFile], list[str]]:
    kept: list[EvidenceFile] = []
    skipped: list[str] = []
    for item in files:
        try:
            kept.append(evidence_service.capture_file(session, incident, actor=actor, filename=item.filename,
                                                      stream=BytesIO(item.data), folder=folder,
                                                      description=item.description))
        except ServiceError as refused:
            if not skip_refused:
                raise InvalidInput(str(refused), {"screenshot": str(refused)}) from None
            skipped.append(str(refused))
    return kept, skipped


def escalate_tag(session: Session, registry: WorkflowRegistry, report: TagReport, *, actor: User, folder: Path,
                 files: Sequence[Attachment] = (), channel: str = "officer",
                 skip_refused_files: bool = False) -> EscalationResult:
    """An officer was tagged in something antagonistic: record it, refer it to the Director of
    Communications, tell them at once. The same message reported twice joins the first incident."""
    _may_open(actor, registry, TAG_WORKFLOW)
    post = check_tag(report)
    where = PLATFORMS.get(post.platform, post.platform)
    gist = " ".join((post.text or post.url or "").split())
    title = " ".join(report.title.split()) if report.title else f"Officer tagged on {where}: {gist}"
    title = title if len(title) <= 120 else title[:117].rstrip() + "…"
    result: IntakeResult = report_post(
        session, registry,
        OpenRequest(workflow_key=TAG_WORKFLOW, title=title, post=post,
                    summary=f"Passed on by {actor.name}, who has not replied." +
                            (f"\n\nTheir note: {report.note.strip()}" if (report.note or "").strip() else "")),
        ReportInput(channel=channel, reporter=actor.name, note=report.note), actor=actor)
    incident = result.incident
    handed_on = False if result.joined else _hand_on(session, registry, incident, actor, {})
    kept, skipped = _keep_files(session, incident, actor, files, folder, skip_refused=skip_refused_files)
    notified: list[str] = []
    why = "the workflow's referral step told the Director of Communications"
    if not handed_on:
        # A further report, or an opener who cannot take the referral step: tell the Director directly.
        # A joined report may land on another kind of file holding the same post (e.g. a content removal).
        title = registry.get(incident.workflow_key).title if incident.workflow_key in registry else "Incident"
        headline = (f"{title}: the same post was reported again by an officer" if result.joined
                    else "Antagonistic tag: your attention is needed")
        for user in notifications.users_with_role_who_can_see(session, incident, Role.DIRECTOR_OF_COMMS):
            subject, body = notifications.incident_message(incident, headline)
            notifications.queue(session, to=user, incident=incident, subject=subject, body=body)
            notified.append(user.email)
        why = "the Director of Communications was told directly"
    else:
        notified = [u.email for u in
                    notifications.users_with_role_who_can_see(session, incident, Role.DIRECTOR_OF_COMMS)]
    audit.record(session, actor=actor, action="escalation.received", incident=incident,
                 data={"kind": "tag", "channel": channel, "joined": result.joined, "files": len(kept),
                       "skipped_files": skipped, "told": notified, "why": why})
    return EscalationResult(incident=incident, joined=result.joined, handed_on=handed_on, notified=notified,
                            why=why, evidence=kept, skipped=skipped)


def escalate_press(session: Session, registry: WorkflowRegistry, report: PressReport, *, actor: User,
                   folder: Path, files: Sequence[Attachment] = (), channel: str = "officer",
                   skip_refused_files: bool = False, now: datetime | None = None) -> EscalationResult:
    """A journalist contacted an officer: record the approach, forward it to the press office with the
    journalist's deadline, and tell the press office (or, out of hours, the on-call press officer) at once."""
    moment = now or utcnow()
    _may_open(actor, registry, PRESS_WORKFLOW)
    press = check_press(report, now=moment)
    title = press.title if press.title is not None else f"Press approach: {press.outlet} ({press.journalist})"
    title = " ".join(title.split())
    title = title if len(title) <= 120 else title[:117].rstrip() + "…"
    lines = [f"Passed on by {actor.name}, who has not answered the journalist."]
    if press.outlet:
        lines.append(f"Outlet: {press.outlet}")
    if press.journalist:
        lines.append(f"Journalist: {press.journalist}")
    lines.append(f"How they made contact: {CONTACT_METHODS[press.contact_method or 'other']}")
    if press.deadline is not None:
        lines.append(f"Their deadline: {notifications.when(press.deadline)}")
    lines += ["", "What they asked:", press.asked or ""]
    result = report_post(session, registry,
                         OpenRequest(workflow_key=PRESS_WORKFLOW, title=title, summary="\n".join(lines)),
                         ReportInput(channel=channel, reporter=actor.name), actor=actor)
    incident = result.incident
    handed_on = False
    if press.outlet and press.journalist:
        values: dict[str, object] = {"outlet": press.outlet, "journalist": press.journalist}
        if press.deadline is not None:
            values["journalist_deadline"] = press.deadline.isoformat()
        handed_on = _hand_on(session, registry, incident, actor, values)
        if not handed_on:
            # An opener who may not forward (the press office itself): keep the details and the journalist's
            # deadline on the incident all the same, so the press queue orders it by that deadline.
            incident.fields = {**(incident.fields or {}), **values}
            spec = registry.get(PRESS_WORKFLOW).deadlines.get(JOURNALIST_DEADLINE)
            if press.deadline is not None and spec is not None:
                deadline_service.start(session, incident, spec, start_at=press.deadline)
    kept, skipped = _keep_files(session, incident, actor, files, folder, skip_refused=skip_refused_files)
    # The workflow's opening effect (notify_press_office) already told the press office, or out of hours the
    # on-call press officer; this says who that was.
    told = rota.press_recipients_now(session, incident, moment)
    audit.record(session, actor=actor, action="escalation.received", incident=incident,
                 data={"kind": "press", "channel": channel, "files": len(kept), "skipped_files": skipped,
                       "forwarded": handed_on, "told": [u.email for u in told.users], "why": told.reason})
    return EscalationResult(incident=incident, joined=result.joined, handed_on=handed_on,
                            notified=[u.email for u in told.users], why=told.reason, evidence=kept, skipped=skipped)


URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+", re.I)


def first_post_link(text: str) -> tuple[str | None, str]:
    """The first address in a forwarded message that can be a post's address, with the platform it is
    on ('other' when the address does not say)."""
    for match in URL_IN_TEXT.finditer(text or ""):
        candidate = match.group(0).rstrip(".,;:!?")
        try:
            url = check_url(candidate)
        except BadUrl:
            continue
        found = post_id_from_url(url)
        return url, found[0] if found else "other"
    return None, "other"
