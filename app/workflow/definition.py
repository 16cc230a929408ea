"""A loaded workflow, as frozen dataclasses. Built only by the loader, after every check passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = ("text", "long_text", "date", "datetime", "choice", "clause_list", "person", "boolean")
SIDES = ("college", "union", "regulator")
RETENTION_CLASSES = ("college-breach", "union-case", "regulator-case", "short")
COMMENT_RULES = ("required", "optional", "none")


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    type: str
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""
    # Another date/datetime field of the same transition this one must fall after (a hearing after the
    # invitation, a warning's expiry after its start), compared by calendar day.
    later_than: str = ""


@dataclass(frozen=True)
class Ref:
    """A guard or effect named in a file, with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DeadlineDef:
    key: str
    title: str
    duration: str
    why: str
    business_hours: bool = False
    reminders: tuple[str, ...] = ()
    on_breach: dict[str, str] | None = field(default=None, hash=False)
    # An employer's own policy may set another length for this deadline (e.g. its appeal window).
    employer_may_change: bool = False


@dataclass(frozen=True)
class StateDef:
    key: str
    title: str
    description: str = ""
    final: bool = False
    clock_paused: bool = False


@dataclass(frozen=True)
class TransitionDef:
    key: str
    title: str
    from_states: tuple[str, ...]
    to: str
    roles: tuple[str, ...]
    comment: str = "optional"
    fields: tuple[FieldDef, ...] = ()
    guards: tuple[Ref, ...] = ()
    effects: tuple[Ref, ...] = ()

    def field(self, key: str) -> FieldDef | None:
        return next((f for f in self.fields if f.key == key), None)


@dataclass(frozen=True, eq=False)
class WorkflowDef:
    key: str
    title: str
    description: str
    side: str
    kind: str  # what sort of incident it handles (reported_post, member_case, ...)
    version: str
    initial: str
    clauses: tuple[str, ...]
    retention: str
    open_roles: tuple[str, ...]
    on_open: tuple[Ref, ...]
    states: dict[str, StateDef]
    transitions: dict[str, TransitionDef]
    deadlines: dict[str, DeadlineDef]
    source_path: str
    source_text: str
    # Union side: how long someone must have been a member before the issue arose to be supported.
    qualifying_membership: str | None = None
    # Whose process sets this workflow's dates (a member's case file shows it beside each track's clock).
    clock_set_by: str | None = None

    def transitions_from(self, state: str) -> list[TransitionDef]:
        return [t for t in self.transitions.values() if state in t.from_states]

    def state(self, key: str) -> StateDef:
        return self.states[key]

    @property
    def final_states(self) -> list[str]:
        return [s.key for s in self.states.values() if s.final]
