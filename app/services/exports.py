"""Exports: CSV that spreadsheets cannot turn into formulas, and an audit row for every export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from app.models import Incident, User
from app.services import audit
from app.workflow import WorkflowRegistry

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value: Any) -> str:
    """Make a cell inert: text that a spreadsheet would evaluate gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rows_to_csv(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def incident_list_csv(incidents: list[Incident], registry: WorkflowRegistry) -> str:
    def row(incident: Incident) -> list[Any]:
        definition = registry.current.get(incident.workflow_key)
        state = definition.states[incident.state].title if definition and incident.state in definition.states \
            else incident.state
        return [incident.reference, incident.title, definition.title if definition else incident.workflow_key,
                state, incident.severity, incident.assignee.name if incident.assignee else "",
                incident.created_at.isoformat(), incident.closed_at.isoformat() if incident.closed_at else ""]

    header = ["reference", "title", "workflow", "state", "severity", "assignee", "opened_utc", "closed_utc"]
    return rows_to_csv(header, (row(i) for i in incidents))


def record_export(session: Session, *, actor: User, what: str, filters: dict[str, str], rows: int) -> None:
    audit.record(session, actor=actor, action="export", object_type=what, data={"filters": filters, "rows": rows})
