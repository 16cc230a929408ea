"""The names of effects a workflow may ask for, and the parameters each takes.

The engine only checks and lists effects; ``app/services/effects.py`` carries them out against the
database (a test asserts every name here has an implementation there).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EffectSpec:
    required: dict[str, str]  # parameter -> kind
    optional: dict[str, str]
    description: str


# Parameter kinds: deadline (a deadline of this workflow), field (a field of this transition),
# recorded_field (a field of any transition of this workflow: its latest recorded value is used),
# date_field / boolean_field / choice_field (a field of this transition of that type),
# duration, workflow (another workflow's key), role, text, int.
EFFECTS: dict[str, EffectSpec] = {
    "start_deadline": EffectSpec(
        {"deadline": "deadline"},
        {"from_field": "date_field", "shorten_to": "duration", "when_field": "boolean_field"},
        "starts a named deadline",
    ),
    "stop_deadline": EffectSpec({"deadline": "deadline"}, {}, "stops a running deadline (met)"),
    "stop_clock_between": EffectSpec(
        {"deadline": "deadline", "start_field": "recorded_field", "end_field": "recorded_field",
         "at_least": "duration"},
        {},
        "moves a deadline on by the days between two recorded dates, leaving at least a set time after the "
        "second (the tribunal clock during early conciliation)",
    ),
    "extend_deadline": EffectSpec({"deadline": "deadline", "by": "duration"}, {}, "agreed extension"),
    "record_outcome": EffectSpec({"field": "field"}, {}, "stores the field as the incident's outcome"),
    "set_severity": EffectSpec({"field": "field"}, {}, "stores the field as the incident's severity"),
    "cite_clauses": EffectSpec({"field": "field"}, {}, "adds the field's clauses to the incident"),
    "open_linked": EffectSpec(
        {"workflow": "workflow", "relation": "text"}, {}, "opens a linked incident on another workflow"
    ),
    "flag_subject": EffectSpec({"flag": "text"}, {}, "records a flag on the incident's subject"),
    "record_warning": EffectSpec(
        {"level_field": "field", "months": "int"}, {}, "records a warning on the subject that expires"
    ),
    "notify_role": EffectSpec({"role": "role"}, {}, "e-mails everyone with that role who can see it"),
    "notify_press_office": EffectSpec(
        {}, {}, "tells the press office at once; outside office hours the on-call press officer (the rota)"
    ),
}
