"""What every API endpoint shares: bearer authentication, the rate limit, reading the JSON body,
idempotency keys and the one commit at the end of the request."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.api.errors import ApiError, dumps, error_response, from_http_exception, json_response
from app.api.schemas import parse_json, validate
from app.extensions import db, login_manager
from app.models import User
from app.services import idempotency, tokens

API_PREFIX = "/api"
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_RATE_LIMIT = 600


@dataclass
class Reply:
    payload: Any
    status: int = 200
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def preprocess() -> Response | None:
    """Runs before every other before-request hook, for /api paths only.

    The session cookie is set aside (the signed-in browser user is replaced by an anonymous one for
    this request), so no cookie can authenticate an API call or be refreshed by one; and URLs that
    match nothing, or not with this method, get JSON errors instead of the HTML pages.
    """
    if not is_api_request():
        return None
    login_manager._update_request_context_with_user()  # anonymous: cookies never authenticate the API
    with contextlib.suppress(AttributeError):  # settable per request from Flask 3.1; read_body checks too
        request.max_content_length = max_body()
    exc = request.routing_exception
    if isinstance(exc, HTTPException) and (exc.code or 500) >= 400:
        return error_response(from_http_exception(exc))
    return None


# --- authentication and rate limit -------------------------------------------------------------------

def authenticate() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header:
        raise ApiError(401, "Send your API token as 'Authorization: Bearer <token>' (cookies are not accepted "
                            "here). Ask an administrator for one: breachdesk tokens create --user EMAIL.")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Use the Bearer scheme: 'Authorization: Bearer <token>'.")
    user = tokens.authenticate(db.session, token.strip())
    if user is None:
        db.session.rollback()
        raise ApiError(401, "The API token is not valid: it is unknown, revoked, or its user is disabled.",
                       code="invalid_token",
                       headers={"WWW-Authenticate": 'Bearer realm="breachdesk", error="invalid_token"'})
    return user


class RateLimiter:
    """Requests per user per clock minute, counted in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, tuple[int, int]] = {}

    def hit(self, user_id: int, limit: int, now: float | None = None) -> int | None:
        """Count one request; the seconds to wait when over the limit, else None."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == minute}
            seen, count = self._counts.get(user_id, (minute, 0))
            count = count + 1 if seen == minute else 1
            self._counts[user_id] = (minute, count)
        if count > limit:
            return max(1, 60 - int(now % 60))
        return None


def rate_limit() -> int:
    configured = current_app.config.get("API_RATE_LIMIT_PER_MINUTE")
    if configured is None:
        configured = os.environ.get("BREACHDESK_API_RATE_LIMIT_PER_MINUTE") or DEFAULT_RATE_LIMIT
    try:
        return int(configured)
    except (TypeError, ValueError):
        return DEFAULT_RATE_LIMIT


def check_rate(user: User) -> None:
    limit = rate_limit()
    if limit <= 0:
        return
    wait = current_app.extensions["breachdesk.api_rate"].hit(user.id, limit)
    if wait is not None:
        db.session.commit()
        raise ApiError(429, f"More than {limit} requests in a minute; wait {wait} seconds and try again.",
                       headers={"Retry-After": str(wait)})


# --- bodies and idempotency ------------------------------------------------------------------------

def max_body() -> int:
    return int(current_app.config.get("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY))


def read_body(schema: dict[str, Any]) -> dict[str, Any]:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "Send the body as JSON with 'Content-Type: application/json' "
                            f"(this request said {mimetype or 'nothing'}).")
    if (request.content_length or 0) > max_body():
        raise ApiError(413, f"The request body is too large (the limit is {max_body()} bytes).")
    body = parse_json(request.get_data(cache=True))
    validate(body, schema)
    return body


def _replay(stored: idempotency.StoredResponse) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if stored.location:
        headers["Location"] = stored.location
    return Response(stored.body, status=stored.status, mimetype="application/json", headers=headers)


def _idempotency_key(user: User, body: Any) -> tuple[str, str] | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not idempotency.valid_key(key):
        raise ApiError(400, "The Idempotency-Key header must be 1 to 255 visible ASCII characters "
                            "(a UUID is a good choice).", code="validation_failed",
                       fields={"Idempotency-Key": "1 to 255 visible ASCII characters"})
    return key, idempotency.request_fingerprint(request.method, request.path, body)


def _lookup(user: User, key: str, fingerprint: str) -> idempotency.StoredResponse | None:
    try:
        return idempotency.lookup(db.session, user, key, fingerprint)
    except idempotency.KeyReused:
        raise ApiError(422, "This Idempotency-Key was already used with a different request. Use a new key "
                            "for a new request; resend the identical request to get its first answer.",
                       code="idempotency_key_reused") from None


# --- the decorator ---------------------------------------------------------------------------------

View = Callable[..., Reply]


def endpoint(*, body: Callable[[], dict[str, Any]] | None = None, idempotent: bool = False,
             public: bool = False) -> Callable[[View], Callable[..., ResponseReturnValue]]:
    """Authenticate, limit, read and check the body, honour Idempotency-Key, run the view, commit once.

    The view gets ``(user, body, **url_values)`` and returns a Reply or raises ApiError; whatever the
    session holds then is committed with the answer (a view that gives up rolls back first).
    """

    def decorate(view: View) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def wrapper(**url_values: Any) -> ResponseReturnValue:
            if public:
                reply = view(None, None, **url_values)
                return json_response(reply.payload, reply.status, reply.headers)
            user = authenticate()
            g.api_user = user
            check_rate(user)
            data = read_body(body()) if body is not None else None
            keyed = _idempotency_key(user, data) if idempotent else None
            if keyed is not None:
                stored = _lookup(user, *keyed)
                if stored is not None:
                    db.session.commit()
                    return _replay(stored)
            try:
                reply = view(user, data, **url_values)
                status, text, location = reply.status, dumps(reply.payload), reply.location
                headers = dict(reply.headers)
            except ApiError as error:
                response = error_response(error)
                status, text, location = error.status, response.get_data(as_text=True), None
                headers = {k: v for k, v in response.headers.items() if k not in ("Content-Type", "Content-Length")}
            if location:
                headers["Location"] = location
            if keyed is not None:
                try:
                    idempotency.remember(db.session, user, *keyed,
                                         idempotency.StoredResponse(status, text, location))
                    db.session.commit()
                except IntegrityError:
                    # Another request with this key finished first: answer as it did.
                    db.session.rollback()
                    stored = _lookup(user, *keyed)
                    if stored is None:
                        raise
                    db.session.commit()
                    return _replay(stored)
            else:
                db.session.commit()
            return Response(text, status=status, mimetype="application/json", headers=headers)

        return wrapper

    return decorate
