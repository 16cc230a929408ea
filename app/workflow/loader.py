"""YAML → JSON Schema → semantic checks → a frozen WorkflowDef. Nothing in a file is ever executed."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from app.roles import ROLE_NAMES
from app.timing import DurationError, parse_duration
from app.workflow.definition import (
    FIELD_TYPES,
    DeadlineDef,
    FieldDef,
    Ref,
    StateDef,
    TransitionDef,
    WorkflowDef,
)
from app.workflow.effects import EFFECTS
from app.workflow.guards import GUARDS
from app.workflow.source import DefinitionError, Document, load_document

SCHEMA_PATH = Path(__file__).with_name("schema.json")
ClauseCheck = Callable[[str], bool]


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def content_version(data: Any) -> str:
    """A workflow's version: a short hash of its meaning (not its comments or layout)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _schema_message(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        return f"{where or 'the top level'}: {error.message} (only the documented keys are allowed)"
    if error.validator == "required":
        return f"{where or 'the top level'}: {error.message}"
    return f"{where}: {error.message}" if where else error.message


def _check_schema(doc: Document) -> None:
    error = best_match(_validator().iter_errors(doc.data))
    if error is None:
        return
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            where.append(extra[0])  # the line of the unknown key itself
    raise doc.error(_schema_message(error), *where)


def _duration(doc: Document, text: Any, *where: str | int) -> str:
    try:
        return str(parse_duration(str(text)))
    except DurationError as exc:
        raise doc.error(f"bad duration: {exc}", *where) from None


def _role(doc: Document, role: str, *where: str | int) -> str:
    if role not in ROLE_NAMES:
        raise doc.error(f"unknown role '{role}'; the roles are {', '.join(ROLE_NAMES)}", *where)
    return role


def _check_params(
    doc: Document,
    kind_of: dict[str, str],
    required: Iterable[str],
    params: dict[str, Any],
    label: str,
    transition: dict[str, Any] | None,
    deadlines: dict[str, Any],
    where: tuple[str | int, ...],
    workflow_refs: list[tuple[str, tuple[str | int, ...]]],
) -> None:
    for name in required:
        if name not in params:
            raise doc.error(f"{label} needs the parameter '{name}'", *where)
    for name, value in params.items():
        kind = kind_of.get(name)
        if kind is None:
            known = ", ".join(kind_of) or "none"
            raise doc.error(f"{label} has no parameter '{name}' (it takes: {known})", *where, name)
        if kind == "deadline" and value not in deadlines:
            raise doc.error(f"{label} names the deadline '{value}', which this file does not define", *where, name)
        if kind in ("field", "date_field", "boolean_field", "choice_field"):
            fields = {f["key"]: f for f in (transition or {}).get("fields", [])}
            if value not in fields:
                raise doc.error(f"{label} names the field '{value}', which this transition does not have", *where, name)
            wanted = {"date_field": ("date", "datetime"), "boolean_field": ("boolean",),
                      "choice_field": ("choice",)}.get(kind)
            if wanted and fields[value]["type"] not in wanted:
                raise doc.error(f"{label}: '{name}' must name a {' or '.join(wanted)} field, and '{value}' is "
                                f"{fields[value]['type']}", *where, name)
        if kind == "recorded_field":
            every = {f["key"] for t in doc.data.get("transitions", []) for f in t.get("fields", [])}
            if value not in every:
                raise doc.error(f"{label} names the field '{value}', which no transition of this workflow records",
                                *where, name)
        if kind == "duration":
            _duration(doc, value, *where, name)
        if kind == "role":
            _role(doc, str(value), *where, name)
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise doc.error(f"{label}: '{name}' must be a positive whole number", *where, name)
        if kind == "workflow":
            workflow_refs.append((str(value), (*where, name)))


def _refs(
    doc: Document,
    raw: list[dict[str, Any]],
    key: str,
    transition: dict[str, Any] | None,
    deadlines: dict[str, Any],
    where: tuple[str | int, ...],
    workflow_refs: list[tuple[str, tuple[str | int, ...]]],
) -> tuple[Ref, ...]:
    refs = []
    for index, item in enumerate(raw):
        name = item[key]
        params = {k: v for k, v in item.items() if k != key}
        here = (*where, index)
        if key == "guard":
            spec = GUARDS.get(name)
            if spec is None:
                raise doc.error(f"unknown guard '{name}'; the guards are {', '.join(sorted(GUARDS))}", *here)
            _check_params(doc, spec.params, spec.params, params, f"guard '{name}'", transition, deadlines,
                          here, workflow_refs)
        else:
            effect = EFFECTS.get(name)
            if effect is None:
                raise doc.error(f"unknown effect '{name}'; the effects are {', '.join(sorted(EFFECTS))}", *here)
            _check_params(doc, {**effect.required, **effect.optional}, effect.required, params,
                          f"effect '{name}'", transition, deadlines, here, workflow_refs)
        if name == "field_equals" and transition is not None:
            field = next((f for f in transition.get("fields", []) if f["key"] == params.get("field")), None)
            if field is not None and field.get("choices") and params.get("value") not in field["choices"]:
                raise doc.error(f"guard 'field_equals': '{params.get('value')}' is not one of the choices of "
                                f"'{field['key']}' ({', '.join(field['choices'])}), so the step could never be taken",
                                *here, "value")
        refs.append(Ref(name=name, params=params))
    return tuple(refs)


def _reachable(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _check_graph(doc: Document, data: dict[str, Any]) -> None:
    states: dict[str, Any] = data["states"]
    initial = data["initial"]
    if initial not in states:
        raise doc.error(f"the initial state '{initial}' is not one of the states", "initial")
    forward: dict[str, set[str]] = {s: set() for s in states}
    backward: dict[str, set[str]] = {s: set() for s in states}
    keys: dict[str, int] = {}
    for index, t in enumerate(data["transitions"]):
        if t["key"] in keys:
            raise doc.error(
                f"the transition key '{t['key']}' is used twice (also on line {keys[t['key']]})",
                "transitions", index, "key",
            )
        keys[t["key"]] = doc.line_of("transitions", index) or 0
        if t["to"] not in states:
            raise doc.error(f"transition '{t['key']}' goes to the unknown state '{t['to']}'",
                            "transitions", index, "to")
        for fi, source in enumerate(t["from"]):
            if source not in states:
                raise doc.error(f"transition '{t['key']}' starts from the unknown state '{source}'",
                                "transitions", index, "from", fi)
            if states[source].get("final"):
                raise doc.error(f"transition '{t['key']}' leaves the final state '{source}'; "
                                "final states have no way out", "transitions", index, "from", fi)
            forward[source].add(t["to"])
            backward[t["to"]].add(source)
    unreachable = [s for s in states if s not in _reachable([initial], forward)]
    if unreachable:
        raise doc.error(f"the state '{unreachable[0]}' cannot be reached from the initial state '{initial}'",
                        "states", unreachable[0])
    finals = [s for s, spec in states.items() if spec.get("final")]
    if not finals:
        raise doc.error("no state is marked final, so no incident could ever be closed", "states")
    for state, spec in states.items():
        if not spec.get("final") and not forward[state]:
            raise doc.error(f"the state '{state}' is a dead end: it is not final and no transition leaves it",
                            "states", state)
    can_finish = _reachable(finals, backward)
    stuck = [s for s in states if s not in can_finish]
    if stuck:
        raise doc.error(f"no final state can be reached from the state '{stuck[0]}'", "states", stuck[0])


def _fields(doc: Document, raw: list[dict[str, Any]], where: tuple[str | int, ...]) -> tuple[FieldDef, ...]:
    fields = []
    seen: set[str] = set()
    for index, f in enumerate(raw):
        here = (*where, index)
        if f["type"] not in FIELD_TYPES:
            raise doc.error(f"field '{f['key']}' has the type '{f['type']}', which does not exist; "
                            f"use one of {', '.join(FIELD_TYPES)}", *here, "type")
        if f["key"] in seen:
            raise doc.error(f"the field '{f['key']}' appears twice in this transition", *here, "key")
        seen.add(f["key"])
        if (f["type"] == "choice") != bool(f.get("choices")):
            raise doc.error(f"field '{f['key']}': 'choices' goes with type choice, and type choice needs them",
                            *here)
        fields.append(FieldDef(
            key=f["key"], label=f.get("label") or f["key"].replace("_", " ").capitalize(), type=f["type"],
            required=f.get("required", True), choices=tuple(f.get("choices", ())), help=f.get("help", ""),
            later_than=f.get("later_than", ""),
        ))
    types = {f.key: f.type for f in fields}
    for index, f in enumerate(fields):
        if not f.later_than:
            continue
        dated = ("date", "datetime")
        if f.type not in dated or types.get(f.later_than) not in dated:
            raise doc.error(f"field '{f.key}': 'later_than' compares two date or datetime fields of the same "
                            f"transition, and '{f.later_than}' is not one", *where, index, "later_than")
    return tuple(fields)


def parse_workflow(doc: Document, known_clause: ClauseCheck) -> tuple[WorkflowDef, list[tuple[str, int | None]]]:
    """Check one document and build its definition. Returns it with the workflows it links to."""
    _check_schema(doc)
    data: dict[str, Any] = doc.data
    _check_graph(doc, data)
    for index, clause in enumerate(data.get("clauses", [])):
        if not known_clause(clause):
            raise doc.error(f"the clause '{clause}' is not in any policy catalogue", "clauses", index)
    for index, role in enumerate(data.get("open_roles", ["admin"])):
        _role(doc, role, "open_roles", index)
    deadlines_raw: dict[str, Any] = data.get("deadlines", {})
    transitions_by_key = {t["key"]: t for t in data["transitions"]}
    workflow_refs: list[tuple[str, tuple[str | int, ...]]] = []
    deadlines: dict[str, DeadlineDef] = {}
    for key, d in deadlines_raw.items():
        for ri, reminder in enumerate(d.get("reminders", [])):
            _duration(doc, reminder, "deadlines", key, "reminders", ri)
        breach = d.get("on_breach")
        if breach:
            if "transition" in breach and breach["transition"] not in transitions_by_key:
                raise doc.error(f"deadline '{key}' escalates by the transition '{breach['transition']}', "
                                "which this file does not define", "deadlines", key, "on_breach", "transition")
            for role_key in ("notify", "reassign"):
                if role_key in breach:
                    _role(doc, breach[role_key], "deadlines", key, "on_breach", role_key)
        deadlines[key] = DeadlineDef(
            key=key, title=d["title"], duration=_duration(doc, d["duration"], "deadlines", key, "duration"),
            why=d["why"], business_hours=d.get("business_hours", False),
            reminders=tuple(str(parse_duration(r)) for r in d.get("reminders", [])), on_breach=breach,
            employer_may_change=d.get("employer_may_change", False),
        )
    states = {
        key: StateDef(key=key, title=s["title"], description=s.get("description", ""),
                      final=s.get("final", False), clock_paused=s.get("clock_paused", False))
        for key, s in data["states"].items()
    }
    transitions: dict[str, TransitionDef] = {}
    for index, t in enumerate(data["transitions"]):
        where = ("transitions", index)
        for ri, role in enumerate(t["roles"]):
            _role(doc, role, *where, "roles", ri)
        transitions[t["key"]] = TransitionDef(
            key=t["key"], title=t["title"], from_states=tuple(t["from"]), to=t["to"], roles=tuple(t["roles"]),
            comment=t.get("comment", "optional"), fields=_fields(doc, t.get("fields", []), (*where, "fields")),
            guards=_refs(doc, t.get("guards", []), "guard", t, deadlines_raw, (*where, "guards"), workflow_refs),
            effects=_refs(doc, t.get("effects", []), "effect", t, deadlines_raw, (*where, "effects"),
                          workflow_refs),
        )
    on_open = _refs(doc, data.get("on_open", []), "effect", {"fields": []}, deadlines_raw, ("on_open",),
                    workflow_refs)
    definition = WorkflowDef(
        key=data["key"], title=data["title"], description=data.get("description", ""), side=data["side"],
        kind=data["kind"],
        version=content_version(data), initial=data["initial"], clauses=tuple(data.get("clauses", [])),
        retention=data.get("retention", "short"), open_roles=tuple(data.get("open_roles", ["admin"])),
        on_open=on_open, states=states, transitions=transitions, deadlines=deadlines,
        source_path=str(doc.path), source_text=doc.text,
        qualifying_membership=(_duration(doc, data["qualifying_membership"], "qualifying_membership")
                               if "qualifying_membership" in data else None),
        clock_set_by=data.get("clock_set_by"),
    )
    return definition, [(key, doc.line_of(*where)) for key, where in workflow_refs]


def load_workflow_file(path: Path, known_clause: ClauseCheck, text: str | None = None) -> WorkflowDef:
    definition, _links = parse_workflow(load_document(path, text), known_clause)
    return definition


def load_workflow_dir(paths: Iterable[Path], known_clause: ClauseCheck) -> dict[str, WorkflowDef]:
    """Load and cross-check several files: unique keys, file named after its key, links resolve."""
    loaded: dict[str, WorkflowDef] = {}
    links: list[tuple[Path, str, int | None]] = []
    for path in paths:
        definition, refs = parse_workflow(load_document(path), known_clause)
        if definition.key in loaded:
            raise DefinitionError(path, 1, f"the workflow key '{definition.key}' is also used by "
                                           f"{loaded[definition.key].source_path}")
        if path.stem != definition.key:
            key_line = next((n + 1 for n, line in enumerate(definition.source_text.splitlines())
                             if line.startswith("key:")), 1)
            raise DefinitionError(path, key_line, f"the file must be named after its key: {definition.key}.yaml")
        loaded[definition.key] = definition
        links.extend((path, key, line) for key, line in refs)
    for path, key, line in links:
        if key not in loaded:
            raise DefinitionError(path, line, f"opens a linked incident on the workflow '{key}', which does not exist")
    for definition in loaded.values():
        _check_then_steps(definition, loaded)
    return loaded


def _check_then_steps(definition: WorkflowDef, loaded: dict[str, WorkflowDef]) -> None:
    """``open_linked … then: step``: the step must leave the linked workflow's initial state."""
    for transition in definition.transitions.values():
        for effect in transition.effects:
            step = effect.params.get("then") if effect.name == "open_linked" else None
            if step is None:
                continue
            target = loaded[effect.params["workflow"]]
            found = target.transitions.get(str(step))
            if found is None or target.initial not in found.from_states:
                line = next((n + 1 for n, text in enumerate(definition.source_text.splitlines())
                             if text.strip() == f"then: {step}"), None)
                raise DefinitionError(Path(definition.source_path), line,
                                      f"open_linked: '{step}' is not a step of '{target.key}' from its first state "
                                      f"'{target.initial}'")
