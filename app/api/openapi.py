"""The OpenAPI 3.1 document for /api/v1, built from the same request schemas the API enforces.

Response schemas are closed (``additionalProperties: false``) so a test that checks answers against
them notices any field the code adds without documenting it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api.schemas import TRANSITION_SCHEMA, create_incident_schema
from app.models.deadlines import DEADLINE_STATUSES
from app.models.incidents import SEVERITIES
from app.workflow import WorkflowRegistry
from app.workflow.definition import COMMENT_RULES, FIELD_TYPES, SIDES

MAX_ID = 2_147_483_647


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(properties) if required is None else required, **extra}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({
        "error": {"type": "string", "description": "A stable code, e.g. validation_failed, version_conflict."},
        "message": {"type": "string", "description": "What went wrong and what to do about it, for a person."},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "Per field (dotted path), what is wrong with it."},
    }, required=["error", "message"]),
    "WorkflowField": _obj({
        "key": STRING, "label": STRING, "type": {"type": "string", "enum": list(FIELD_TYPES)},
        "required": BOOLEAN, "choices": _list(STRING),
    }),
    "WorkflowState": _obj({"key": STRING, "title": STRING, "final": BOOLEAN}),
    "WorkflowTransition": _obj({
        "key": STRING, "title": STRING, "from": _list(STRING), "to": STRING,
        "roles": _list(STRING), "comment": {"type": "string", "enum": list(COMMENT_RULES)},
        "fields": _list(_ref("WorkflowField")),
    }),
    "Workflow": _obj({
        "key": STRING, "title": STRING, "version": STRING, "side": {"type": "string", "enum": list(SIDES)},
        "initial": STRING, "open_roles": _list(STRING), "states": _list(_ref("WorkflowState")),
        "transitions": _list(_ref("WorkflowTransition")),
    }),
    "WorkflowList": _obj({"items": _list(_ref("Workflow"))}),
    "Subject": _obj({
        "id": INTEGER, "name": STRING, "role": STRING,
        "handles": _list(_obj({"platform": STRING, "handle": STRING})),
    }),
    "Post": _obj({
        "platform": STRING, "url": NULLABLE_STRING, "author_handle": NULLABLE_STRING,
        "posted_at": NULLABLE_DATE_TIME, "text": NULLABLE_STRING,
        "text_sha256": {"type": ["string", "null"], "description": "SHA-256 of the text as captured."},
    }),
    "Citation": _obj({"clause": STRING, "title": NULLABLE_STRING, "catalogue_version": STRING}),
    "Deadline": _obj({
        "key": STRING, "title": STRING, "due_at": DATE_TIME,
        "status": {"type": "string", "enum": list(DEADLINE_STATUSES)}, "overdue": BOOLEAN,
    }),
    "Link": _obj({
        "relation": STRING, "direction": {"type": "string", "enum": ["outgoing", "incoming"]},
        "id": INTEGER, "reference": STRING, "url": {"type": "string", "format": "uri"},
    }),
    "PiiHit": _obj({"kind": STRING, "start": INTEGER, "end": INTEGER, "text": STRING}),
    "ClauseSuggestion": _obj({"clause": STRING, "title": NULLABLE_STRING, "reason": STRING,
                              "score": {"type": "number"}}),
    "Suggestions": _obj({"clauses": _list(_ref("ClauseSuggestion")), "pii": _list(_ref("PiiHit"))},
                        description="Advisory: PII found in the post's text and clauses it may breach. "
                                    "Empty when there is no post text or the helpers are not installed."),
    "Incident": _obj(INCIDENT := {
        "id": INTEGER,
        "reference": {"type": "string", "examples": ["BD-2026-00042"]},
        "workflow": STRING,
        "workflow_version": STRING,
        "state": STRING,
        "state_title": STRING,
        "version": {"type": "integer", "minimum": 1,
                    "description": "Send this back with a transition; it changes with every decision."},
        "title": STRING,
        "summary": NULLABLE_STRING,
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "restricted": BOOLEAN,
        "calendar": STRING,
        "created_at": DATE_TIME,
        "updated_at": DATE_TIME,
        "closed_at": NULLABLE_DATE_TIME,
        "assignee": {"type": ["string", "null"], "description": "The assignee's e-mail address."},
        "subject": {"anyOf": [_ref("Subject"), {"type": "null"}]},
        "post": {"anyOf": [_ref("Post"), {"type": "null"}]},
        "clauses": _list(STRING),
        "citations": _list(_ref("Citation")),
        "field_values": {"type": "object", "description": "The latest value of every field entered on a "
                                                          "transition, by field key."},
        "deadlines": _list(_ref("Deadline")),
        "available_transitions": {**_list(STRING), "description": "Transitions you may take now."},
        "suggestions": _ref("Suggestions"),
        "links": _list(_ref("Link")),
        "url": {"type": "string", "format": "uri", "description": "The incident's page in the web app."},
    }),
    "JoinedIncident": _obj({**INCIDENT, "joined": {
        "type": "boolean", "const": True,
        "description": "The post was already on file: this was added to its incident as a further report."}},
        description="The incident that already holds the post, with joined: true."),
    "ReportJoined": _obj({
        "joined": {"type": "boolean", "const": True},
        "message": {"type": "string", "description": "For a person: the report was added to a file you may not "
                                                     "see, which its team is handling."},
    }),
    "IncidentList": _obj({
        "items": _list(_ref("Incident")),
        "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page; null "
                                                                   "on the last page."},
    }),
    "AuditEvent": _obj({
        "at": DATE_TIME, "actor": STRING, "action": STRING, "from": NULLABLE_STRING, "to": NULLABLE_STRING,
        "transition": NULLABLE_STRING, "comment": NULLABLE_STRING, "data": {"type": "object"},
    }),
    "AuditList": _obj({"items": _list(_ref("AuditEvent"))}),
}

ERRORS: dict[int, str] = {
    400: "The request is malformed: not JSON, a wrong type, an unknown field or query parameter.",
    401: "No valid bearer token (cookies are never accepted).",
    403: "Your role may not do this, or the incident is restricted (break glass in the web app).",
    404: "No such incident, or you may not know it exists.",
    409: "Nothing was saved: the version you sent is stale (version_conflict: someone changed the incident), or "
         "someone else was changing the same records at that very moment (write_conflict: send it again).",
    413: "The body is too large.",
    415: "The body is not JSON.",
    422: "Understood but refused: the transition is not possible now, a field value is invalid, or the "
         "Idempotency-Key was used for a different request.",
    429: "Too many requests; see Retry-After.",
}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"$ref": f"#/components/responses/E{status}"}
    return response


def _ok(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}, **extra}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {**ok, **{str(code): _error(code) for code in (401, 429, *errors)},
            "default": {"$ref": "#/components/responses/Unexpected"}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique string (a UUID). A retry with the same key and body returns the first answer; "
                   "the same key with another body gets 422. Kept for 24 hours, per user.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}
INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def openapi_document(registry: WorkflowRegistry) -> dict[str, Any]:
    base_url = current_app.config["BREACHDESK"].base_url.rstrip("/")
    json_body = lambda schema: {"required": True, "content": {"application/json": {"schema": schema}}}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Breachdesk API",
            "version": "1.0.0",
            "description": "Incidents, workflows and the audit trail of Breachdesk. Authenticate with a bearer "
                           "token from `breachdesk tokens create`; it acts with its user's permissions. Errors "
                           "are JSON objects with `error`, `message` and, for input problems, `fields`.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/openapi.json": {"get": {
                "operationId": "getOpenApi", "summary": "This document", "security": [],
                "responses": {"200": {"description": "The OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "default": {"$ref": "#/components/responses/Unexpected"}},
            }},
            "/api/v1/workflows": {"get": {
                "operationId": "listWorkflows", "summary": "Every current workflow, with states, transitions "
                                                           "and their fields",
                "responses": _responses({"200": _ok("The workflows", "WorkflowList")}),
            }},
            "/api/v1/incidents": {
                "get": {
                    "operationId": "listIncidents",
                    "summary": "Incidents you may read, newest first, a page at a time",
                    "parameters": [
                        _query("workflow", {"type": "string", "enum": sorted(registry.current)}, "Workflow key."),
                        _query("state", {"type": "string", "maxLength": 200}, "State key."),
                        _query("assignee", {"type": "string", "maxLength": 200},
                               "Assignee's e-mail address, or `me`."),
                        _query("clause", {"type": "string", "maxLength": 200}, "Cited clause, such as rcr:2.8."),
                        _query("q", {"type": "string", "maxLength": 200}, "Text in the reference or title."),
                        _query("overdue", {"type": "boolean"}, "Only incidents with (true) or without (false) a "
                                                               "running deadline past its due time."),
                        _query("status", {"type": "string", "enum": ["open", "closed", "all"]},
                               "Open, closed or all (default all)."),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200},
                               "Page size, 1 to 200 (default 50)."),
                        _query("cursor", {"type": "string", "maxLength": 200},
                               "next_cursor from the previous page."),
                    ],
                    "responses": _responses({"200": _ok("A page of incidents", "IncidentList")}, 400),
                },
                "post": {
                    "operationId": "openIncident",
                    "summary": "Open an incident at its workflow's first state, or report a post already on "
                               "file again",
                    "description": "When the post (same address, however written, or the same platform post id) "
                                   "is already on file, no second incident is opened: this is added to the "
                                   "incident that holds it as a further report, and the answer is 200 with that "
                                   "incident and `joined: true` if you may read it, or 202 if you may not.",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": json_body(create_incident_schema(registry)),
                    "responses": _responses({
                        "201": _ok("Opened", "Incident", headers={
                            "Location": {"description": "The new incident's API URL.", "schema": STRING}}),
                        "200": _ok("The post was already on file: reported again on its incident",
                                   "JoinedIncident"),
                        "202": _ok("The post was already on file in an incident you may not see: reported "
                                   "again on it", "ReportJoined"),
                    }, 400, 403, 413, 415, 422),
                },
            },
            "/api/v1/incidents/{incident_id}": {"get": {
                "operationId": "getIncident", "summary": "One incident",
                "parameters": [INCIDENT_ID],
                "responses": _responses({"200": _ok("The incident", "Incident")}, 403, 404),
            }},
            "/api/v1/incidents/{incident_id}/audit": {"get": {
                "operationId": "getIncidentAudit", "summary": "The incident's audit trail, oldest first",
                "parameters": [INCIDENT_ID],
                "responses": _responses({"200": _ok("The audit trail", "AuditList")}, 403, 404),
            }},
            "/api/v1/incidents/{incident_id}/transitions": {"post": {
                "operationId": "takeTransition",
                "summary": "Move the incident on (send the version you read; a stale one gets 409)",
                "parameters": [INCIDENT_ID, IDEMPOTENCY_KEY],
                "requestBody": json_body(TRANSITION_SCHEMA),
                "responses": _responses({"200": _ok("Done: the incident as it is now", "Incident")},
                                        400, 403, 404, 409, 413, 415, 422),
            }},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "bdk_…",
                                               "description": "breachdesk tokens create --user EMAIL"}},
            "schemas": SCHEMAS,
            "responses": {
                **{f"E{code}": {"description": text, "content": {"application/json": {"schema": _ref("Error")}},
                                **({"headers": {"Retry-After": {"schema": STRING}}} if code == 429 else {}),
                                **({"headers": {"WWW-Authenticate": {"schema": STRING}}} if code == 401 else {})}
                   for code, text in ERRORS.items()},
                "Unexpected": {"description": "Any other error (405; 409 write_conflict, on any write; 500)",
                               "content": {"application/json": {"schema": _ref("Error")}}},
            },
        },
    }
