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


INCIDENT_LIST_HEADER = ["reference", "title", "workflow", "state", "severity", "assignee", "opened_utc", "closed_utc"]
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _incident_rows(incidents: list[Incident], registry: WorkflowRegistry) -> Iterable[list[Any]]:
    def row(incident: Incident) -> list[Any]:
        definition = registry.current.get(incident.workflow_key)
        state = definition.states[incident.state].title if definition and incident.state in definition.states \
            else incident.state
        return [incident.reference, incident.title, definition.title if definition else incident.workflow_key,
                state, incident.severity, incident.assignee.name if incident.assignee else "",
                incident.created_at.isoformat(), incident.closed_at.isoformat() if incident.closed_at else ""]

    return (row(i) for i in incidents)


def incident_list_csv(incidents: list[Incident], registry: WorkflowRegistry) -> str:
    return rows_to_csv(INCIDENT_LIST_HEADER, _incident_rows(incidents, registry))


def rows_to_xlsx(header: list[str], rows: Iterable[Iterable[Any]], title: str = "Incidents") -> bytes:
    """A workbook of text cells only: each value is neutralised as in the CSV and stored with data type
    string, so no spreadsheet evaluates it. Write-only mode streams rows, keeping memory flat."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)

    def text_cells(values: Iterable[Any]) -> list[WriteOnlyCell]:
        cells = []
        for value in values:
            # Control characters cannot be written to the XML of a workbook: dropped rather than refused.
            # (stripped before neutralising, so "\x01=cmd" cannot become a formula).
            clean = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))
            cell = WriteOnlyCell(sheet, value=neutralise(clean))
            cell.data_type = "s"  # never "f" (formula) or a number guessed from the text
            cells.append(cell)
        return cells

    sheet.append(text_cells(header))
    for row in rows:
        sheet.append(text_cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def incident_list_xlsx(incidents: list[Incident], registry: WorkflowRegistry) -> bytes:
    return rows_to_xlsx(INCIDENT_LIST_HEADER, _incident_rows(incidents, registry))


def record_export(session: Session, *, actor: User, what: str, filters: dict[str, str], rows: int) -> None:
    audit.record(session, actor=actor, action="export", object_type=what, data={"filters": filters, "rows": rows})
