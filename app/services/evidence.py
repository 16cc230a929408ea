"""Evidence integrity and safe file handling.

Every captured text and file gets a SHA-256 at capture, with who captured it and when. Files are
stored outside the web root under generated names; the name a user gave is kept only for display
and for the download's filename. The extension and the content must agree, and nothing that a
browser could run (HTML, SVG, scripts) is accepted at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import EvidenceFile, Incident, User
from app.services import ServiceError, audit

MAX_FILE_BYTES = 20 * 1024 * 1024


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FileKind:
    content_type: str
    extensions: tuple[str, ...]


KINDS: dict[str, FileKind] = {
    "png": FileKind("image/png", ("png",)),
    "jpeg": FileKind("image/jpeg", ("jpg", "jpeg")),
    "gif": FileKind("image/gif", ("gif",)),
    "webp": FileKind("image/webp", ("webp",)),
    "pdf": FileKind("application/pdf", ("pdf",)),
    "text": FileKind("text/plain", ("txt", "eml", "csv", "log")),
}
EMAIL_CONTENT_TYPE = "message/rfc822"
ALLOWED_EXTENSIONS = sorted({ext for kind in KINDS.values() for ext in kind.extensions})
# Markup a browser might render or run if it ever sniffed the file; refused even inside ".txt".
ACTIVE_CONTENT = re.compile(rb"<\s*(!doctype|html|script|svg|iframe|object|embed|body|head|\?xml)", re.I)
BIDI_AND_CONTROL = re.compile(r"[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def sniff(head: bytes) -> str | None:
    """The kind the content really is, from its first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a cut multi-byte character at the end is fine
                return None
        return "text"
    return None


def display_name(filename: str) -> str:
    """The user's file name made harmless: no folders, no control or direction-changing characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = BIDI_AND_CONTROL.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    if len(name) > 200:  # shorten the stem, keep the extension
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[:190]}.{extension[:8]}" if dot else name[:200]
    return name or "evidence"


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed every check and is ready to store (nothing written yet)."""

    name: str
    data: bytes
    content_type: str
    sha256: str


def check_file(filename: str, stream: BinaryIO) -> CheckedFile:
    """Read and check an upload without storing anything, or refuse it with a message saying what to fix."""
    name = display_name(filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED_EXTENSIONS:
        raise ServiceError(f"'{name}': files of this type are not accepted. Accepted: "
                           f"{', '.join(ALLOWED_EXTENSIONS)} (screenshots, PDFs and plain text).")
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ServiceError(f"'{name}' is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise ServiceError(f"'{name}' is empty.")
    kind = sniff(data[:4096])
    if kind is None or extension not in KINDS[kind].extensions:
        seen = f"looks like {kind}" if kind else "is not a recognised image, PDF or text file"
        raise ServiceError(f"'{name}' {seen}, which does not match its .{extension} extension.")
    if extension == "eml":
        # A forwarded e-mail is evidence as it was received, HTML parts included. It is stored as
        # message/rfc822 and, like every evidence file, only ever downloaded as an attachment in a
        # sandbox (never rendered), so its markup cannot run.
        return CheckedFile(name=name, data=data, content_type=EMAIL_CONTENT_TYPE,
                           sha256=hashlib.sha256(data).hexdigest())
    if ACTIVE_CONTENT.search(data[:65536]):
        raise ServiceError(f"'{name}' contains web page or SVG markup, which is not accepted as evidence.")
    return CheckedFile(name=name, data=data, content_type=KINDS[kind].content_type,
                       sha256=hashlib.sha256(data).hexdigest())


def capture_file(
    session: Session,
    incident: Incident,
    *,
    actor: User,
    filename: str,
    stream: BinaryIO,
    folder: Path,
    description: str | None = None,
) -> EvidenceFile:
    """Store an uploaded file as evidence, or refuse it with a message saying what to fix."""
    return store_file(session, incident, check_file(filename, stream), actor=actor, folder=folder,
                      description=description)


def store_file(session: Session, incident: Incident, checked: CheckedFile, *, actor: User, folder: Path,
               description: str | None = None) -> EvidenceFile:
    """Write a checked upload under a generated name and record it as the incident's evidence."""
    stored_name = uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / stored_name
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(checked.data)
    evidence = EvidenceFile(original_name=checked.name, stored_name=stored_name, content_type=checked.content_type,
                            size_bytes=len(checked.data), sha256=checked.sha256,
                            description=(description or "").strip() or None, captured_by_id=actor.id,
                            captured_at=utcnow())
    incident.evidence_files.append(evidence)
    session.flush()
    audit.record(session, actor=actor, action="evidence.added", incident=incident, object_type="evidence",
                 object_id=evidence.id, data={"name": checked.name, "sha256": checked.sha256,
                                              "bytes": len(checked.data)})
    return evidence


def path_of(evidence: EvidenceFile, folder: Path) -> Path:
    """Where a stored file lives. Stored names are generated hex, so this can never leave the folder."""
    if not re.fullmatch(r"[0-9a-f]{32}", evidence.stored_name):
        raise ServiceError("Stored evidence name is not one Breachdesk generated.")
    return folder / evidence.stored_name


def record_download(session: Session, incident: Incident, evidence: EvidenceFile, *, actor: User) -> None:
    audit.record(session, actor=actor, action="evidence.downloaded", incident=incident, object_type="evidence",
                 object_id=evidence.id, data={"name": evidence.original_name, "sha256": evidence.sha256})
