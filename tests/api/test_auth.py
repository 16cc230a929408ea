"""Bearer tokens only: cookies never authenticate the API, and a token dies with its revocation or user."""

from __future__ import annotations

from sqlalchemy import select

from app.models import ApiToken, User
from app.services.tokens import revoke_token
from app.services.users import disable_user
from tests.conftest import login

ENDPOINTS = ["/api/v1/workflows", "/api/v1/incidents", "/api/v1/incidents/1", "/api/v1/incidents/1/audit"]


def _is_401_json(response) -> bool:  # type: ignore[no-untyped-def]
    body = response.get_json(silent=True) or {}
    return (response.status_code == 401 and response.mimetype == "application/json"
            and body.get("error") in ("unauthorized", "invalid_token") and body.get("message")
            and response.headers.get("WWW-Authenticate", "").startswith("Bearer"))


def test_no_token_gets_401_json_everywhere(client):
    for path in ENDPOINTS:
        assert _is_401_json(client.get(path)), path
    assert _is_401_json(client.post("/api/v1/incidents", json={"workflow": "problem-solving", "title": "x"}))
    assert _is_401_json(client.post("/api/v1/incidents/1/transitions", json={"transition": "x", "version": 1}))


def test_malformed_headers_and_unknown_tokens_get_401(client, api_as):
    api_as("comms")
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bdk_only-the-token", "Bearer bdk_not-a-real-token",
                   "Bearer " + "x" * 5000, "Token bdk_abc"):
        response = client.get("/api/v1/workflows", headers={"Authorization": header})
        assert _is_401_json(response), header


def test_a_valid_token_works_and_the_scheme_is_case_insensitive(api_as):
    api = api_as("comms")
    assert api.get("/api/v1/workflows").status_code == 200
    response = api.client.get("/api/v1/workflows", headers={"Authorization": f"bearer {api.token}"})
    assert response.status_code == 200


def test_a_signed_in_browser_cookie_alone_gets_401_and_is_not_refreshed(app, make):
    user = make.user("admin")
    browser = app.test_client()
    assert login(browser, user).status_code == 302
    assert browser.get("/incidents").status_code == 200  # the cookie is good for the web app
    for path in ENDPOINTS:
        response = browser.get(path)
        assert _is_401_json(response), path
        assert "Set-Cookie" not in response.headers, "an API request must not touch the session"
    response = browser.post("/api/v1/incidents", json={"workflow": "problem-solving", "title": "by cookie"})
    assert _is_401_json(response)


def test_cookie_plus_token_acts_as_the_token_user(app, db, make, api_as):
    comms = make.user("comms", team="communications")
    admin_browser = app.test_client()
    assert login(admin_browser, make.user("admin")).status_code == 302
    api = api_as(user=comms)
    response = admin_browser.get("/api/v1/workflows", headers=api.headers())
    assert response.status_code == 200
    created = admin_browser.post("/api/v1/incidents", headers=api.headers(),
                                 json={"workflow": "problem-solving", "title": "As comms"})
    assert created.status_code == 201
    assert created.get_json()["assignee"] == comms.email


def test_revoked_token_gets_401(db, api_as):
    api = api_as("comms")
    assert api.get("/api/v1/workflows").status_code == 200
    row = db.scalar(select(ApiToken).where(ApiToken.user_id == api.user.id))
    revoke_token(db, row.id)
    db.commit()
    response = api.get("/api/v1/workflows")
    assert _is_401_json(response) and response.get_json()["error"] == "invalid_token"


def test_disabled_user_token_gets_401(db, api_as):
    api = api_as("comms")
    assert api.get("/api/v1/workflows").status_code == 200
    disable_user(db, actor=None, user=db.get(User, api.user.id))
    db.commit()
    assert _is_401_json(api.get("/api/v1/workflows"))


def test_tokens_are_stored_hashed_and_last_use_is_recorded(db, api_as):
    api = api_as("comms")
    row = db.scalar(select(ApiToken).where(ApiToken.user_id == api.user.id))
    assert api.token not in (row.token_hash, row.hint) and len(row.token_hash) == 64
    assert api.token.startswith("bdk_") and len(api.token) >= 40
    assert row.last_used_at is None
    api.get("/api/v1/workflows")
    db.expire_all()
    assert db.get(ApiToken, row.id).last_used_at is not None


def test_writes_need_no_csrf_token(api_as):
    api = api_as("comms", team="communications")
    response = api.post("/api/v1/incidents", json={"workflow": "problem-solving", "title": "No CSRF token"})
    assert response.status_code == 201, response.get_json()


def test_too_many_requests_gets_429_with_retry_after(app, api_as):
    app.config["API_RATE_LIMIT_PER_MINUTE"] = 3
    api = api_as("comms")
    other = api_as("comms")
    # Counted per clock minute: within any 8 requests at least 4 fall in one minute, so one is refused.
    responses = [api.get("/api/v1/workflows") for _ in range(8)]
    assert {r.status_code for r in responses} == {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.get_json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other.get("/api/v1/workflows").status_code == 200  # per user
