"""Dashboards per audience, and their reports as CSV and XLSX (audited like every export)."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import abort, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.clock import utcnow
from app.dashboard import bp
from app.dashboard.figures import draw
from app.extensions import db
from app.models import User
from app.permissions import can_see_dashboard, dashboard_audience
from app.services import dashboard as dashboard_service
from app.services import exports as export_service
from app.web import workflows


def _allowed(audience: str) -> User:
    if audience not in dashboard_service.SECTIONS:
        abort(404)
    actor = current_user._get_current_object()
    if not can_see_dashboard(actor, audience):
        abort(403)
    return actor


@bp.get("/dashboard")
@login_required
def index() -> Response:
    """The viewer's own audience."""
    audience = dashboard_audience(current_user._get_current_object())
    if audience is None:
        abort(403)
    return redirect(url_for("dashboard.show", audience=audience))


@bp.get("/dashboard/<audience>")
@login_required
def show(audience: str) -> str:
    actor = _allowed(audience)
    board = dashboard_service.build(db.session, actor, workflows(), audience, utcnow(),
                                    current_app.config["BREACHDESK"].timezone)
    return render_template("dashboard/show.html", board=board, charts=draw(board), audience=audience,
                           audiences=[a for a in dashboard_service.SECTIONS if can_see_dashboard(actor, a)],
                           titles=dashboard_service.AUDIENCE_TITLES, report_titles=dashboard_service.REPORT_TITLES,
                           human=dashboard_service.human_duration)


@bp.get("/dashboard/<audience>/<report>.<any(csv, xlsx):fmt>")
@login_required
def download(audience: str, report: str, fmt: str) -> Response:
    """One section's numbers, formula-safe (app/services/exports.py), counted over what the viewer may read."""
    actor = _allowed(audience)
    if report not in dashboard_service.SECTIONS[audience]:
        abort(404)
    board = dashboard_service.build(db.session, actor, workflows(), audience, utcnow(),
                                    current_app.config["BREACHDESK"].timezone, only=[report])
    header, rows = dashboard_service.report_rows(board, report)
    export_service.record_export(db.session, actor=actor, what=f"dashboard report ({fmt})",
                                 filters={"audience": audience, "report": report}, rows=len(rows))
    db.session.commit()
    name = f"breachdesk-{audience}-{report.replace('_', '-')}-{utcnow():%Y-%m-%d}.{fmt}"
    if fmt == "csv":
        response = FlaskResponse(export_service.rows_to_csv(header, rows), mimetype="text/csv")
    else:
        response = FlaskResponse(export_service.rows_to_xlsx(header, rows, title=report.replace("_", " ")[:31]),
                                 mimetype=export_service.XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response
