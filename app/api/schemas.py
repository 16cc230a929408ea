"""Request schemas (also published in the OpenAPI document) and checking requests against them.

One definition serves both, so what the document says is what the API enforces: a body that breaks
its schema is refused with 400 and a message per field, and unknown fields are refused, never ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from app.api.errors import ApiError
from app.models.people import PLATFORMS, PersonRole
from app.timing import CALENDAR_NAMES
from app.workflow import WorkflowRegistry

MAX_TEXT = 50_000
MAX_LIST = 50
DATA_VALUE_TYPES = ["string", "integer", "boolean", "array", "null"]

HANDLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["platform", "handle"],
    "properties": {
        "platform": {"type": "string", "enum": list(PLATFORMS)},
        "handle": {"type": "string", "minLength": 1, "maxLength": 200, "description": "With or without the @."},
    },
}

SUBJECT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "description": "Who the incident is about. An existing person with a matching handle (same platform, "
                   "handle compared without @ and case) is used; otherwise a new person is recorded.",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "role": {"type": ["string", "null"], "enum": [*(r.value for r in PersonRole), None],
                 "description": "Default contributor."},
        "handles": {"type": "array", "maxItems": 20, "items": HANDLE},
    },
}

POST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["platform", "url"],
    "description": "The reported post, captured as evidence (its text is hashed with SHA-256).",
    "properties": {
        "platform": {"type": "string", "enum": list(PLATFORMS)},
        "url": {"type": "string", "minLength": 8, "maxLength": 2000, "pattern": "^https?://[^\\s]+$"},
        "author_handle": {"type": ["string", "null"], "maxLength": 200},
        "posted_at": {"type": ["string", "null"], "format": "date-time",
                      "description": "ISO 8601; without an offset it is read as UK time."},
        "text": {"type": ["string", "null"], "maxLength": MAX_TEXT},
    },
}


def create_incident_schema(registry: WorkflowRegistry) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["workflow", "title"],
        "properties": {
            "workflow": {"type": "string", "enum": sorted(registry.current),
                         "description": "A workflow key from GET /api/v1/workflows."},
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "summary": {"type": ["string", "null"], "maxLength": MAX_TEXT},
            "subject": {"anyOf": [SUBJECT, {"type": "null"}]},
            "post": {"anyOf": [POST, {"type": "null"}]},
            "clauses": {"type": "array", "maxItems": MAX_LIST,
                        "items": {"type": "string", "minLength": 3, "maxLength": 64, "pattern": "^[a-z0-9_]+:.+$"},
                        "description": "Policy clauses cited, such as rcr:2.8 (as worded on the post's date)."},
            "calendar": {"type": ["string", "null"], "enum": [*CALENDAR_NAMES, None],
                         "description": "Bank-holiday calendar for time limits (default: BREACHDESK_CALENDAR)."},
            "assignee": {"type": ["string", "null"], "maxLength": 254,
                         "description": "E-mail address of an active user; default: the token's own user."},
            "reporter": {"type": ["string", "null"], "maxLength": 200,
                         "description": "Who raised it, as your system knows them (a member's name, a monitoring "
                                        "rule); recorded with the report."},
        },
    }


TRANSITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["transition", "version"],
    "properties": {
        "transition": {"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "A transition key of the incident's workflow."},
        "version": {"type": "integer", "minimum": 1,
                    "description": "The incident's version as you last read it; a stale version gets 409."},
        "comment": {"type": ["string", "null"], "maxLength": MAX_TEXT},
        "data": {
            "type": ["object", "null"],
            "maxProperties": MAX_LIST,
            "description": "Values for the transition's fields, by field key (see GET /api/v1/workflows).",
            "additionalProperties": {"type": DATA_VALUE_TYPES, "items": {"type": "string"}},
        },
    },
}

_TYPE_NAMES = {"object": "an object", "array": "a list", "string": "text", "integer": "a whole number",
               "boolean": "true or false", "null": "null", "number": "a number"}


def _describe_types(types: Any) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in (types if isinstance(types, list) else [types])]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _safe(part: Any) -> str:
    text = str(part)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(text)
    return text if text.isprintable() else ascii(text)


def _join(path: str, part: Any) -> str:
    part = _safe(part)
    return f"{path}.{part}" if path else part


def _path_of(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path = _join(path, part)
    return path


def _field_errors(error: ValidationError, path: str) -> Iterator[tuple[str, str]]:
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        for extra in sorted(set(instance) - known, key=str):
            yield _join(path, extra), "unknown field; remove it (see /api/v1/openapi.json)"
        return
    if kind == "required" and isinstance(instance, dict):
        for name in value:
            if name not in instance:
                yield _join(path, name), "required"
        return
    where = path or "body"
    if kind == "type":
        yield where, f"must be {_describe_types(value)}"
    elif kind == "enum":
        choices = [v for v in value if v is not None]
        yield where, "must be one of: " + ", ".join(str(c) for c in choices)
    elif kind == "minLength":
        yield where, "must not be empty" if value == 1 else f"must be at least {value} characters"
    elif kind == "maxLength":
        yield where, f"must be at most {value} characters"
    elif kind == "pattern":
        yield where, ("must be an http:// or https:// address" if "https?" in value
                      else "must look like catalogue:number, such as rcr:2.8" if ":" in value
                      else f"must match {value}")
    elif kind == "minimum":
        yield where, f"must be at least {value}"
    elif kind in ("maxItems", "maxProperties"):
        yield where, f"must have at most {value} entries"
    elif kind == "anyOf":
        # A nullable object: report what was wrong with it as an object, if it was one.
        inner = [sub for sub in (error.context or []) if sub.schema != {"type": "null"}
                 and not (sub.validator == "type" and not sub.relative_path)]
        if inner:
            for sub in inner:
                yield from _field_errors(sub, _path_of(sub))
        else:
            yield where, "must be an object or null"
    else:
        yield where, error.message


def _bad_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Text the database cannot store: NUL characters and unpaired surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "body", "must not contain NUL characters"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield path or "body", "must be valid Unicode text"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _bad_strings(key, path or "body")
            yield from _bad_strings(item, _join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, _join(path, index))


def validate(body: Any, schema: dict[str, Any]) -> None:
    """Raise ApiError(400) naming every field that breaks ``schema``."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="validation_failed",
                       fields={"body": "must be a JSON object"})
    fields: dict[str, str] = {}
    for error in sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: [str(p) for p in e.path]):
        for name, message in _field_errors(error, _path_of(error)):
            fields.setdefault(name, message)
    for name, message in _bad_strings(body, ""):
        fields.setdefault(name, message)
    if fields:
        first, message = next(iter(fields.items()))
        raise ApiError(400, f"Check the request body: {first}: {message}.", code="validation_failed",
                       fields=fields)


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not UTF-8 text.", code="invalid_json") from None
    if not text.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.", code="invalid_json")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply.", code="invalid_json") from None
    except ValueError as error:
        raise ApiError(400, f"The request body is not valid JSON: {error}.", code="invalid_json") from None


# --- query strings --------------------------------------------------------------------------------

DIGITS = re.compile(r"^[0-9]{1,6}$")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
MAX_QUERY_TEXT = 200


def query_text(args: Any, name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    value = value.replace("\x00", "").strip()
    if len(value) > MAX_QUERY_TEXT:
        raise ApiError(400, f"'{name}' must be at most {MAX_QUERY_TEXT} characters.", code="validation_failed",
                       fields={name: f"must be at most {MAX_QUERY_TEXT} characters"})
    return value or None


def query_bool(args: Any, name: str) -> bool | None:
    value = query_text(args, name)
    if value is None:
        return None
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ApiError(400, f"'{name}' must be true or false.", code="validation_failed",
                   fields={name: "must be true or false"})


def query_int(args: Any, name: str, *, default: int, low: int, high: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if not DIGITS.match(value) or not low <= int(value) <= high:
        raise ApiError(400, f"'{name}' must be a whole number from {low} to {high}.", code="validation_failed",
                       fields={name: f"must be a whole number from {low} to {high}"})
    return int(value)


def refuse_unknown_params(args: Any, known: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(known))
    if unknown:
        fields = {_safe(name): "unknown query parameter; remove it" for name in unknown}
        raise ApiError(400, f"Unknown query parameter {_safe(unknown[0])!r}; this endpoint takes "
                            f"{', '.join(known)}.", code="validation_failed", fields=fields)
