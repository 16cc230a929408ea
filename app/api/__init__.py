"""The JSON API under /api/v1: bearer tokens only (never cookies), JSON errors, OpenAPI 3.1 at
/api/v1/openapi.json. See docs/api.md."""

from flask import Blueprint
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import routes  # noqa: E402,F401
from app.api.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected  # noqa: E402
from app.api.plumbing import DEFAULT_MAX_BODY, RateLimiter, preprocess  # noqa: E402

bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(HTTPException, handle_http_exception)
bp.register_error_handler(Exception, handle_unexpected)


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    app = state.app
    # First of all before-request hooks, so a browser's cookie is set aside before anything reads it.
    app.before_request_funcs.setdefault(None, []).insert(0, preprocess)
    app.config.setdefault("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY)
    app.extensions["breachdesk.api_rate"] = RateLimiter()
