"""Sign-in, sign-out and password change. Sessions also end after idle and absolute time limits."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm
from app.clock import utcnow
from app.extensions import db
from app.services import ServiceError
from app.services.users import LoginRefused, Throttle, authenticate, change_password, end_session


def _safe_next(target: str | None) -> str:
    """Only follow same-site relative paths after sign-in (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("incidents.index")


@bp.before_app_request
def _expire_old_sessions() -> Response | None:
    if not current_user.is_authenticated:
        return None
    settings = current_app.config["BREACHDESK"]
    now = utcnow().timestamp()
    started = session.get("signed_in_at", 0)
    seen = session.get("seen_at", 0)
    idle = timedelta(minutes=settings.idle_timeout_minutes).total_seconds()
    absolute = timedelta(hours=settings.absolute_timeout_hours).total_seconds()
    if now - seen > idle or now - started > absolute:
        logout_user()
        session.clear()
        flash("Your session timed out. Sign in again.", "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    session["seen_at"] = now
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("incidents.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        settings = current_app.config["BREACHDESK"]
        throttle = Throttle(settings.login_max_failures, timedelta(minutes=settings.login_window_minutes))
        try:
            user = authenticate(db.session, email=form.email.data or "", password=form.password.data or "",
                                ip=request.remote_addr, throttle=throttle)
        except LoginRefused as refused:
            db.session.commit()  # keep the failure record and its audit row
            flash(str(refused), "error")
            status = 429 if refused.throttled else 401
        else:
            db.session.commit()
            session.clear()  # a fresh session at sign-in: nothing carried over from before
            login_user(user)
            now = utcnow().timestamp()
            session["signed_in_at"] = now
            session["seen_at"] = now
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    end_session(db.session, actor=current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Response | str:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(db.session, actor=current_user._get_current_object(),
                            current=form.current.data or "", new=form.new.data or "")
        except ServiceError as error:
            db.session.rollback()
            form.new.errors = [*form.new.errors, str(error)]
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Password changed. Sign in with your new password.", "info")
            return redirect(url_for("auth.login"))
    return render_template("auth/password.html", form=form), 400 if form.errors else 200
