"""Sign-in, sign-out and password change. Sessions also end after idle and absolute time limits."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.forms import ChangePasswordForm, CodeForm, EnrolForm, LoginForm
from app.clock import utcnow
from app.extensions import db
from app.services import ServiceError, twofactor
from app.services.users import (
    LoginRefused,
    Throttle,
    authenticate,
    change_password,
    end_session,
    recent_failures,
)


def _safe_next(target: str | None) -> str:
    """Only follow same-site relative paths after sign-in (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("incidents.index")


# How stale the "last seen" time in the session cookie may get. Written on every request, it made every response
# re-sign and re-send the cookie (a fiftieth of the queue page's CPU); written at most once a minute, the idle
# timeout runs from a moment at most a minute before the last request: it can end a session up to a minute early,
# never late.
SEEN_AT_RESOLUTION_SECONDS = 60


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
    if now - seen >= SEEN_AT_RESOLUTION_SECONDS:
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
            if user.totp_secret:
                session["pending_user"] = user.get_id()
                session["pending_since"] = utcnow().timestamp()
                return redirect(url_for("auth.code", next=_safe_next(request.args.get("next"))))
            _finish_sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _finish_sign_in(user) -> None:  # type: ignore[no-untyped-def]
    login_user(user)
    now = utcnow().timestamp()
    session["signed_in_at"] = now
    session["seen_at"] = now


PENDING_CODE_SECONDS = 300


@bp.route("/login/code", methods=["GET", "POST"])
def code() -> Response | tuple[str, int]:
    """The second step for accounts with two-factor sign-in."""
    from app.services.users import load_from_session_id

    if current_user.is_authenticated:
        return redirect(url_for("incidents.index"))
    pending = session.get("pending_user")
    user = load_from_session_id(db.session, pending) if pending else None
    if user is None or utcnow().timestamp() - session.get("pending_since", 0) > PENDING_CODE_SECONDS:
        session.pop("pending_user", None)
        session.pop("pending_since", None)
        flash("Sign in again.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        settings = current_app.config["BREACHDESK"]
        throttle = Throttle(settings.login_max_failures, timedelta(minutes=settings.login_window_minutes))
        by_account, _ = recent_failures(db.session, user.email, throttle)
        if by_account >= throttle.max_failures:
            session.clear()
            flash("Too many failed sign-in attempts. Wait and try again.", "error")
            return redirect(url_for("auth.login"))
        if twofactor.verify_sign_in(db.session, user=user, code=form.code.data or "", ip=request.remote_addr):
            db.session.commit()
            session.clear()
            _finish_sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()
        form.code.errors = [*form.code.errors, "That code does not match. Enter the current code."]
        return render_template("auth/code.html", form=form), 401
    return render_template("auth/code.html", form=form), 400 if form.errors else 200


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor() -> Response | tuple[str, int]:
    user = current_user._get_current_object()
    if not twofactor.may_enrol(user):
        abort(404)
    form = EnrolForm()
    if user.totp_secret is None:
        if request.method == "GET" or not form.secret.data:
            form.secret.data = twofactor.new_secret()
        if form.validate_on_submit():
            try:
                twofactor.enrol(db.session, actor=user, secret=form.secret.data or "", code=form.code.data or "")
            except ServiceError as error:
                db.session.rollback()
                form.code.errors = [*form.code.errors, str(error)]
            else:
                db.session.commit()
                flash("Two-factor sign-in is on. You will be asked for a code each time you sign in.", "success")
                return redirect(url_for("auth.two_factor"))
        uri = twofactor.provisioning_uri(user, form.secret.data or "")
        return render_template("auth/two_factor.html", form=form, enrolled=False, uri=uri), 400 if form.errors else 200
    if form.validate_on_submit():
        try:
            twofactor.disable(db.session, actor=user, code=form.code.data or "")
        except ServiceError as error:
            db.session.rollback()
            form.code.errors = [*form.code.errors, str(error)]
        else:
            db.session.commit()
            flash("Two-factor sign-in is off.", "info")
            return redirect(url_for("auth.two_factor"))
    return render_template("auth/two_factor.html", form=form, enrolled=True, uri=None), 400 if form.errors else 200


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
