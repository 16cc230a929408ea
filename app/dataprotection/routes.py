"""Thin views over app/services/{subject_access,holds,retention,erasure,disclosure}.py.

State-changing forms carry their targets as form fields (no ids in the URL); downloads are POSTs because
making an archive or a disclosure copy opens a request or writes an audit row.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.dataprotection import bp
from app.extensions import db
from app.models import Incident, Person
from app.permissions import can_manage_data_protection, can_view
from app.services import ServiceError, holds
from app.services.disclosure import disclosure_copy
from app.services.retention import due_items
from app.services.subject_access import build_archive, find_person, open_request, open_requests, request_due


def _guard() -> None:
    if not can_manage_data_protection(current_user):
        abort(404)


def _registry():  # type: ignore[no-untyped-def]
    return current_app.extensions["breachdesk.workflows"]


def _back() -> Response:
    return redirect(url_for("dataprotection.index"))  # type: ignore[return-value]


@bp.get("")
@login_required
def index() -> str:
    _guard()
    requests = open_requests(db.session)
    active = holds.active_holds(db.session)
    due = due_items(db.session, _registry(), current_app.extensions["breachdesk.retention"])
    return render_template("dataprotection/index.html", requests=requests, request_due=request_due, holds=active,
                           due=due, policy=current_app.extensions["breachdesk.retention"])


@bp.post("/sar")
@login_required
def subject_access() -> Response:
    _guard()
    try:
        person = find_person(db.session, request.form.get("person", ""))
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _back()
    sar = open_request(db.session, _registry(), person, actor=current_user)
    archive = build_archive(db.session, _registry(), person, actor=current_user, request=sar)
    db.session.commit()
    response = Response(archive.data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f"attachment; filename=sar-{person.id}-{archive.made_on}.zip"
    return response


def _incident_by_reference(text: str) -> Incident | None:
    return db.session.scalar(select(Incident).where(Incident.reference == text.strip().upper()))


@bp.post("/holds")
@login_required
def place_hold() -> Response:
    _guard()
    target = request.form.get("target", "").strip()
    kind = request.form.get("kind", "legal_hold")
    try:
        incident = _incident_by_reference(target) if target and not target.isdigit() and "@" not in target else None
        person = None if incident is not None else find_person(db.session, target)
        holds.place_hold(db.session, actor=current_user, reason=request.form.get("reason", ""), incident=incident,
                         person=person, kind=kind)
    except ServiceError as error:
        db.session.rollback()
        flash(f"Hold not placed: {error}", "error")
        return _back()
    db.session.commit()
    flash("Hold placed: retention and erasure will leave it alone until it is released.", "success")
    return _back()


@bp.post("/holds/release")
@login_required
def release_hold() -> Response:
    _guard()
    try:
        holds.release_hold(db.session, int(request.form.get("hold_id", "0") or 0), actor=current_user,
                           reason=request.form.get("reason", ""))
    except (ServiceError, ValueError) as error:
        db.session.rollback()
        flash(f"Hold not released: {error}", "error")
        return _back()
    db.session.commit()
    flash("Hold released.", "success")
    return _back()


@bp.post("/erase")
@login_required
def erase() -> Response:
    _guard()
    from app.services.erasure import erase_person

    try:
        person = find_person(db.session, request.form.get("person", ""))
        result = erase_person(db.session, _registry(), person, actor=current_user,
                              reason=request.form.get("reason", ""),
                              folder=current_app.config["BREACHDESK"].evidence_path)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _back()
    db.session.commit()
    result.delete_files()
    flash(result.summary(), "success")
    return _back()


@bp.post("/disclosure")
@login_required
def disclosure() -> Response:
    _guard()
    incident = _incident_by_reference(request.form.get("incident", ""))
    if incident is None or not can_view(current_user, incident):
        flash("No incident with that reference that you may read (a restricted file needs break glass first).",
              "error")
        return _back()
    people: list[Person] = []
    try:
        for text in filter(None, (t.strip() for t in request.form.get("people", "").split(","))):
            people.append(find_person(db.session, text))
    except ServiceError as error:
        db.session.rollback()
        flash(f"No disclosure copy made: {error}", "error")
        return _back()
    data = disclosure_copy(db.session, _registry(), incident, actor=current_user, people=people,
                           pii=bool(request.form.get("pii")), notes=not request.form.get("remove_notes"))
    db.session.commit()
    response = Response(data, mimetype="text/plain; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename={incident.reference}-disclosure.txt"
    return response


