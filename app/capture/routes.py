"""Log a reported post (GET/POST /posts/new) and decide the incident page's suggestions."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from app.capture import bp
from app.capture.forms import CAPTURE_WORKFLOWS, CaptureForm, DecisionForm, parse_posted_at
from app.extensions import db
from app.models import Incident, Person
from app.permissions import can_decide_suggestions, can_open, can_view, visible_people
from app.services import InvalidInput, NotFound, ServiceError
from app.services import suggestions as suggestion_service
from app.services.incidents import BreakGlassRequired, IncidentChangedElsewhere, PostInput, get_visible
from app.services.intake import CaptureRequest, ReportInput, SubjectInput, UploadInput, capture_post, joined_message
from app.web import workflows

PEOPLE_LIMIT = 500
# Where each service field's message is shown on the form.
FIELD_FOR = {"platform": "platform", "url": "url", "posted_at": "posted_at", "author_handle": "author_handle",
             "files": "files", "workflow": "workflow", "clauses": "clauses", "severity": "severity",
             "channel": "channel", "subject": "person", "subject.name": "subject_name",
             "subject.role": "subject_role", "subject.handles": "subject_name"}


def _capture_workflows() -> list[tuple[str, str]]:
    registry = workflows()
    return [(key, registry.get(key).title) for key in CAPTURE_WORKFLOWS
            if key in registry and can_open(current_user, registry.get(key))]


def _people() -> list[tuple[int, str]]:
    people = db.session.scalars(
        select(Person).where(visible_people(current_user)).options(selectinload(Person.handles))
        .order_by(Person.name, Person.id).limit(PEOPLE_LIMIT)
    ).all()
    return [(p.id, f"{p.name} ({p.role})" + (": " + ", ".join(h.handle for h in p.handles) if p.handles else ""))
            for p in people]


# check_post's messages stand alone, field by field; other services put the whole sentence in the error.
POST_FIELDS = {"platform", "url", "posted_at", "author_handle"}


def _show_error(form: CaptureForm, error: ServiceError) -> None:
    fields = error.fields if isinstance(error, InvalidInput) else {}
    placed = False
    for key, message in fields.items():
        name = FIELD_FOR.get(key)
        if name is None and key.startswith("subject.handles."):
            index = int(key.split(".")[2]) if key.split(".")[2].isdigit() else 0
            target = form.handles.entries[index].form.handle if index < len(form.handles.entries) else form.subject_name
        else:
            target = getattr(form, name or "", None)
        if target is not None:
            target.errors = [*(target.errors or []), message if key in POST_FIELDS else str(error)]
            placed = True
    if not placed:
        form.form_errors.append(str(error))


def error_summary(form: CaptureForm) -> list[tuple[str | None, str, str]]:
    """(field id to link to, label, message) for every problem, the handle rows' included, in form order."""
    problems: list[tuple[str | None, str, str]] = []
    for f in form:
        if f.name == form.handles.name:
            for index, entry in enumerate(form.handles.entries, start=1):
                problems += [(entry.form.handle.id, f"Handle {index}", m) for m in entry.form.handle.errors]
        elif f.name == "csrf_token":
            problems += [(None, "Form", m) for m in f.errors]
        else:
            problems += [(f.id, str(f.label.text), m) for m in f.errors if isinstance(m, str)]
    return problems


def _page(form: CaptureForm, status: int) -> tuple[str, int]:
    return render_template("capture/new.html", form=form, error_summary=error_summary), status


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def new_post() -> Response | tuple[str, int]:
    choices = _capture_workflows()
    if not choices:
        abort(403, "Your role does not log reported posts.")
    registry = workflows()
    form = CaptureForm()
    form.set_choices(registry.catalogues, choices, _people())
    if request.method == "GET":
        form.workflow.data = choices[0][0]
    if not form.validate_on_submit():
        return _page(form, 400 if request.method == "POST" else 200)
    actor = current_user._get_current_object()
    try:
        try:
            posted_at = parse_posted_at(form.posted_at.data)
        except ValueError as bad:
            raise InvalidInput(str(bad), {"posted_at": str(bad)}) from None
        person_id = int(form.person.data) if (form.person.data or "").isdigit() else None
        if person_id is not None and person_id not in {id_ for id_, _label in _people()}:
            raise InvalidInput("Pick the author again from the list.", {"subject": "not on the list"})
        handles = [(entry.form.platform.data or "", entry.form.handle.data or "") for entry in form.handles.entries
                   if (entry.form.handle.data or "").strip()]
        for index, (platform, _handle) in enumerate(handles):
            if not platform:
                raise InvalidInput("Choose the platform of each of the author's handles.",
                                   {f"subject.handles.{index}.handle": "platform missing"})
        subject = None
        if person_id is not None or (form.subject_name.data or "").strip() or handles:
            subject = SubjectInput(name=form.subject_name.data or "", role=form.subject_role.data,
                                   handles=handles, person_id=person_id)
        uploads = [UploadInput(filename=f.filename or "", stream=f.stream)
                   for f in request.files.getlist(form.files.name) if f and f.filename]
        result = capture_post(
            db.session, registry,
            CaptureRequest(
                workflow_key=form.workflow.data or "",
                post=PostInput(platform=form.platform.data or "", url=form.url.data or "",
                               platform_post_id=form.platform_post_id.data or None,
                               author_handle=form.author_handle.data or None, posted_at=posted_at,
                               text=form.text.data or None),
                report=ReportInput(channel=form.channel.data or "", reporter=form.reporter.data),
                subject=subject, title=form.title.data, severity=form.severity.data,
                clauses=list(form.clauses.data or []), files=uploads,
            ),
            actor=actor, evidence_folder=current_app.config["BREACHDESK"].evidence_path,
        )
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        _show_error(form, error)
        return _page(form, 422)
    if result.joined:
        flash(joined_message(result, actor), "info")
        if can_view(actor, result.incident):
            return redirect(url_for("incidents.show", incident_id=result.incident.id))
        return redirect(url_for("capture.new_post"))
    flash(f"{result.incident.reference} opened: the post, its text and "
          f"{len(uploads)} file{'s' if len(uploads) != 1 else ''} are stored with their SHA-256.", "success")
    return redirect(url_for("incidents.show", incident_id=result.incident.id))


@bp.post("/incidents/<int:incident_id>/suggestions/accept")
@login_required
def accept_suggestion(incident_id: int) -> Response:
    return _decide(incident_id, accept=True)


@bp.post("/incidents/<int:incident_id>/suggestions/reject")
@login_required
def reject_suggestion(incident_id: int) -> Response:
    return _decide(incident_id, accept=False)


def _decide(incident_id: int, *, accept: bool) -> Response:
    actor = current_user._get_current_object()
    try:
        incident = get_visible(db.session, incident_id, actor)
    except BreakGlassRequired as required:
        abort(403, f"{required} Open the incident page first.")
    except NotFound:
        db.session.commit()  # keep the audit row of the refused access
        abort(404)
    if not can_decide_suggestions(actor, incident):
        abort(403, "Your role does not decide suggestions on this incident.")
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("Choose a suggestion to accept or reject.", "error")
        return redirect(url_for("incidents.show", incident_id=incident_id))
    expected = int(form.version.data) if (form.version.data or "").isdigit() else None
    try:
        offer = suggestion_service.decide(db.session, workflows().catalogues, incident, form.suggestion.data or "",
                                          accept=accept, actor=actor, expected_version=expected)
        db.session.commit()
    except (IncidentChangedElsewhere, StaleDataError):
        db.session.rollback()
        flash(str(IncidentChangedElsewhere(db.session.get(Incident, incident_id))), "error")
        return redirect(url_for("incidents.show", incident_id=incident_id))
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("incidents.show", incident_id=incident_id))
    flash(f"Accepted: {offer.label}." if accept else f"Rejected: {offer.label}; it will not be suggested again.",
          "success")
    return redirect(url_for("incidents.show", incident_id=incident_id))


@bp.app_context_processor
def _capture_links() -> dict[str, object]:
    """``may_log_posts()`` for the navigation: asked only when a page shows the link."""
    return {"may_log_posts": lambda: current_user.is_authenticated and bool(_capture_workflows())}
