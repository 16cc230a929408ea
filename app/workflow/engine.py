"""Deciding transitions. Pure: it reads a definition and facts and answers; the services act on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.workflow.definition import FieldDef, TransitionDef, WorkflowDef
from app.workflow.guards import GUARDS, GuardContext, IncidentFacts

MAX_TEXT = 2000
MAX_LONG_TEXT = 50000
LONDON = ZoneInfo("Europe/London")
# Dates outside this range are typing mistakes, and deadlines counted from them would overflow.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100


class TransitionNotAllowed(Exception):
    """The transition cannot be taken now; the message says why, for the person who tried."""

    def __init__(self, reason: str, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_errors = dict(field_errors or {})


@dataclass(frozen=True)
class Decision:
    transition: TransitionDef
    from_state: str
    to_state: str
    values: dict[str, Any]
    comment: str | None


def may_take(transition: TransitionDef, role: str) -> bool:
    return role in transition.roles


def available(definition: WorkflowDef, state: str, role: str) -> list[TransitionDef]:
    """The transitions a person with ``role`` may offer from ``state`` (guards are checked on submit)."""
    return [t for t in definition.transitions_from(state) if may_take(t, role)]


def _coerce(field: FieldDef, raw: Any, known_clause: Callable[[str], bool]) -> Any:
    """Turn submitted input into the field's type, or raise ValueError with what to fix."""
    if field.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("y", "yes", "true", "on", "1"):
            return True
        if raw in (None, "") or (isinstance(raw, str) and raw.lower() in ("n", "no", "false", "off", "0")):
            return False
        raise ValueError("answer yes or no")
    if field.type == "clause_list":
        items = raw if isinstance(raw, list) else [p for p in str(raw).replace(",", " ").split() if p]
        if not all(isinstance(i, str) for i in items):
            raise ValueError("give clause keys such as rcr:2.8")
        unknown = [i for i in items if not known_clause(i)]
        if unknown:
            raise ValueError(f"unknown clause {unknown[0]!r}; clause keys look like rcr:2.8 or hcpc:5.1")
        return list(dict.fromkeys(items))
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise ValueError("give a text value")
    text = str(raw).strip()
    if field.type in ("text", "long_text"):
        limit = MAX_TEXT if field.type == "text" else MAX_LONG_TEXT
        if len(text) > limit:
            raise ValueError(f"keep it under {limit} characters (it has {len(text)})")
        return text
    if field.type == "choice":
        if text not in field.choices:
            raise ValueError(f"choose one of: {', '.join(field.choices)}")
        return text
    if field.type == "date":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError("give a date as YYYY-MM-DD, for example 2026-03-31") from None
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise ValueError(f"give a date between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return day.isoformat()
    if field.type == "datetime":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("give a date and time as YYYY-MM-DDTHH:MM, for example 2026-03-31T14:30") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
        if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise ValueError(f"give a date between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return moment.isoformat()
    if field.type == "person":
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            raise ValueError("choose a person from the list")
        return int(text)
    raise ValueError(f"unsupported field type {field.type}")


def _day(value: str) -> date:
    """The calendar day of a coerced date ("2026-03-31") or UK-local datetime ("2026-03-31T14:30...")."""
    return date.fromisoformat(value[:10])


def validate_values(
    transition: TransitionDef, raw: Mapping[str, Any], known_clause: Callable[[str], bool]
) -> dict[str, Any]:
    """Check every declared field; unknown keys are refused so nothing undeclared is stored."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    declared = {f.key for f in transition.fields}
    for extra in sorted(set(raw) - declared):
        errors[extra] = f"'{extra}' is not a field of '{transition.title}'"
    for field in transition.fields:
        given = raw.get(field.key)
        if isinstance(given, str):
            given = given.strip()
        elif isinstance(given, list):
            given = [g.strip() if isinstance(g, str) else g for g in given if g != "" and str(g).strip()]
        empty = given is None or given == "" or given == []
        if empty and field.type != "boolean":
            if field.required:
                errors[field.key] = f"{field.label} is required"
            continue
        try:
            values[field.key] = _coerce(field, given, known_clause)
        except ValueError as exc:
            errors[field.key] = f"{field.label}: {exc}"
    for field in transition.fields:
        earlier = transition.field(field.later_than) if field.later_than else None
        if earlier is None or field.key not in values or earlier.key not in values:
            continue
        if _day(values[field.key]) <= _day(values[earlier.key]):
            errors[field.key] = f"{field.label} must be after {earlier.label} ({values[earlier.key][:10]})"
    if errors:
        first = next(iter(errors.values()))
        raise TransitionNotAllowed(f"Check the form: {first}.", errors)
    return values


def decide(
    definition: WorkflowDef,
    *,
    state: str,
    transition_key: str,
    role: str,
    facts: IncidentFacts | Callable[[], IncidentFacts],
    raw_values: Mapping[str, Any],
    comment: str | None,
    known_clause: Callable[[str], bool],
) -> Decision:
    """Check everything about a requested transition; raise TransitionNotAllowed naming what failed.

    ``facts`` may be a function giving them: gathering them reads the incident's posts, evidence and clauses,
    so it is called only when the transition has guards to ask."""
    transition = definition.transitions.get(transition_key)
    if transition is None:
        raise TransitionNotAllowed(f"'{transition_key}' is not a step of the {definition.title} workflow.")
    if state not in transition.from_states:
        current = definition.states[state].title if state in definition.states else state
        raise TransitionNotAllowed(
            f"'{transition.title}' cannot be taken now: the incident is at '{current}'. "
            "Someone may have moved it on; reload to see its current state."
        )
    if not may_take(transition, role):
        raise TransitionNotAllowed(f"Your role may not take '{transition.title}'.")
    comment = (comment or "").strip() or None
    if transition.comment == "required" and not comment:
        raise TransitionNotAllowed(f"'{transition.title}' needs a comment saying why.", {"comment": "required"})
    if transition.comment == "none":
        comment = None
    values = validate_values(transition, raw_values, known_clause)
    if transition.guards:
        context = GuardContext(facts=facts() if callable(facts) else facts, values=values)
        for ref in transition.guards:
            reason = GUARDS[ref.name].fn(context, ref.params)
            if reason:
                raise TransitionNotAllowed(f"'{transition.title}' is not possible yet: {reason}")
    return Decision(transition=transition, from_state=state, to_state=transition.to, values=values,
                    comment=comment)
