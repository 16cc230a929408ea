"""The hearing bundle: a member's case file put together for a hearing — chronology, allegations, evidence
with hashes, meetings and their notes, outcomes and warnings, deadlines, the rep's checklist — as one
structure that the printable page and the PDF both render."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.clock import utcnow
from app.models import AuditEvent, CaseFile, Deadline, EvidenceFile, Incident, Meeting, Warning
from app.services import audit
from app.services.cases import meetings_of, warnings_of
from app.services.incidents import definition_for
from app.timing import LONDON
from app.workflow import WorkflowRegistry

SECTIONS = ("Chronology", "Allegations", "Evidence", "Meetings and hearings", "Outcomes and warnings",
            "Deadlines", "Rep's checklist")
CHECKLIST = ("manager_had_authority", "written_reasons_given", "consequences_spelt_out", "sanction_proportionate",
             "appeal_right_explained")


@dataclass
class Line:
    when: datetime | None
    track: str
    text: str
    detail: str = ""


@dataclass
class Bundle:
    case_file: CaseFile
    produced_at: datetime
    produced_by: str
    member_lines: list[tuple[str, str]]
    tracks: list[tuple[str, str, str, str, str]]  # reference, workflow, state, clock owner, next deadline
    chronology: list[Line] = field(default_factory=list)
    allegations: list[Line] = field(default_factory=list)
    evidence: list[Line] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    outcomes: list[Line] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)
    checklist: list[tuple[str, str]] = field(default_factory=list)
    references: dict[int, str] = field(default_factory=dict)


def _uk(moment: datetime | None) -> str:
    return moment.astimezone(LONDON).strftime("%d %b %Y %H:%M") if moment else ""


def assemble(session: Session, registry: WorkflowRegistry, case_file: CaseFile, *, actor_name: str) -> Bundle:
    tracks: list[Incident] = list(session.scalars(
        select(Incident).where(Incident.case_file_id == case_file.id).order_by(Incident.id)
        .options(selectinload(Incident.deadlines), selectinload(Incident.evidence_files).selectinload(
            EvidenceFile.captured_by), selectinload(Incident.posts))
    ))
    references = {t.id: t.reference for t in tracks}
    member = case_file.member
    member_lines = [(label, value) for label, value in (
        ("Member", member.person.name), ("Membership number", member.membership_number),
        ("Branch", member.branch or ""), ("Employer", member.employer.name if member.employer else ""),
        ("Workplace", member.workplace or ""), ("Job title", member.job_title or ""),
        ("Manager", member.manager or ""), ("Access needs", member.access_needs or ""),
        ("Reps", ", ".join(f"{r.user.name} (from {_uk(r.assigned_at)}"
                           + (f" to {_uk(r.ended_at)})" if r.ended_at else ")") for r in case_file.reps)),
    ) if value]
    bundle = Bundle(case_file=case_file, produced_at=utcnow(), produced_by=actor_name, member_lines=member_lines,
                    tracks=[], references=references)
    for track in tracks:
        definition = definition_for(session, registry, track)
        state = definition.states[track.state].title if track.state in definition.states else track.state
        live = sorted((d for d in track.deadlines if d.is_live), key=lambda d: d.due_at)
        nxt = f"{live[0].title} by {_uk(live[0].due_at)}" if live else "none running"
        bundle.tracks.append((track.reference, definition.title, state, definition.clock_set_by or "union",
                              nxt))
        fields = track.fields or {}
        if fields.get("allegations"):
            bundle.allegations.append(Line(None, track.reference, str(fields["allegations"])))
        if track.outcome:
            bundle.outcomes.append(Line(track.closed_at, track.reference, track.outcome.replace("_", " ")))
        for key in CHECKLIST:
            if key in fields:
                label = next((f.label for t in definition.transitions.values() for f in t.fields if f.key == key), key)
                bundle.checklist.append((label, "yes" if fields[key] else "no"))
        for post in track.posts:
            bundle.evidence.append(Line(post.captured_at, track.reference, f"Post text ({post.platform})",
                                        f"SHA-256 {post.text_sha256 or '-'}"))
        for evidence in track.evidence_files:
            who = evidence.captured_by.name if evidence.captured_by else "system"
            bundle.evidence.append(Line(evidence.captured_at, track.reference,
                                        f"{evidence.original_name} ({evidence.size_bytes:,} bytes, by {who})",
                                        f"SHA-256 {evidence.sha256}"))
        bundle.deadlines.extend(track.deadlines)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.incident_id.in_(list(references))).order_by(AuditEvent.id)
    ) if references else []
    for event in events:
        bundle.chronology.append(Line(event.at, references.get(event.incident_id or 0, ""), _describe(event),
                                      event.comment or ""))
    bundle.meetings = meetings_of(session, case_file)
    bundle.warnings = warnings_of(session, case_file)
    bundle.deadlines.sort(key=lambda d: d.due_at)
    return bundle


def _describe(event: AuditEvent) -> str:
    who = event.actor_label
    if event.action == "incident.transition":
        return f"{who}: {(event.transition or '').replace('_', ' ')} ({event.from_state} → {event.to_state})"
    return f"{who}: {event.action.replace('_', ' ').replace('.', ' ')}"


def record_export(session: Session, case_file: CaseFile, *, actor, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Special-category data leaving the system: audited on the file's first track."""
    audit.record(session, actor=actor, action="case_file.bundle_exported",
                 incident=case_file.tracks[0] if case_file.tracks else None, object_type="case_file",
                 object_id=case_file.id, data={"format": kind})


# ------------------------------------------------------------------------------------------------ PDF

_FONT_DIR = Path(__import__("reportlab").__file__).parent / "fonts"


def render_pdf(bundle: Bundle) -> bytes:
    """A paginated, page-numbered PDF. Vera (shipped inside reportlab) carries the text, so nothing is
    fetched and accented names survive."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas as pdf_canvas
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if "Vera" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("Vera", str(_FONT_DIR / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("Vera-Bold", str(_FONT_DIR / "VeraBd.ttf")))
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName="Vera", fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontName="Vera-Bold", fontSize=16)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName="Vera-Bold", fontSize=12, spaceBefore=10)
    case_file = bundle.case_file

    def p(text: object, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    def table(rows: list[list[object]], widths: list[float]) -> Table:
        data = [[p(c, small) for c in row] for row in rows]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8"))]))
        return t

    story: list[object] = [
        p(f"Hearing bundle — {case_file.reference}", h1), p(case_file.title),
        p(f"Produced {_uk(bundle.produced_at)} (UK time) by {bundle.produced_by}. Confidential: union membership "
          "and disciplinary information (special category)."), Spacer(1, 4 * mm),
        table([["", ""], *[[k, v] for k, v in bundle.member_lines]], [45, 125]),
        p("Tracks", h2),
        table([["Reference", "Track", "State", "Clock set by", "Next deadline"], *[list(t) for t in bundle.tracks]],
              [28, 44, 34, 22, 42]),
        p("Contents: " + "; ".join(f"{n}. {s}" for n, s in enumerate(SECTIONS, 1))),
        PageBreak(),
        p("1. Chronology", h2),
        table([["When (UK)", "Track", "What", "Note"],
               *[[_uk(line.when), line.track, line.text, line.detail] for line in bundle.chronology]],
              [26, 28, 66, 50]),
        p("2. Allegations", h2),
        *([p(f"{line.track}: {line.text}") for line in bundle.allegations] or [p("None recorded.")]),
        p("3. Evidence", h2),
        table([["Captured (UK)", "Track", "Item", "Hash"],
               *[[_uk(line.when), line.track, line.text, line.detail] for line in bundle.evidence]],
              [26, 28, 48, 68]) if bundle.evidence else p("No evidence files on this case."),
        p("4. Meetings and hearings", h2),
        table([["When (UK)", "Track", "Kind", "Place", "Companion", "Status", "Notes"],
               *[[_uk(m.scheduled_at), bundle.references.get(m.incident_id, ""), m.kind.replace("_", " "),
                  m.place or "", m.companion or "", m.status, m.notes or ""] for m in bundle.meetings]],
              [24, 28, 20, 22, 22, 18, 36]) if bundle.meetings else p("No meetings recorded."),
        p("5. Outcomes and warnings", h2),
        *([p(f"{line.track}: {line.text}") for line in bundle.outcomes] or [p("No outcome yet.")]),
        *([table([["Warning", "Starts", "Expires", "Status"],
                  *[[w.level.replace("_", " "), f"{w.issued_on:%d %b %Y}", f"{w.expires_on:%d %b %Y}", w.status]
                    for w in bundle.warnings]], [60, 35, 35, 40])] if bundle.warnings else []),
        p("6. Deadlines", h2),
        table([["Track", "Deadline", "Due (UK)", "Status", "Why"],
               *[[bundle.references.get(d.incident_id, ""), d.title, _uk(d.due_at), d.status, d.why]
                 for d in bundle.deadlines]], [28, 34, 28, 18, 62]) if bundle.deadlines else p("No deadlines."),
        p("7. Rep's checklist", h2),
        table([["Check", "Answer"], *[[k, v] for k, v in bundle.checklist]], [120, 50])
        if bundle.checklist else p("The outcome letter has not been checked yet."),
    ]

    class NumberedCanvas(pdf_canvas.Canvas):
        """Two passes: pages are kept until the end so each can say "page n of N"."""

        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Vera", 8)
                self.drawString(15 * mm, 10 * mm, f"{case_file.reference} — hearing bundle — confidential")
                self.drawRightString(195 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=18 * mm, title=f"Hearing bundle {case_file.reference}",
                            author="Breachdesk")
    doc.build(story, canvasmaker=NumberedCanvas)
    return out.getvalue()
