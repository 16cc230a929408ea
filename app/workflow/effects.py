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
        {"workflow": "workflow", "relation": "text"}, {"then": "text"},
        "opens a linked incident on another workflow (in the same case file); with ``then``, takes that step of "
        "the new incident at once, with this transition's fields of the same names",
    ),
    "flag_subject": EffectSpec({"flag": "text"}, {}, "records a flag on the incident's subject"),
    "record_warning": EffectSpec(
        {"level_field": "field", "months": "int"}, {"starts_field": "date_field", "expires_field": "date_field"},
        "records a warning on the subject that expires (N months after it starts, unless an expiry date is given)",
    ),
    "schedule_meeting": EffectSpec(
        {"kind": "text", "at_field": "date_field"},
        {"place_field": "field", "companion_field": "field", "invitation_field": "date_field",
         "documents_field": "field"},
        "records a meeting or hearing of that kind from this transition's fields; one already scheduled is "
        "marked rescheduled",
    ),
    "meeting_moved": EffectSpec({"kind": "text"}, {}, "marks the scheduled meeting of that kind as rescheduled"),
    "meeting_held": EffectSpec({"kind": "text"}, {"notes_field": "field"},
                               "marks the scheduled meeting of that kind as held, with notes"),
    "prompt_regulator_check": EffectSpec(
        {}, {}, "asks the case file's rep whether a regulator referral is expected (after a dismissal)"
    ),
    "notify_role": EffectSpec({"role": "role"}, {}, "e-mails everyone with that role who can see it"),
    "notify_press_office": EffectSpec(
        {}, {}, "tells the press office at once; outside office hours the on-call press officer (the rota)"
    ),
}
