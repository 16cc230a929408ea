"""Members' case files: thin views over ``app.services.cases`` and ``app.services.bundle``."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from app.cases import bp
from app.cases.forms import CaseBreakGlassForm, NewCaseForm, NoReferralForm, ReallocateForm, RegulatorTrackForm
from app.extensions import db
from app.models import CaseFile, Member, User
from app.permissions import can_break_glass_case_file, can_open_case_file, can_work_case_file, case_holders
from app.services import NotFound, ServiceError
from app.services import bundle as bundle_service
from app.services import cases as case_service
from app.services.incidents import definition_for
from app.web import workflows


def _actor() -> User:
    return current_user._get_current_object()


def _rep_choices(team_id: int | None) -> list[tuple[str, str]]:
    users = db.session.scalars(select(User).where(case_holders(team_id)).order_by(User.name))
    return [(str(u.id), f"{u.name} ({u.role.replace('_', ' ')})") for u in users]


# The file's page holds several small forms: prefixes keep their field ids (and labels) apart.
PREFIXES = {ReallocateForm: "reallocate", RegulatorTrackForm: "regulator", NoReferralForm: "no-referral"}


def _form(form_class):  # type: ignore[no-untyped-def]
    return form_class(prefix=PREFIXES[form_class])


def _load(case_file_id: int) -> CaseFile:
    try:
        return case_service.get_case_file(db.session, case_file_id, _actor())
    except NotFound:
        db.session.commit()  # keep the audit row of the refused access
        abort(404)


@bp.get("/my")
@login_required
def my_week() -> str:
    """The rep's home: my cases, what is due this week, hearings coming up, warnings expiring."""
    return render_template("cases/my.html", week=case_service.rep_week(db.session, _actor()))


@bp.get("/cases")
@login_required
def index() -> str:
    if not can_open_case_file(_actor()):
        abort(404)
    return render_template("cases/index.html", case_files=case_service.visible_case_file_list(db.session, _actor()))


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int] | str:
    actor = _actor()
    if not can_open_case_file(actor):
        abort(404)
    form = NewCaseForm()
    form.rep.choices = _rep_choices(actor.team_id if actor.role != "admin" else None)
    if not form.is_submitted() and actor.role in ("rep", "regional_officer"):
        form.rep.data = str(actor.id)
    if not form.validate_on_submit():
        return render_template("cases/new.html", form=form), 400 if form.is_submitted() else 200
    rep = db.session.get(User, int(form.rep.data))
    try:
        number = (form.existing_number.data or "").strip()
        if number:
            member = db.session.scalar(select(Member).where(Member.membership_number == number))
            if member is None:
                raise ServiceError(f"No member with the number {number} is on file; record them below instead.")
        else:
            member = case_service.add_member(db.session, case_service.MemberDetails(
                name=form.name.data or "", membership_number=form.membership_number.data or "",
                branch=form.branch.data, workplace=form.workplace.data, employer=form.employer.data,
                employer_appeal_window=form.employer_appeal_window.data, job_title=form.job_title.data,
                manager=form.manager.data, access_needs=form.access_needs.data, joined_on=form.joined_on.data,
                subs_in_order=form.subs_in_order.data, consent_given=form.consent_given.data), actor=actor)
        case_file = case_service.open_case_file(
            db.session, workflows(), member=member, title=form.title.data or "",
            issue_arose_on=form.issue_arose_on.data, workflow_key=form.workflow.data or "", rep=rep, actor=actor)
    except ServiceError as error:
        db.session.rollback()
        flash(f"Nothing was saved: {error}", "error")
        return render_template("cases/new.html", form=form), 400
    db.session.commit()
    flash(f"Case file {case_file.reference} opened for {member.person.name}.", "success")
    return redirect(url_for("cases.show", case_file_id=case_file.id))


@bp.get("/cases/<int:case_file_id>")
@login_required
def show(case_file_id: int) -> str | tuple[str, int]:
    case_file = db.session.get(CaseFile, case_file_id)
    if case_file is not None and can_break_glass_case_file(_actor(), case_file):
        return render_template("cases/break_glass.html", case_file=case_file, form=CaseBreakGlassForm()), 403
    case_file = _load(case_file_id)
    registry = workflows()
    tracks = [(t, definition_for(db.session, registry, t)) for t in case_file.tracks]
    reallocate = _form(ReallocateForm)
    reallocate.to.choices = [c for c in _rep_choices(case_file.team_id)
                             if int(c[0]) not in case_file.current_rep_ids()]
    return render_template(
        "cases/show.html", case_file=case_file, tracks=tracks,
        check=case_service.membership_check(db.session, registry, case_file),
        meetings=case_service.meetings_of(db.session, case_file),
        warnings=case_service.warnings_of(db.session, case_file), may_work=can_work_case_file(_actor(), case_file),
        reallocate_form=reallocate, regulator_form=_form(RegulatorTrackForm), no_referral_form=_form(NoReferralForm),
    )


def _act(case_file_id: int, form_class, action) -> Response:  # type: ignore[no-untyped-def]
    """Form → permission (in the service) → one service call → one commit → back to the file."""
    case_file = _load(case_file_id)
    form = _form(form_class)
    if isinstance(form, ReallocateForm):
        form.to.choices = _rep_choices(case_file.team_id)
    if not form.validate_on_submit():
        first = next((e for errors in form.errors.values() for e in errors), "check the form")
        flash(f"Nothing was changed: {first}", "error")
        return redirect(url_for("cases.show", case_file_id=case_file.id))
    try:
        message = action(case_file, form)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(f"Nothing was changed: {error}", "error")
    except StaleDataError:
        db.session.rollback()
        flash("Nothing was changed: someone else changed this case at the same moment. Try again.", "error")
    else:
        flash(message, "success")
    return redirect(url_for("cases.show", case_file_id=case_file_id))


@bp.post("/cases/<int:case_file_id>/reallocate")
@login_required
def reallocate(case_file_id: int) -> Response:
    def act(case_file: CaseFile, form: ReallocateForm) -> str:
        to = db.session.get(User, int(form.to.data))
        assert to is not None  # the form only offers existing users
        case_service.reallocate(db.session, case_file, to, actor=_actor(), reason=form.reason.data or "",
                                keep_current=form.keep_current.data)
        return f"{to.name} now holds {case_file.reference}."
    return _act(case_file_id, ReallocateForm, act)


@bp.post("/cases/<int:case_file_id>/regulator-track")
@login_required
def regulator_track(case_file_id: int) -> Response:
    def act(case_file: CaseFile, form: RegulatorTrackForm) -> str:
        track = case_service.open_track(db.session, workflows(), case_file, form.workflow.data or "", actor=_actor())
        return f"{track.reference} opened alongside the other tracks."
    return _act(case_file_id, RegulatorTrackForm, act)


@bp.post("/cases/<int:case_file_id>/no-regulator-referral")
@login_required
def no_regulator_referral(case_file_id: int) -> Response:
    def act(case_file: CaseFile, form: NoReferralForm) -> str:
        case_service.no_regulator_referral(db.session, case_file, actor=_actor(), reason=form.reason.data or "")
        return "Recorded: no regulator referral expected."
    return _act(case_file_id, NoReferralForm, act)


@bp.post("/cases/<int:case_file_id>/break-glass")
@login_required
def break_glass(case_file_id: int) -> Response | tuple[str, int]:
    case_file = db.session.get(CaseFile, case_file_id)
    if case_file is None or not can_break_glass_case_file(_actor(), case_file):
        abort(404)
    form = CaseBreakGlassForm()
    if not form.validate_on_submit():
        return render_template("cases/break_glass.html", case_file=case_file, form=form), 400
    try:
        case_service.break_glass(db.session, case_file, actor=_actor(), reason=form.reason.data or "")
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "error")
        return render_template("cases/break_glass.html", case_file=case_file, form=form), 400
    db.session.commit()
    return redirect(url_for("cases.show", case_file_id=case_file_id))


def _bundle(case_file: CaseFile) -> bundle_service.Bundle:
    return bundle_service.assemble(db.session, workflows(), case_file, actor_name=_actor().name)


@bp.get("/cases/<int:case_file_id>/bundle")
@login_required
def bundle(case_file_id: int) -> str:
    case_file = _load(case_file_id)
    result = _bundle(case_file)
    bundle_service.record_export(db.session, case_file, actor=_actor(), kind="html")
    db.session.commit()
    return render_template("cases/bundle.html", bundle=result, sections=bundle_service.SECTIONS)


@bp.get("/cases/<int:case_file_id>/bundle.pdf")
@login_required
def bundle_pdf(case_file_id: int) -> FlaskResponse:
    case_file = _load(case_file_id)
    pdf = bundle_service.render_pdf(_bundle(case_file))
    bundle_service.record_export(db.session, case_file, actor=_actor(), kind="pdf")
    db.session.commit()
    return FlaskResponse(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{case_file.reference}-hearing-bundle.pdf"',
        "Cache-Control": "no-store"})
