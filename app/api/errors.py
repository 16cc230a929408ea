"""Every error under /api is JSON: ``{"error": code, "message": what to fix, "fields"?: {...}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.errors import CONCURRENT_WRITE_API_MESSAGE, concurrent_write_log_line, lost_to_concurrent_write
from app.extensions import db

ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "The request could not be understood; check it against /api/v1/openapi.json.",
    401: "Send a valid API token as 'Authorization: Bearer <token>'.",
    403: "Your account may not do this.",
    404: "Nothing here: check the URL and the id (see /api/v1/openapi.json).",
    405: "This URL does not accept that method.",
    413: "The request body is too large.",
    415: "Send the body as JSON with 'Content-Type: application/json'.",
    429: "Too many requests; wait and try again.",
    500: "Something went wrong on our side. It has been logged and nothing was saved; try again later.",
}


class ApiError(Exception):
    """Raised by API code to answer with an error. What is in the session when it is raised is kept."""

    def __init__(self, status: int, message: str | None = None, *, code: str | None = None,
                 fields: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.code = code or ERROR_CODES.get(status, "error")
        self.message = message or DEFAULT_MESSAGES.get(status, "The request failed.")
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


def dumps(payload: Any) -> str:
    # ASCII-only: whatever text a client sent, the answer always encodes.
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(dumps(payload), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: ApiError) -> Response:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="breachdesk"')
    return json_response(error.payload(), error.status, headers)


def from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    if status not in ERROR_CODES:
        status = 400 if 400 <= status < 500 else 500
    headers: dict[str, str] = {}
    message = DEFAULT_MESSAGES.get(status)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        allowed = sorted(set(exc.valid_methods))
        headers["Allow"] = ", ".join(allowed)
        message = f"This URL accepts {', '.join(m for m in allowed if m not in ('HEAD', 'OPTIONS'))} only."
    if status == 413:
        limit = current_app.config.get("API_MAX_BODY_BYTES")
        message = f"The request body is too large (the limit is {limit} bytes)." if limit else message
    return ApiError(status, message, headers=headers)


def handle_api_error(error: ApiError) -> Response:
    db.session.commit()  # keep what the code chose to keep (an audit row of a refused access, last use)
    return error_response(error)


def handle_http_exception(exc: HTTPException) -> Response:
    db.session.rollback()
    return error_response(from_http_exception(exc))


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    db.session.rollback()
    if lost_to_concurrent_write(exc):
        # The endpoint keeps only the answers its view gave under a request's Idempotency-Key (api.plumbing); this
        # refusal never got that far, so sending the same request again is safe.
        current_app.logger.warning(concurrent_write_log_line(exc, request.endpoint))
        return error_response(ApiError(409, CONCURRENT_WRITE_API_MESSAGE, code="write_conflict"))
    current_app.logger.exception("Unhandled API error")
    return error_response(ApiError(500))
