"""GET /api/v1/workflows, and errors: always JSON under /api, never an HTML page."""

from __future__ import annotations

import pytest


def test_workflows_lists_every_workflow_with_states_transitions_and_fields(api_as, registry):
    body = api_as("auditor").get("/api/v1/workflows").get_json()
    assert {w["key"] for w in body["items"]} == set(registry.current)
    ps = next(w for w in body["items"] if w["key"] == "problem-solving")
    definition = registry.get("problem-solving")
    assert ps["title"] == definition.title and ps["version"] == definition.version
    assert ps["initial"] == "reported"
    assert {"key": "closed_no_breach", "title": "Closed, no breach", "final": True} in ps["states"]
    triage = next(t for t in ps["transitions"] if t["key"] == "triage")
    assert triage["from"] == ["reported"] and triage["to"] == "triaged"
    severity = next(f for f in triage["fields"] if f["key"] == "severity")
    assert severity == {"key": "severity", "label": "Severity", "type": "choice", "required": True,
                        "choices": ["low", "medium", "high", "critical"]}


def _assert_json_error(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= {"error", "message", "fields"} and body["error"] and body["message"]
    if code:
        assert body["error"] == code
    assert b"<html" not in response.get_data().lower()
    return body


def test_unknown_api_urls_get_json_404(api_as, client):
    api = api_as("comms")
    for path in ("/api/v1/nothing", "/api/v1/incidents/0", "/api/v1/incidents/-1", "/api/v1/incidents/abc",
                 "/api/v1/incidents/99999999999", "/api/v2/incidents", "/api", "/api/v1/incidents/"):
        _assert_json_error(api.get(path), 404, "not_found")
    _assert_json_error(client.post("/api/v1/nothing", data="x"), 404)  # no CSRF page either


def test_wrong_method_gets_json_405_with_allow(api_as):
    api = api_as("comms")
    response = api.client.delete("/api/v1/incidents", headers=api.headers())
    _assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
    _assert_json_error(api.get("/api/v1/incidents/1/transitions"), 405)
    _assert_json_error(api.post("/api/v1/workflows", json={}), 405)


def test_non_json_body_gets_415(api_as):
    api = api_as("comms", team="communications")
    _assert_json_error(api.post("/api/v1/incidents", data={"workflow": "problem-solving", "title": "form"}), 415,
                       "unsupported_media_type")
    _assert_json_error(api.post("/api/v1/incidents", data="{}", content_type="text/plain"), 415)
    _assert_json_error(api.post("/api/v1/incidents"), 415)


@pytest.mark.parametrize("raw", [b"{", b"", b"   ", b"[1, 2", b'{"title": NaN}', b"\xff\xfe", b"nul\x00l",
                                 b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_malformed_json_gets_400(api_as, raw):
    api = api_as("comms", team="communications")
    body = _assert_json_error(api.post("/api/v1/incidents", data=raw, content_type="application/json"), 400)
    assert body["error"] in ("invalid_json", "validation_failed")


def test_body_that_is_not_an_object_gets_400(api_as):
    api = api_as("comms", team="communications")
    for value in ([], "text", 3, None, True):
        body = _assert_json_error(api.post("/api/v1/incidents", json=value) if value is not None else
                                  api.post("/api/v1/incidents", data="null", content_type="application/json"), 400)
        assert body["error"] == "validation_failed"


def test_too_large_body_gets_413(app, api_as):
    api = api_as("comms", team="communications")
    app.config["API_MAX_BODY_BYTES"] = 1000
    body = _assert_json_error(api.post("/api/v1/incidents", json={"workflow": "problem-solving", "title": "t",
                                                                  "summary": "x" * 5000}), 413, "payload_too_large")
    assert "1000" in body["message"]


def test_unexpected_failure_gets_json_500_and_saves_nothing(app, api_as, monkeypatch):
    import app.api.routes as routes

    def explode(*_a, **_kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "workflow_json", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = _assert_json_error(api_as("comms").get("/api/v1/workflows"), 500, "server_error")
    assert "boom" not in body["message"]


def test_unknown_query_parameters_are_refused(api_as):
    body = _assert_json_error(api_as("comms").get("/api/v1/incidents?colour=red"), 400, "validation_failed")
    assert body["fields"] == {"colour": "unknown query parameter; remove it"}
