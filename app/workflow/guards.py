"""Guards: named, pure checks a transition may require. They read facts; they never change anything.

A guard returns None when it passes, or a sentence saying why the transition is not possible yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IncidentFacts:
    """What guards may know about an incident, gathered by the service before asking the engine."""

    has_evidence: bool = False
    clause_count: int = 0
    subject_role: str | None = None
    outcome: str | None = None
    # Was anything (a post or an evidence file) captured after the incident entered its current state?
    captured_since_state_entered: bool = False


@dataclass(frozen=True)
class GuardContext:
    facts: IncidentFacts
    values: Mapping[str, Any] = field(default_factory=dict)


GuardFn = Callable[[GuardContext, Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class GuardSpec:
    fn: GuardFn
    params: dict[str, str]  # parameter name -> kind ("field", "text")
    description: str


GUARDS: dict[str, GuardSpec] = {}


def guard(name: str, description: str, **params: str) -> Callable[[GuardFn], GuardFn]:
    def register(fn: GuardFn) -> GuardFn:
        GUARDS[name] = GuardSpec(fn=fn, params=params, description=description)
        return fn

    return register


@guard("has_evidence", "the incident has a captured post or an evidence file")
def _has_evidence(ctx: GuardContext, _params: Mapping[str, Any]) -> str | None:
    return None if ctx.facts.has_evidence else "Capture the post or attach evidence first."


@guard("has_fresh_capture", "something was captured since the incident entered its current state")
def _has_fresh_capture(ctx: GuardContext, _params: Mapping[str, Any]) -> str | None:
    if ctx.facts.captured_since_state_entered:
        return None
    return ("Add a fresh capture first: a screenshot or file taken since this step began (for a removal, one "
            "showing the post gone). Nothing has been captured since then.")


@guard("has_clauses", "the incident cites at least one clause")
def _has_clauses(ctx: GuardContext, _params: Mapping[str, Any]) -> str | None:
    return None if ctx.facts.clause_count > 0 else "Cite at least one policy clause first."


@guard("subject_is_officer", "the subject is an officer")
def _subject_is_officer(ctx: GuardContext, _params: Mapping[str, Any]) -> str | None:
    return None if ctx.facts.subject_role == "officer" else "Only for incidents about an officer."


@guard("field_is_true", "the named yes/no field is ticked", field="field")
def _field_is_true(ctx: GuardContext, params: Mapping[str, Any]) -> str | None:
    return None if ctx.values.get(params["field"]) is True else f"Only when '{params['field']}' is ticked."


@guard("field_equals", "the named field has the given value", field="field", value="text")
def _field_equals(ctx: GuardContext, params: Mapping[str, Any]) -> str | None:
    if ctx.values.get(params["field"]) == params["value"]:
        return None
    return f"Only when '{params['field']}' is '{params['value']}'."
