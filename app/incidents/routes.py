"""Incident list, incident page, opening an incident and taking a transition."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from app.capture.panels import triage_panels
from app.extensions import db
from app.incidents import bp
from app.incidents.forms import (
    BreakGlassForm,
    BulkAssignForm,
    EvidenceForm,
    ExtensionForm,
    OpenIncidentForm,
    ShareForm,
    submitted_values,
    transition_form,
)
from app.models import Deadline, EvidenceFile, Incident, IncidentLink, User
from app.models.incidents import SEVERITIES
from app.models.loading import Collections
from app.models.people import PLATFORMS
from app.permissions import (
    can_add_evidence,
    can_assign,
    can_know,
    can_manage_deadlines,
    can_open,
    can_share,
    can_transition,
)
from app.services import NotFound, ServiceError
from app.services import access as access_service
from app.services import audit as audit_service
from app.services import deadlines as deadline_service
from app.services import evidence as evidence_service
from app.services import exports as export_service
from app.services import queue as queue_service
from app.services import suggestions as suggestion_service
from app.services.incidents import (
    BreakGlassRequired,
    IncidentChangedElsewhere,
    OpenRequest,
    definition_for,
    get_visible,
    open_incident,
    take_transition,
)
from app.services.queue import QueueFilters
from app.web import workflows
from app.workflow import TransitionNotAllowed, available

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


@bp.get("/")
def home() -> Response:
    return redirect(url_for("incidents.index"))


def _queue_filters() -> QueueFilters:
    return QueueFilters.from_args(request.args, list(workflows().current))


@bp.get("/incidents")
@login_required
def index() -> tuple[str, int]:
    """The triage queue: every filter in the URL, newest first or by next due date, keyset pages."""
    registry = workflows()
    filters = _queue_filters()
    actor = current_user._get_current_object()
    cursor = request.args.get("after" if filters.sort == "due" else "before", "")[:80] or None
    result = queue_service.page(db.session, filters, actor, cursor=cursor)
    definition = registry.current.get(filters.workflow)
    counts = queue_service.state_counts(db.session, filters, actor,
                                        [(k, s.final) for k, s in definition.states.items()] if definition else [])
    assignable = {r.incident.id for r in result.rows if can_assign(actor, r.incident, readable=r.readable)}
    return render_template(
        "incidents/index.html", rows=result.rows, page=result, registry=registry, filters=filters,
        definition=definition, counts=counts, count_cap=queue_service.COUNT_CAP, assignable=assignable,
        paged=cursor is not None,
        people=queue_service.assignee_choices(db.session, actor), subject_name=queue_service.subject_name(
            db.session, filters, actor), clauses=[(c.key, c.label) for c in registry.catalogues.all_current()],
        platforms=PLATFORMS,
        severities=SEVERITIES, sorts=queue_service.SORTS, statuses=queue_service.STATUSES,
        openable=[d for d in registry if can_open(actor, d)], bulk_form=BulkAssignForm(),
    ), 400 if filters.errors else 200


@bp.post("/incidents/bulk-assign")
@login_required
def bulk_assign() -> Response:
    """Assign the ticked incidents to one person: all of them or, if any is refused, none."""
    form = BulkAssignForm()
    back = url_for("incidents.index", **_queue_filters().as_args())
    if not form.validate_on_submit():
        flash("Not assigned: choose who should hold the ticked incidents.", "error")
        return redirect(back)
    actor = current_user._get_current_object()
    choice = (form.assignee.data or "").strip()
    assignee = db.session.get(User, int(choice)) if queue_service.is_id(choice) else None
    if choice != "none" and assignee is None:
        flash("Not assigned: choose who should hold them (or 'Nobody').", "error")
        return redirect(back)
    try:
        changed = queue_service.bulk_assign(db.session, queue_service.parse_selection(request.form.getlist("incident")),
                                            assignee, actor=actor)
    except NotFound:
        db.session.rollback()
        abort(404)
    except ServiceError as error:
        db.session.rollback()
        flash(f"Nothing was assigned: {error}", "error")
        return redirect(back)
    db.session.commit()
    who = assignee.name if assignee else "nobody"
    flash(f"{changed} incident{'s' if changed != 1 else ''} assigned to {who}.", "success")
    return redirect(back)


def _export(kind: str) -> tuple[list[Incident], QueueFilters]:
    filters = _queue_filters()
    actor = current_user._get_current_object()
    incidents = queue_service.export_rows(db.session, filters, actor, EXPORT_LIMIT)
    export_service.record_export(db.session, actor=actor, what=f"incident list ({kind})",
                                 filters=filters.as_args(), rows=len(incidents))
    db.session.commit()
    return incidents, filters


@bp.get("/incidents/export.csv")
@login_required
def export_csv() -> Response:
    """The queue's current filter as CSV: only incidents the user may read, formula-safe, audited."""
    incidents, _filters = _export("csv")
    body = export_service.incident_list_csv(incidents, workflows())
    response = FlaskResponse(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=breachdesk-incidents.csv"
    return response


@bp.get("/incidents/export.xlsx")
@login_required
def export_xlsx() -> Response:
    """The same rows as the CSV, as a workbook whose every cell is text (no formula can run)."""
    incidents, _filters = _export("xlsx")
    body = export_service.incident_list_xlsx(incidents, workflows())
    response = FlaskResponse(body, mimetype=export_service.XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = "attachment; filename=breachdesk-incidents.xlsx"
    return response


@bp.route("/incidents/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int]:
    registry = workflows()
    openable = [d for d in registry if can_open(current_user, d)]
    if not openable:
        abort(403, "Your role does not open incidents.")
    form = OpenIncidentForm()
    form.set_workflows(openable)
    if request.method == "GET":
        form.calendar.data = current_app.config["BREACHDESK"].default_calendar
        if request.args.get("workflow") in registry:
            form.workflow.data = request.args["workflow"]
    if form.validate_on_submit():
        try:
            incident = open_incident(
                db.session, registry,
                OpenRequest(workflow_key=form.workflow.data or "", title=form.title.data or "",
                            summary=form.summary.data, severity=form.severity.data, calendar=form.calendar.data,
                            restricted=bool(form.restricted.data), assignee=current_user._get_current_object()),
                actor=current_user._get_current_object(),
            )
        except ServiceError as error:
            db.session.rollback()
            form.title.errors = [*form.title.errors, str(error)]
        else:
            db.session.commit()
            flash(f"{incident.reference} opened.", "success")
            return redirect(url_for("incidents.show", incident_id=incident.id))
    return render_template("incidents/new.html", form=form), 400 if form.errors else 200


def _load(incident_id: int) -> Incident:
    try:
        return get_visible(db.session, incident_id, current_user._get_current_object())
    except BreakGlassRequired as required:
        abort(403, f"{required} Open the incident page first.")
    except NotFound:
        db.session.commit()  # keep the audit row of the refused access
        abort(404)


def _load_for(incident_id: int, allowed, refusal: str) -> Incident:  # type: ignore[no-untyped-def]
    """The incident, if the user may read it (else 404) and may do this to it (else 403)."""
    incident = _load(incident_id)
    if not allowed(current_user, incident):
        abort(403, refusal)
    return incident


def _render_incident(incident: Incident, forms: dict | None = None, status: int = 200) -> tuple[str, int]:
    registry = workflows()
    definition = definition_for(db.session, registry, incident)
    choices = [t for t in available(definition, incident.state, current_user.role)
               if can_transition(current_user, incident, t)]
    forms = forms or {}
    for t in choices:
        if t.key not in forms:
            prefilled = suggestion_service.prefill(incident, t)  # e.g. the 4-hour removal path once PII is confirmed
            forms[t.key] = transition_form(t, registry.catalogues, formdata=None,
                                           data={"version": incident.version, **prefilled})
    links = db.session.scalars(_LINKS, {"incident_id": incident.id}).all()
    extension_forms = {}
    if can_manage_deadlines(current_user, incident):
        for deadline in incident.deadlines:
            if deadline.is_live:
                extension_forms[deadline.id] = (forms.get(f"extend-{deadline.id}")
                                                or ExtensionForm(prefix=f"extend-{deadline.id}", formdata=None,
                                                                 data={"version": incident.version}))
    suggestions = suggestion_service.for_incident(incident, registry.catalogues)
    return render_template(
        "incidents/show.html", incident=incident, definition=definition, transitions=choices, forms=forms,
        history=audit_service.history(db.session, incident), links=links, catalogues=registry.catalogues,
        extension_forms=extension_forms, share_form=ShareForm() if can_share(current_user, incident) else None,
        suggestions=suggestions,
        triage=triage_panels(db.session, registry, incident, definition, current_user._get_current_object(),
                             choices, suggestions),
        evidence_form=(forms.get("evidence") or EvidenceForm()) if can_add_evidence(current_user, incident) else None,
    ), status


# The incident page's statements, built once: SQLAlchemy works out a statement object's cache key the first time it
# runs it, and an object built at every view paid that (with its loader options) at every view.
_INCIDENT_PAGE = select(Incident).where(Incident.id == bindparam("incident_id")).options(
    joinedload(Incident.subject), joinedload(Incident.assignee),
)
# Its collections likewise (selectinload and the lazy share load built theirs at every view): measured at a million
# incidents, a view's CPU 10.8-11.2 -> 8.3-8.4 ms on PostgreSQL and 8.6-9.8 -> 6.1 ms on SQLite. The reports too:
# the page lists them and the suggestions read their notes, and their lazy load built its statement at every view.
_INCIDENT_COLLECTIONS = Collections(Incident.posts, Incident.evidence_files, Incident.clauses, Incident.deadlines,
                                    Incident.shares, Incident.reports)
_LINKS = select(IncidentLink).where(or_(IncidentLink.from_id == bindparam("incident_id"),
                                        IncidentLink.to_id == bindparam("incident_id"))) \
    .options(joinedload(IncidentLink.source), joinedload(IncidentLink.target))


@bp.get("/incidents/<int:incident_id>")
@login_required
def show(incident_id: int) -> tuple[str, int]:
    incident = db.session.scalar(_INCIDENT_PAGE, {"incident_id": incident_id})
    if incident is None:
        abort(404)
    try:
        incident = get_visible(db.session, incident.id, current_user._get_current_object())
    except BreakGlassRequired as required:
        return render_template("incidents/break_glass.html", incident=required.incident,
                               form=BreakGlassForm(), message=str(required)), 403
    except NotFound:
        db.session.commit()  # keep the audit row of the refused access
        abort(404)
    # Only once the file may be read: a refused view reads none of its contents.
    _INCIDENT_COLLECTIONS.load(db.session, incident)
    access_service.record_restricted_view(db.session, incident, actor=current_user._get_current_object())
    db.session.commit()
    return _render_incident(incident)


@bp.post("/incidents/<int:incident_id>/break-glass")
@login_required
def break_glass(incident_id: int) -> Response | tuple[str, int]:
    incident = db.session.get(Incident, incident_id)
    if incident is None or not can_know(current_user, incident):
        abort(404)
    form = BreakGlassForm()
    if form.validate_on_submit():
        try:
            access_service.break_glass(db.session, incident, actor=current_user._get_current_object(),
                                       reason=form.reason.data or "")
        except ServiceError as error:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, str(error)]
        else:
            db.session.commit()
            flash(f"{incident.reference} opened for one hour. Your reason is in the audit trail.", "info")
            return redirect(url_for("incidents.show", incident_id=incident.id))
    return render_template("incidents/break_glass.html", incident=incident, form=form,
                           message="Give a reason to open this restricted file."), 400


@bp.post("/incidents/<int:incident_id>/shares")
@login_required
def share(incident_id: int) -> Response | tuple[str, int]:
    from app.services.users import find_by_email

    incident = _load_for(incident_id, can_share, "You may not share this incident.")
    form = ShareForm()
    if form.validate_on_submit():
        other = find_by_email(db.session, form.email.data or "")
        try:
            if other is None:
                raise ServiceError("No active account has that e-mail address.")
            access_service.share(db.session, incident, actor=current_user._get_current_object(), with_user=other,
                                 reason=form.reason.data or "")
        except ServiceError as error:
            db.session.rollback()
            flash(f"Not shared: {error}", "error")
            return _render_incident(db.session.get(Incident, incident_id), status=422)
        db.session.commit()
        flash(f"Shared with {other.name}.", "success")
        return redirect(url_for("incidents.show", incident_id=incident_id))
    flash("Not shared: give the person's e-mail address and a reason.", "error")
    return _render_incident(incident, status=400)


@bp.post("/incidents/<int:incident_id>/transitions/<key>")
@login_required
def transition(incident_id: int, key: str) -> Response | tuple[str, int]:
    incident = _load(incident_id)
    registry = workflows()
    definition = definition_for(db.session, registry, incident)
    spec = definition.transitions.get(key)
    if spec is None:
        abort(404)
    form = transition_form(spec, registry.catalogues)
    if not form.validate_on_submit():
        flash("Check the form: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()), "error")
        return _render_incident(incident, {key: form}, 400)
    if not can_transition(current_user, incident, spec):
        audit_service.record(db.session, actor=current_user._get_current_object(), action="authorisation.refused",
                             incident=incident, transition=key, data={"state": incident.state})
        db.session.commit()
        flash(f"'{spec.title}' is not available to you on {incident.reference} now "
              f"(it is at '{definition.states[incident.state].title}').", "error")
        return _render_incident(incident, status=409)
    try:
        expected = int(form.version.data) if (form.version.data or "").isdigit() else None
        take_transition(db.session, registry, incident, key, actor=current_user._get_current_object(),
                        values=submitted_values(form, spec), comment=form.comment.data, expected_version=expected)
        db.session.commit()
    except TransitionNotAllowed as refused:
        db.session.rollback()
        for field_key, message in refused.field_errors.items():
            target = getattr(form, f"f_{field_key}", None) or (form.comment if field_key == "comment" else None)
            if target is not None:
                target.errors = [*(target.errors or []), message]
        flash(refused.reason, "error")
        return _render_incident(db.session.get(Incident, incident_id), {key: form}, 422)
    except (IncidentChangedElsewhere, StaleDataError):
        db.session.rollback()
        fresh = db.session.get(Incident, incident_id)
        flash(str(IncidentChangedElsewhere(fresh)), "error")
        return _render_incident(fresh, status=409)
    flash(f"{incident.reference}: {spec.title} — done.", "success")
    return redirect(url_for("incidents.show", incident_id=incident.id))


@bp.post("/incidents/<int:incident_id>/deadlines/<int:deadline_id>/extend")
@login_required
def extend_deadline(incident_id: int, deadline_id: int) -> Response | tuple[str, int]:
    from datetime import date, datetime, time

    from app.timing import LONDON, DurationError

    incident = _load_for(incident_id, can_manage_deadlines, "Your role does not record extensions on this incident.")
    deadline = db.session.get(Deadline, deadline_id)
    if deadline is None or deadline.incident_id != incident.id:
        abort(404)
    form = ExtensionForm(prefix=f"extend-{deadline_id}")
    if not form.validate_on_submit():
        return _render_incident(incident, {f"extend-{deadline_id}": form}, 400)
    if (form.version.data or "") != str(incident.version):
        flash(str(IncidentChangedElsewhere(incident)), "error")
        return _render_incident(incident, status=409)
    try:
        new_due = None
        if form.new_due.data:
            try:
                day = date.fromisoformat(form.new_due.data)
            except ValueError:
                raise ServiceError("Give the new due date as YYYY-MM-DD.") from None
            new_due = datetime.combine(day, time(17, 0), LONDON)
        deadline_service.agree_extension(
            db.session, incident, deadline, actor=current_user._get_current_object(), reason=form.reason.data or "",
            agreed_by=form.agreed_by.data or "", new_due=new_due, by=(form.extend_by.data or "").strip() or None)
        db.session.commit()
    except (ServiceError, DurationError) as error:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, str(error)]
        flash(f"Extension not recorded: {error}", "error")
        return _render_incident(db.session.get(Incident, incident_id), {f"extend-{deadline_id}": form}, 422)
    except StaleDataError:
        db.session.rollback()
        flash(str(IncidentChangedElsewhere(incident)), "error")
        return _render_incident(db.session.get(Incident, incident_id), status=409)
    flash(f"Extension recorded: '{deadline.title}' is now due later.", "success")
    return redirect(url_for("incidents.show", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/evidence")
@login_required
def add_evidence(incident_id: int) -> Response | tuple[str, int]:
    incident = _load_for(incident_id, can_add_evidence, "You may not add evidence to this incident.")
    form = EvidenceForm()
    if not form.validate_on_submit():
        return _render_incident(incident, {"evidence": form}, 400)
    upload = form.file.data
    try:
        evidence = evidence_service.capture_file(
            db.session, incident, actor=current_user._get_current_object(), filename=upload.filename or "",
            stream=upload.stream, folder=current_app.config["BREACHDESK"].evidence_path,
            description=form.description.data)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        form.file.errors = [*form.file.errors, str(error)]
        return _render_incident(db.session.get(Incident, incident_id), {"evidence": form}, 422)
    flash(f"'{evidence.original_name}' added; SHA-256 {evidence.sha256[:16]}…", "success")
    return redirect(url_for("incidents.show", incident_id=incident_id))


@bp.get("/incidents/<int:incident_id>/evidence/<int:evidence_id>")
@login_required
def download_evidence(incident_id: int, evidence_id: int) -> Response:
    incident = _load(incident_id)
    evidence = db.session.get(EvidenceFile, evidence_id)
    if evidence is None or evidence.incident_id != incident.id:
        abort(404)
    path = evidence_service.path_of(evidence, current_app.config["BREACHDESK"].evidence_path)
    if not path.is_file():
        abort(404, "The stored file is missing; an administrator has been told.")
    evidence_service.record_download(db.session, incident, evidence, actor=current_user._get_current_object())
    db.session.commit()
    # Always a download, never rendered: the browser is told exactly what it is and not to sniff.
    response = send_file(path, mimetype=evidence.content_type, as_attachment=True,
                         download_name=evidence.original_name, max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/incidents/<int:incident_id>/export.json")
@login_required
def export_json(incident_id: int) -> Response:
    """The incident as the API shows it, with its reports and audit history, as a download; audited as an export."""
    import json

    from app.api.serialize import audit_json, incident_json, when
    from app.models.evidence import REPORT_CHANNELS

    incident = _load(incident_id)
    actor = current_user._get_current_object()
    registry = workflows()
    payload = incident_json(db.session, registry, incident, actor)
    payload["reports"] = [{"channel": r.channel, "channel_title": REPORT_CHANNELS.get(r.channel, r.channel),
                           "reporter": r.reporter, "note": r.note, "reported_at": when(r.reported_at),
                           "logged_by": r.logged_by.email if r.logged_by else None} for r in incident.reports]
    payload["audit"] = [audit_json(event) for event in audit_service.history(db.session, incident)]
    access_service.record_restricted_view(db.session, incident, actor=actor)
    export_service.record_export(db.session, actor=actor, what="incident", filters={"reference": incident.reference},
                                 rows=1)
    db.session.commit()
    response = FlaskResponse(json.dumps(payload, ensure_ascii=True, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename={incident.reference}.json"
    return response
