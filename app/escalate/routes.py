"""Escalate (officers, phone-first), the referral queue (Director of Communications) and the press queue."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from app.clock import utcnow
from app.escalate import bp
from app.escalate.forms import PressForm, TagForm
from app.extensions import db
from app.models import Deadline, Incident
from app.permissions import (
    can_escalate,
    can_open,
    can_see_press_queue,
    can_see_referral_queue,
    can_transition,
    visible_incidents,
)
from app.services import InvalidInput, ServiceError
from app.services import escalation as escalation_service
from app.services.escalation import PRESS_WORKFLOW, TAG_WORKFLOW, Attachment, PressReport, TagReport
from app.timing import WhenError, parse_when
from app.web import workflows
from app.workflow import available

PAGE_SIZE = 50
KINDS = {"tag": TAG_WORKFLOW, "press": PRESS_WORKFLOW}


@bp.app_template_filter("time_since")
def time_since(moment: datetime) -> str:
    """'3 h 20 min ago': how long a referral has waited."""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h ago"
    if hours:
        return f"{hours} h {minutes} min ago"
    return f"{minutes} min ago" if minutes else "just now"


def _openable() -> dict[str, bool]:
    registry = workflows()
    return {kind: key in registry and can_open(current_user, registry.get(key)) for kind, key in KINDS.items()}


def _screenshot(form: TagForm | PressForm) -> list[Attachment]:
    upload = form.screenshot.data
    if upload is None or not getattr(upload, "filename", ""):
        return []
    return [Attachment(filename=upload.filename, data=upload.stream.read(), description="Screenshot from the officer")]


def _show_errors(form: TagForm | PressForm, error: InvalidInput) -> None:
    for name, message in error.fields.items():
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*list(target.errors or []), message[0].upper() + message[1:] + "."]


def _press_report(form: PressForm) -> PressReport:
    """The approach as typed; an unreadable deadline is reported together with every other problem."""
    report = PressReport(outlet=form.outlet.data, journalist=form.journalist.data, deadline=None,
                         contact_method=form.contact_method.data or None, asked=form.asked.data)
    text = (form.deadline.data or "").strip()
    if not text:
        return report
    try:
        moment = parse_when(text)
        problem = None if isinstance(moment, datetime) else "give a time as well as the date"
    except WhenError:
        problem = "give the deadline as a date and a time"
    if problem is None:
        report.deadline = moment  # type: ignore[assignment]
        return report
    fields = {"deadline": problem}
    try:
        escalation_service.check_press(report, now=utcnow())
    except InvalidInput as other:
        fields = {**other.fields, **fields}
    raise InvalidInput("Check the form: " + "; ".join(fields.values()) + ".", fields)


@bp.route("/escalate", methods=["GET", "POST"])
@login_required
def escalate() -> Response | tuple[str, int]:
    registry = workflows()
    if not can_escalate(current_user, [registry.get(k) for k in KINDS.values() if k in registry]):
        abort(403, "Your role does not pass on tags or press approaches; speak to the communications team.")
    openable = _openable()
    kind = request.form.get("kind") if request.method == "POST" else request.args.get("kind")
    if kind not in openable or not openable[kind]:
        kind = "tag" if openable["tag"] else "press"
    tag_form, press_form = TagForm(), PressForm()
    form = tag_form if kind == "tag" else press_form
    status = 200
    if request.method == "POST":
        actor = current_user._get_current_object()
        folder = current_app.config["BREACHDESK"].evidence_path
        if form.validate_on_submit():
            try:
                if kind == "tag":
                    result = escalation_service.escalate_tag(
                        db.session, registry,
                        TagReport(platform=tag_form.platform.data or "", link=tag_form.link.data,
                                  text=tag_form.text.data), actor=actor, folder=folder, files=_screenshot(tag_form))
                else:
                    result = escalation_service.escalate_press(
                        db.session, registry,
                        _press_report(press_form),
                        actor=actor, folder=folder, files=_screenshot(press_form))
            except InvalidInput as error:
                db.session.rollback()
                _show_errors(form, error)
                if not error.fields:
                    form.form_errors.append(str(error))
            except ServiceError as error:
                db.session.rollback()
                form.form_errors.append(str(error))
            else:
                db.session.commit()
                session["escalated"] = {"kind": kind, "reference": result.incident.reference,
                                        "incident_id": result.incident.id, "joined": result.joined}
                return redirect(url_for("escalate.sent"))
        status = 400
    return render_template("escalate/escalate.html", kind=kind, form=form, openable=openable), status


@bp.get("/escalate/sent")
@login_required
def sent() -> Response | str:
    registry = workflows()
    if not can_escalate(current_user, [registry.get(k) for k in KINDS.values() if k in registry]):
        abort(403, "Your role does not pass on tags or press approaches.")
    done = session.get("escalated")
    if not done:
        return redirect(url_for("escalate.escalate"))
    incident = db.session.get(Incident, done["incident_id"])
    can_read = incident is not None and incident.created_by_id == current_user.id
    return render_template("escalate/sent.html", done=done, incident=incident if can_read else None)


def _referral_rows(keys: tuple[str, ...], order, page: int):  # type: ignore[no-untyped-def]
    journalist = (select(Deadline.incident_id, func.min(Deadline.due_at).label("due"))
                  .where(Deadline.key == "journalist", Deadline.status.in_(("running", "paused")))
                  .group_by(Deadline.incident_id).subquery())
    query = (select(Incident, journalist.c.due)
             .outerjoin(journalist, journalist.c.incident_id == Incident.id)
             .where(Incident.workflow_key.in_(keys), Incident.closed_at.is_(None), visible_incidents(current_user))
             .options(joinedload(Incident.created_by)))
    total = db.session.scalar(select(func.count()).select_from(
        select(Incident.id).where(and_(Incident.workflow_key.in_(keys), Incident.closed_at.is_(None),
                                       visible_incidents(current_user))).subquery()))
    rows = db.session.execute(query.order_by(*order(journalist.c.due)).offset((page - 1) * PAGE_SIZE)
                              .limit(PAGE_SIZE)).all()
    return rows, total or 0


def _options(incident: Incident) -> tuple[list, list, list]:
    """The steps the user may take now; the choices those lead on to (the decision); and, when the user has
    nothing to do yet, the steps the workflow is waiting for someone else to take."""
    from app.services.incidents import definition_for

    definition = definition_for(db.session, workflows(), incident)
    now = [t for t in available(definition, incident.state, current_user.role)
           if can_transition(current_user, incident, t)]
    then = []
    for step in now:
        if not definition.states[step.to].final and step.to != incident.state:
            then += [t for t in definition.transitions_from(step.to) if t not in then]
    waiting = [] if now else definition.transitions_from(incident.state)
    return now, then, waiting


def _page() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return max(1, min(page, 10_000))


@bp.get("/referrals")
@login_required
def referrals() -> str:
    if not can_see_referral_queue(current_user):
        abort(403, "The referral queue is for the Director of Communications and the communications team.")
    page = _page()
    rows, total = _referral_rows((TAG_WORKFLOW, PRESS_WORKFLOW),
                                 lambda due: (Incident.created_at.asc(), Incident.id.asc()), page)
    registry = workflows()
    items = [(incident, due, *_options(incident)) for incident, due in rows]
    return render_template("escalate/referrals.html", items=items, registry=registry, page=page, total=total,
                           more=page * PAGE_SIZE < total)


@bp.get("/press")
@login_required
def press() -> str:
    if not can_see_press_queue(current_user):
        abort(403, "The press queue is for the press office and the communications team.")
    page = _page()
    rows, total = _referral_rows((PRESS_WORKFLOW,),
                                 lambda due: (due.is_(None), due.asc(), Incident.created_at.asc()), page)
    items = [(incident, due, *_options(incident)) for incident, due in rows]
    return render_template("escalate/press.html", items=items, registry=workflows(), page=page, total=total,
                           more=page * PAGE_SIZE < total)
