"""E-mail in: an officer forwards a hostile message or a journalist's e-mail to press@ or escalate@.

``receive`` takes one RFC 822 message (from an MTA pipe or the SMTP listener), checks it completely
before anything is stored — the sender must be an active account, the recipient (or a subject tag such
as "[press]") must name a route, the message must say something — and then escalates it through
``app/services/escalation.py`` with channel "email". The original message and its attachments are kept
as evidence with their SHA-256; an attachment of a type evidence does not accept is skipped and noted.

Anyone can write any From: line, so this trusts the MTA in front of it to have checked the sender
(SPF/DKIM/DMARC or an internal relay); see docs/mail-in.md.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path

from sqlalchemy.orm import Session

from app.models import User
from app.services import ServiceError, audit
from app.services import evidence as evidence_service
from app.services.escalation import (
    PRESS_WORKFLOW,
    TAG_WORKFLOW,
    Attachment,
    EscalationResult,
    PressReport,
    TagReport,
    escalate_press,
    escalate_tag,
    first_post_link,
)
from app.services.users import find_by_email
from app.workflow import WorkflowRegistry

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_BODY_CHARACTERS = 20000
ESCALATION_WORKFLOWS = (TAG_WORKFLOW, PRESS_WORKFLOW)
SUBJECT_TAG = re.compile(r"^\s*(?:(?:fwd?|fw|re)\s*:\s*)*\[?\s*([a-z0-9-]+)\s*[\]:]", re.I)


class MailRefused(ServiceError):
    """A message refused as a whole; nothing was stored. ``smtp_code`` is the reply for the listener
    (550: no such user or mailbox, 554: unusable message) and ``exit_code`` the sysexits code for a pipe."""

    def __init__(self, message: str, smtp_code: int) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code

    @property
    def exit_code(self) -> int:
        return 67 if self.smtp_code == 550 else 65  # EX_NOUSER / EX_DATAERR: the MTA bounces, no retry


def parse_routes(text: str) -> dict[str, str]:
    """"press=press-referral,escalate=antagonistic-tag" -> {"press": "press-referral", ...}."""
    routes: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, workflow = part.partition("=")
        name, workflow = name.strip().lower(), workflow.strip()
        if not sep or not name or not workflow:
            raise ValueError(f"BREACHDESK_MAIL_IN_ROUTES: {part.strip()!r} should look like press=press-referral")
        if workflow not in ESCALATION_WORKFLOWS:
            raise ValueError(f"BREACHDESK_MAIL_IN_ROUTES: {workflow!r} cannot take mail; use one of "
                             f"{', '.join(ESCALATION_WORKFLOWS)}")
        routes[name] = workflow
    if not routes:
        raise ValueError("BREACHDESK_MAIL_IN_ROUTES names no routes")
    return routes


def route_for_address(address: str, routes: dict[str, str]) -> str | None:
    local = parseaddr(address or "")[1].rpartition("@")[0] or (address or "").strip()
    local = local.split("+", 1)[0].lower()  # press+urgent@ goes where press@ goes
    return routes.get(local)


def route_for_subject(subject: str, routes: dict[str, str]) -> str | None:
    match = SUBJECT_TAG.match(subject or "")
    return routes.get(match.group(1).lower()) if match else None


def known_sender(session: Session, address: str, what: str) -> User:
    email_address = parseaddr(address or "")[1]
    user = find_by_email(session, email_address) if email_address else None
    if user is None or not user.active:
        shown = email_address or "(none)"
        raise MailRefused(f"{what} {shown} is not an active Breachdesk account; forward it from the address "
                          "you sign in with.", 550)
    return user


@dataclass
class Parsed:
    sender: User
    workflow: str
    subject: str
    body: str
    attachments: list[Attachment] = field(default_factory=list)


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    if part.get_content_subtype() == "html":
        text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
        text = re.sub(r"(?s)<[^>]+>", " ", text)
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").splitlines()).strip()


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for index, part in enumerate(message.iter_attachments(), start=1):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        name = part.get_filename() or f"attachment-{index}"
        found.append(Attachment(filename=name, data=data, description="Attached to the forwarded e-mail"))
    return found


def parse(session: Session, raw: bytes, *, routes: dict[str, str], recipients: list[str] | None = None,
          envelope_sender: str | None = None) -> Parsed:
    """Everything needed to act on the message, or MailRefused saying why (nothing stored)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailRefused(f"The message is larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB.", 554)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if envelope_sender is not None:
        known_sender(session, envelope_sender, "The envelope sender")
    sender = known_sender(session, str(message.get("From", "")), "The sender")
    subject = " ".join(str(message.get("Subject", "")).split())
    addresses = list(recipients or [])
    if not addresses:
        for header in ("Delivered-To", "X-Original-To", "To", "Cc"):
            addresses += [address for _name, address in getaddresses([str(v) for v in message.get_all(header, [])])]
    workflow = next((w for w in (route_for_address(a, routes) for a in addresses) if w), None)
    workflow = workflow or route_for_subject(subject, routes)
    if workflow is None:
        names = ", ".join(f"{name}@" for name in routes)
        raise MailRefused(f"Not an address Breachdesk takes mail for; send to one of {names} "
                          "(or start the subject with [press] or [escalate]).", 550)
    body = _body_text(message)
    if not body:
        raise MailRefused("The message has no text. Forward the message itself, or paste what was said.", 554)
    if len(body) > MAX_BODY_CHARACTERS:  # keep what fits; the whole message is kept as the .eml
        body = body[:MAX_BODY_CHARACTERS - 40].rstrip() + "\n[… cut here; the full text is in the .eml]"
    return Parsed(sender=sender, workflow=workflow, subject=subject, body=body, attachments=_attachments(message))


@dataclass
class Received:
    result: EscalationResult
    sha256: str

    @property
    def summary(self) -> str:
        incident = self.result.incident
        text = f"{incident.reference} {'joined' if self.result.joined else 'opened'}; told: " \
               f"{', '.join(self.result.notified) or 'nobody'}"
        if self.result.skipped:
            text += f"; {len(self.result.skipped)} attachment(s) skipped: " + " ".join(self.result.skipped)
        return text


def receive(session: Session, registry: WorkflowRegistry, raw: bytes, *, routes: dict[str, str], folder: Path,
            recipients: list[str] | None = None, envelope_sender: str | None = None) -> Received:
    """Act on one message in the caller's transaction (the caller commits, or rolls back on MailRefused)."""
    parsed = parse(session, raw, routes=routes, recipients=recipients, envelope_sender=envelope_sender)
    digest = hashlib.sha256(raw).hexdigest()
    original = Attachment(filename="forwarded-message.eml", data=raw,
                          description=f"The e-mail as received (SHA-256 {digest[:16]}…)")
    files = [original, *parsed.attachments]
    subject = parsed.subject or "(no subject)"
    try:
        if parsed.workflow == PRESS_WORKFLOW:
            result = escalate_press(session, registry, PressReport(asked=parsed.body, contact_method="email",
                                                                   title=f"Press approach by e-mail: {subject}"),
                                    actor=parsed.sender, folder=folder, files=files, channel="email",
                                    skip_refused_files=True)
        else:
            link, platform = first_post_link(parsed.body)
            result = escalate_tag(session, registry, TagReport(platform=platform, link=link, text=parsed.body,
                                                               note=f"Forwarded by e-mail: {subject}",
                                                               title=f"Tag forwarded by e-mail: {subject}"),
                                  actor=parsed.sender, folder=folder, files=files, channel="email",
                                  skip_refused_files=True)
    except ServiceError as error:
        raise MailRefused(str(error), 554) from None
    audit.record(session, actor=parsed.sender, action="mail_in.received", incident=result.incident,
                 data={"sha256": digest, "bytes": len(raw), "subject": subject[:200], "workflow": parsed.workflow,
                       "original_kept": any(e.sha256 == digest for e in result.evidence),
                       "skipped": result.skipped})
    return Received(result=result, sha256=digest)


def evidence_types() -> str:
    return ", ".join(evidence_service.ALLOWED_EXTENSIONS)
