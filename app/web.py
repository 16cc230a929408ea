"""Wiring the web layer: blueprints, sign-in loading, error pages, template helpers, security headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, g, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from app.clock import utcnow
from app.errors import CONCURRENT_WRITE_MESSAGE, concurrent_write_log_line, lost_to_concurrent_write
from app.extensions import csrf, db, login_manager
from app.pii import highlight_html, scan
from app.roles import ROLE_TITLES
from app.services import audit as audit_service
from app.services.disclosure import special_category
from app.services.retention import load_for as load_retention
from app.services.users import load_from_session_id
from app.workflow import WorkflowRegistry


def workflows() -> WorkflowRegistry:
    return current_app.extensions["breachdesk.workflows"]


def local_zone() -> ZoneInfo:
    """The organisation's zone (Europe/London by default), in which stored UTC times are shown."""
    return ZoneInfo(current_app.config["BREACHDESK"].timezone)


def local_time(moment: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """Stored in UTC, shown in the organisation's zone."""
    if moment is None:
        return ""
    return moment.astimezone(local_zone()).strftime(fmt)


def humanise(key: str | None) -> str:
    """A key from a file (``first_response``) as words (``First response``), where the file gives no title."""
    return (key or "").replace("_", " ").capitalize()


def utc_time(moment: datetime | None, fmt: str = "%d %b %Y %H:%M", label: bool = True) -> str:
    """The exact UTC moment, labelled: evidence records state when it was captured without a zone to guess."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime(fmt) + (" UTC" if label else "")


def time_left(moment: datetime) -> str:
    delta = moment - utcnow()
    overdue = delta.total_seconds() < 0
    seconds = abs(int(delta.total_seconds()))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        text = f"{days} day{'s' if days != 1 else ''} {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"overdue by {text}" if overdue else f"{text} left"


def _security_headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.vary.add("Cookie")
    if request.endpoint and request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.capture import bp as capture_bp
    from app.cases import bp as cases_bp
    from app.dashboard import bp as dashboard_bp
    from app.dataprotection import bp as dataprotection_bp
    from app.escalate import bp as escalate_bp
    from app.incidents import bp as incidents_bp
    from app.people import bp as people_bp
    from app.workflows_web import bp as workflows_bp

    # The retention periods are a data file like the workflows: a mistake stops start-up (file, line, reason).
    app.extensions["breachdesk.retention"] = load_retention(app.config["BREACHDESK"].workflows_path)
    app.register_blueprint(auth_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(capture_bp)
    app.register_blueprint(workflows_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(escalate_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(dataprotection_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens only, never cookies

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(session_id: str):  # type: ignore[no-untyped-def]
        return load_from_session_id(db.session, session_id)

    @app.before_request
    def _remember_origin() -> None:
        g.audit_origin_token = audit_service.request_origin.set(request.remote_addr)

    @app.teardown_request
    def _forget_origin(_exc: BaseException | None) -> None:
        token = g.pop("audit_origin_token", None)
        if token is not None:
            audit_service.request_origin.reset(token)

    app.after_request(_security_headers)

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):  # type: ignore[no-untyped-def]
        db.session.rollback()
        app.logger.info("CSRF refused: %s", error.description)
        return render_template("errors/error.html", code=400, title="Form expired or not from this site",
                               message="The form was missing its security token or it had expired. "
                                       "Go back, reload the page and submit it again."), 400

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        db.session.rollback()
        return render_template("errors/error.html", code=error.code, title=error.name,
                               message=error.description), error.code or 500

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        db.session.rollback()
        if lost_to_concurrent_write(error):
            app.logger.warning(concurrent_write_log_line(error, request.endpoint))
            return render_template("errors/error.html", code=409, title="Changed by someone else at the same moment",
                                   message=CONCURRENT_WRITE_MESSAGE), 409
        app.logger.exception("Unhandled error")
        return render_template("errors/error.html", code=500, title="Something went wrong",
                               message="The error has been logged. Nothing was saved."), 500

    @app.context_processor
    def _template_globals() -> dict[str, object]:
        return {"role_titles": ROLE_TITLES, "current_user": current_user, "now_utc": utcnow()}

    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["utc_time"] = utc_time
    # Post text with patient-identifying information marked; the function escapes everything itself.
    app.jinja_env.filters["pii_marked"] = lambda text: highlight_html(text or "", scan(text or ""))
    app.jinja_env.filters["time_left"] = time_left
    # Why a file holds special-category data (union membership, health): shown as a marker on the file.
    app.jinja_env.globals["special_category"] = special_category
    app.jinja_env.filters["humanise"] = humanise
    app.jinja_env.filters["number_cells"] = number_cells
    app.jinja_env.globals["option_tags"] = option_tags
    app.jinja_env.globals["incident_url"] = incident_url


# An id no incident has, marking where an incident's id goes in its built URL (incident_url).
_ID_MARK = 918_273_645_036


def incident_url(incident_id: int) -> str:
    """``url_for("incidents.show", incident_id=…)`` for the many rows of a list: the route is built once a request
    and each id put into it (url_for itself was a twentieth of the queue page's CPU, fifty times a page)."""
    before, after = incident_url_parts()
    return f"{before}{int(incident_id)}{after}"


def incident_url_parts() -> tuple[str, str]:
    """What comes before and after the id in an incident's URL, worked out once a request."""
    parts = g.get("incident_url_parts")
    if parts is None:
        before, after = url_for("incidents.show", incident_id=_ID_MARK).split(str(_ID_MARK), 1)
        parts = g.incident_url_parts = (before, after)
    return parts


def option_tags(choices: Iterable[tuple[str, str]], selected: str | None = None) -> Markup:
    """``<option>``s for (value, label) pairs, ``selected`` marked. The escaped markup of a list is kept and reused
    (keyed by the very values and labels, so a renamed person is a new list): the queue page offers the same
    hundred-odd people in two lists on every view, and escaping each name and id every time was most of the
    template's escaping, a tenth of the page's CPU."""
    html = _option_tags_markup(tuple(choices))
    if selected:
        value = escape(selected)
        html = html.replace(f'<option value="{value}">', f'<option value="{value}" selected>', 1)
    return Markup(html)  # noqa: S704 - every value and label is escaped by _option_tags_markup


@lru_cache(maxsize=256)
def _option_tags_markup(choices: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<option value="{escape(value)}">{escape(label)}</option>' for value, label in choices)


def number_cells(counts: Mapping[str, object], keys: Iterable[str]) -> Markup:
    """``<td class="num">`` cells of ``counts`` in the order of ``keys`` (blank where a key has none), built in one
    go: the sanctions grid has thousands of cells at scale (196 rows by 26 outcomes at a million incidents), and a
    template loop over them was a fifth of the dashboard page's time. Each value is escaped all the same."""
    # Every value goes through escape(); the rest is this literal markup. (Markup.join or % per cell escape the same
    # way but cost three times as much.)
    return Markup("".join(f'<td class="num">{escape(counts.get(key, ""))}</td>' for key in keys))  # noqa: S704
