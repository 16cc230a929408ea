"""The on-call rota (administrators): who the press office's urgent e-mails go to out of hours."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from app.admin import bp
from app.clock import utcnow
from app.extensions import db
from app.models import User
from app.permissions import can_manage_rota
from app.services import InvalidInput, ServiceError
from app.services import rota as rota_service
from app.timing import WhenError, parse_when


class ShiftForm(FlaskForm):
    duty = SelectField("Duty", choices=[SelectChoice(k, v) for k, v in rota_service.DUTY_TITLES.items()],
                       default=rota_service.PRESS_DUTY)
    user = SelectField("Who is on call", choices=[], validate_choice=False)
    starts_at = StringField("Starts (UK time)", render_kw={"type": "datetime-local"})
    ends_at = StringField("Ends (UK time)", render_kw={"type": "datetime-local"})
    note = StringField("Note", validators=[Optional(), Length(max=200)],
                       description="Optional, e.g. a mobile number to ring.")


class RemoveForm(FlaskForm):
    shift_id = HiddenField()


def _moment(form: ShiftForm, name: str) -> tuple[datetime | None, str | None]:
    text = (getattr(form, name).data or "").strip()
    if not text:
        return None, None
    try:
        moment = parse_when(text)
    except WhenError:
        return None, "give a date and a time, for example 2026-11-27T17:00"
    if not isinstance(moment, datetime):
        return None, "give a time as well as the date"
    return moment, None


def _render(form: ShiftForm, status: int = 200) -> tuple[str, int]:
    people = db.session.scalars(select(User).where(User.active.is_(True),
                                                   User.role.in_(rota_service.DUTIES[rota_service.PRESS_DUTY]))
                                .order_by(User.name)).all()
    form.user.choices = [SelectChoice("", "Choose…")] + [SelectChoice(str(u.id), f"{u.name} ({u.email})")
                                                         for u in people]
    shifts = rota_service.upcoming(db.session, utcnow())
    return render_template("admin/rota.html", form=form, shifts=shifts, people=people, now=utcnow(),
                           remove_form=RemoveForm(), titles=rota_service.DUTY_TITLES), status


@bp.route("/rota", methods=["GET", "POST"])
@login_required
def rota() -> Response | tuple[str, int]:
    if not can_manage_rota(current_user):
        abort(404)
    form = ShiftForm()
    if request.method == "GET":
        return _render(form)
    if form.validate_on_submit():
        starts_at, starts_error = _moment(form, "starts_at")
        ends_at, ends_error = _moment(form, "ends_at")
        try:
            if starts_error or ends_error:
                raise InvalidInput("Check the times.", {k: v for k, v in (("starts_at", starts_error),
                                                                         ("ends_at", ends_error)) if v})
            user_id = int(form.user.data) if (form.user.data or "").isdigit() else None
            shift = rota_service.add_shift(db.session, actor=current_user._get_current_object(),
                                           duty=form.duty.data or "", user_id=user_id, starts_at=starts_at,
                                           ends_at=ends_at, note=form.note.data)
        except InvalidInput as error:
            db.session.rollback()
            for name, message in error.fields.items():
                target = getattr(form, name, None)
                if target is not None:
                    target.errors = [*list(target.errors or []), message[0].upper() + message[1:] + "."]
            flash(f"Shift not added. {error}", "error")
            return _render(form, 422)
        db.session.commit()
        flash(f"Shift added: {shift.user.name} on call.", "success")
        return redirect(url_for("admin.rota"))
    flash("Shift not added: check the form.", "error")
    return _render(form, 400)


@bp.post("/rota/remove")
@login_required
def remove_shift() -> Response | tuple[str, int]:
    if not can_manage_rota(current_user):
        abort(404)
    form = RemoveForm()
    if form.validate_on_submit():
        shift_id = int(form.shift_id.data) if (form.shift_id.data or "").isdigit() else 0
        try:
            rota_service.remove_shift(db.session, actor=current_user._get_current_object(), shift_id=shift_id)
        except ServiceError as error:
            db.session.rollback()
            flash(f"Shift not removed: {error}", "error")
            return _render(ShiftForm(formdata=None), 422)
        db.session.commit()
        flash("Shift removed.", "success")
        return redirect(url_for("admin.rota"))
    flash("Shift not removed: the form had expired; try again.", "error")
    return _render(ShiftForm(formdata=None), 400)
