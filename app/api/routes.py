"""The JSON API, version 1. Thin views: permissions from app.permissions, changes through app.services."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, url_for
from sqlalchemy import exists, false, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.api import bp
from app.api.errors import ApiError
from app.api.openapi import openapi_document
from app.api.plumbing import Reply, endpoint
from app.api.schemas import (
    TRANSITION_SCHEMA,
    create_incident_schema,
    query_bool,
    query_int,
    query_text,
    refuse_unknown_params,
)
from app.api.serialize import audit_json, incident_json, links_by_incident, workflow_json
from app.clock import utcnow
from app.extensions import db
from app.models import Deadline, Incident, IncidentClause, Person, User
from app.models.loading import Collections
from app.permissions import can_open, can_transition, can_view, visible_incidents
from app.services import InvalidInput, NotFound, ServiceError
from app.services import access as access_service
from app.services import audit as audit_service
from app.services.incidents import (
    BreakGlassRequired,
    IncidentChangedElsewhere,
    OpenRequest,
    PostInput,
    definition_for,
    get_visible,
    take_transition,
)
from app.services.intake import (
    ReportInput,
    SubjectInput,
    check_post,
    find_existing_post,
    joined_message,
    report_post,
    resolve_subject,
)
from app.services.users import find_by_email
from app.timing import LONDON, DurationError
from app.web import workflows
from app.workflow import TransitionNotAllowed

MAX_DB_INT = 2_147_483_647
INCIDENT_ID = f"<int(min=1, max={MAX_DB_INT}):incident_id>"
LIST_PARAMS = ("workflow", "state", "assignee", "clause", "q", "overdue", "status", "limit", "cursor")


def _incident_options():  # type: ignore[no-untyped-def]
    return (selectinload(Incident.posts), selectinload(Incident.clauses), selectinload(Incident.deadlines),
            selectinload(Incident.shares), joinedload(Incident.subject).selectinload(Person.handles),
            joinedload(Incident.assignee))


# What incident_json reads of one incident, by statements built once (its lazy loads built theirs at every call):
# GET of one incident at a million, CPU 6.9-7.3 -> 6.6 ms and p50 8.5-9.1 -> 7.8-7.9 ms on PostgreSQL, CPU 5.0-5.2 ->
# 4.9 ms on SQLite.
_INCIDENT_COLLECTIONS = Collections(Incident.posts, Incident.clauses, Incident.deadlines)


def _load_visible(user: User, incident_id: int) -> Incident:
    """The incident if the user may read it; 404 if they may not know it exists (the refusal is audited),
    403 for an administrator and a restricted file (break glass is done, with a reason, in the web app)."""
    try:
        return get_visible(db.session, incident_id, user)
    except BreakGlassRequired as required:
        raise ApiError(403, f"{required} The API does not open restricted files: break glass on the incident's "
                            "page in the web app first, then call the API again within the hour.",
                       code="break_glass_required") from None
    except NotFound:
        raise ApiError(404, f"No incident {incident_id} that you may see.") from None


# --- documents ------------------------------------------------------------------------------------

@bp.get("/openapi.json")
@endpoint(public=True)
def openapi(_user: None, _body: None) -> Reply:
    return Reply(openapi_document(workflows()))


@bp.get("/workflows")
@endpoint()
def list_workflows(user: User, _body: None) -> Reply:
    return Reply({"items": [workflow_json(definition) for definition in workflows()]})


# --- incidents ------------------------------------------------------------------------------------

def _encode_cursor(incident_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{incident_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    kind, _, number = text.partition(":")
    if kind != "id" or not number.isascii() or not number.isdigit() or not 0 < int(number) <= MAX_DB_INT:
        raise ApiError(400, "The cursor is not one this API gave out; pass next_cursor from the previous page "
                            "unchanged.", code="validation_failed", fields={"cursor": "not a cursor from this API"})
    return int(number)


@bp.get("/incidents")
@endpoint()
def list_incidents(user: User, _body: None) -> Reply:
    args = request.args
    refuse_unknown_params(args, LIST_PARAMS)
    registry = workflows()
    limit = query_int(args, "limit", default=50, low=1, high=200)
    query = select(Incident).where(visible_incidents(user))
    workflow = query_text(args, "workflow")
    if workflow is not None:
        if workflow not in registry:
            raise ApiError(400, f"Unknown workflow {workflow!r}; see GET /api/v1/workflows.",
                           code="validation_failed", fields={"workflow": "unknown workflow"})
        query = query.where(Incident.workflow_key == workflow)
    if (state := query_text(args, "state")) is not None:
        query = query.where(Incident.state == state)
    if (assignee := query_text(args, "assignee")) is not None:
        who = user if assignee == "me" else find_by_email(db.session, assignee)
        query = query.where(Incident.assignee_id == who.id) if who is not None else query.where(false())
    if (clause := query_text(args, "clause")) is not None:
        query = query.where(exists().where(IncidentClause.incident_id == Incident.id,
                                           IncidentClause.clause_key == clause))
    if (text := query_text(args, "q")) is not None:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Incident.reference.ilike(pattern, escape="\\"),
                                Incident.title.ilike(pattern, escape="\\")))
    overdue = query_bool(args, "overdue")
    if overdue is not None:
        late = exists().where(Deadline.incident_id == Incident.id, Deadline.status == "running",
                              Deadline.due_at < utcnow())
        query = query.where(late if overdue else ~late)
    status = query_text(args, "status") or "all"
    if status not in ("open", "closed", "all"):
        raise ApiError(400, "'status' must be open, closed or all.", code="validation_failed",
                       fields={"status": "must be open, closed or all"})
    if status == "open":
        query = query.where(Incident.closed_at.is_(None))
    elif status == "closed":
        query = query.where(Incident.closed_at.is_not(None))
    cursor = args.get("cursor")
    if cursor:
        query = query.where(Incident.id < _decode_cursor(cursor))
    rows = db.session.scalars(query.options(*_incident_options()).order_by(Incident.id.desc()).limit(limit + 1)
                              ).unique().all()
    page, more = rows[:limit], len(rows) > limit
    links = links_by_incident(db.session, page)
    items = [incident_json(db.session, registry, incident, user, links[incident.id]) for incident in page]
    return Reply({"items": items, "next_cursor": _encode_cursor(page[-1].id) if more and page else None})


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, f"{name} must be an ISO 8601 date and time, such as 2026-03-31T14:30:00Z.",
                       code="validation_failed", fields={name: "must be an ISO 8601 date and time"}) from None


def _post(data: dict[str, Any] | None) -> PostInput | None:
    """The post as sent, checked by the intake rules (address, future date, handle); 422 naming the field."""
    if not data:
        return None
    post = PostInput(platform=data["platform"], url=data["url"].strip(),
                     author_handle=(data.get("author_handle") or "").strip() or None,
                     posted_at=_when(data.get("posted_at"), "post.posted_at"), text=data.get("text") or None)
    try:
        return check_post(post)
    except InvalidInput as error:
        raise ApiError(422, str(error), code="validation_failed",
                       fields={f"post.{name}": message for name, message in error.fields.items()}) from None


def _subject(data: dict[str, Any] | None, user: User) -> Person | None:
    if not data:
        return None
    subject = SubjectInput(name=data["name"], role=data.get("role"),
                           handles=[(item["platform"], item["handle"]) for item in data.get("handles") or []])
    try:
        return resolve_subject(db.session, subject, actor=user, via="api")
    except InvalidInput as error:
        db.session.rollback()
        raise ApiError(422, str(error), code="validation_failed", fields=error.fields) from None


@bp.post("/incidents")
@endpoint(body=lambda: create_incident_schema(workflows()), idempotent=True)
def create_incident(user: User, body: dict[str, Any]) -> Reply:
    """Open an incident (201) — or, when the post is already on file, add this as a further report of the
    incident that holds it: 200 with that incident if the user may read it, else 202 without naming it."""
    registry = workflows()
    definition = registry.get(body["workflow"])
    if not can_open(user, definition):
        raise ApiError(403, f"Your role ({user.role}) may not open {definition.title} incidents; "
                            f"these roles may: {', '.join(definition.open_roles)}.")
    assignee = user
    if body.get("assignee"):
        assignee = find_by_email(db.session, body["assignee"])
        if assignee is None or not assignee.active:
            raise ApiError(422, "No active account has the assignee's e-mail address.",
                           fields={"assignee": "no active account has this e-mail address"})
    post = _post(body.get("post"))
    try:
        # A post already on file joins its incident; the subject sent is then not recorded (the incident has one).
        already = post is not None and find_existing_post(db.session, post) is not None
        subject = None if already else _subject(body.get("subject"), user)
        result = report_post(
            db.session, registry,
            OpenRequest(workflow_key=definition.key, title=body["title"], summary=body.get("summary"),
                        subject=subject, assignee=assignee, clauses=list(dict.fromkeys(body.get("clauses") or [])),
                        post=post, calendar=body.get("calendar") or current_app.config["BREACHDESK"].default_calendar),
            ReportInput(channel="api", reporter=body.get("reporter")),
            actor=user,
        )
    except ServiceError as error:
        db.session.rollback()
        raise ApiError(422, str(error), fields=getattr(error, "fields", None)) from None
    incident_id = result.incident.id
    if result.joined and not can_view(user, result.incident):
        return Reply({"joined": True, "message": joined_message(result, user)}, 202)
    incident = db.session.scalar(select(Incident).where(Incident.id == incident_id).options(*_incident_options())
                                 .execution_options(populate_existing=True))
    payload = incident_json(db.session, registry, incident, user)
    if result.joined:
        access_service.record_restricted_view(db.session, incident, actor=user)
        return Reply({**payload, "joined": True}, 200)
    return Reply(payload, 201, location=url_for("api.get_incident", incident_id=incident_id))


@bp.get(f"/incidents/{INCIDENT_ID}")
@endpoint()
def get_incident(user: User, _body: None, incident_id: int) -> Reply:
    incident = _load_visible(user, incident_id)
    _INCIDENT_COLLECTIONS.load(db.session, incident)
    access_service.record_restricted_view(db.session, incident, actor=user)
    return Reply(incident_json(db.session, workflows(), incident, user))


@bp.get(f"/incidents/{INCIDENT_ID}/audit")
@endpoint()
def incident_audit(user: User, _body: None, incident_id: int) -> Reply:
    incident = _load_visible(user, incident_id)
    access_service.record_restricted_view(db.session, incident, actor=user)
    return Reply({"items": [audit_json(event) for event in audit_service.history(db.session, incident)]})


@bp.post(f"/incidents/{INCIDENT_ID}/transitions")
@endpoint(body=lambda: TRANSITION_SCHEMA, idempotent=True)
def transition(user: User, body: dict[str, Any], incident_id: int) -> Reply:
    registry = workflows()
    incident = _load_visible(user, incident_id)
    definition = definition_for(db.session, registry, incident)
    key = body["transition"]
    spec = definition.transitions.get(key)
    if spec is None:
        raise ApiError(422, f"'{key}' is not a step of the {definition.title} workflow; see GET /api/v1/workflows.",
                       code="transition_not_allowed", fields={"transition": "not a step of this workflow"})
    if user.role not in spec.roles:
        audit_service.record(db.session, actor=user, action="authorisation.refused", incident=incident,
                             transition=key, data={"state": incident.state, "via": "api"})
        raise ApiError(403, f"Your role ({user.role}) may not take '{spec.title}'.")
    version = int(body["version"])
    if version != incident.version:
        raise ApiError(409, f"{incident.reference} has changed since you read it (you sent version {version}; it "
                            f"is at version {incident.version}, state '{incident.state}'). Nothing was saved: "
                            "fetch it again and decide again.", code="version_conflict")
    if not can_transition(user, incident, spec):
        current = definition.states[incident.state].title if incident.state in definition.states else incident.state
        audit_service.record(db.session, actor=user, action="authorisation.refused", incident=incident,
                             transition=key, data={"state": incident.state, "via": "api"})
        raise ApiError(422, f"'{spec.title}' cannot be taken now: {incident.reference} is at '{current}'.",
                       code="transition_not_allowed")
    try:
        take_transition(db.session, registry, incident, key, actor=user, values=body.get("data") or {},
                        comment=body.get("comment"), expected_version=version)
    except TransitionNotAllowed as refused:
        db.session.rollback()
        raise ApiError(422, refused.reason, code="transition_not_allowed", fields=refused.field_errors) from None
    except (IncidentChangedElsewhere, StaleDataError):
        db.session.rollback()
        raise ApiError(409, f"Incident {incident_id} was changed by someone else at the same moment. Nothing was "
                            "saved: fetch it again and decide again.", code="version_conflict") from None
    except NotFound:
        db.session.rollback()
        raise ApiError(404, f"No incident {incident_id} that you may see.") from None
    except ServiceError as error:
        db.session.rollback()
        raise ApiError(422, str(error), code="transition_not_allowed") from None
    except DurationError as error:  # a date entered puts a time limit beyond the dates that can be counted
        db.session.rollback()
        raise ApiError(422, f"Check the dates entered: {error}.", code="transition_not_allowed") from None
    incident = db.session.scalar(select(Incident).where(Incident.id == incident_id).options(*_incident_options())
                                 .execution_options(populate_existing=True))
    return Reply(incident_json(db.session, registry, incident, user))

