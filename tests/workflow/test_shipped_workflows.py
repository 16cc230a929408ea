"""Every transition of every shipped workflow can really be taken, on both databases.

For each transition: open an incident, walk a shortest path from the initial state to one of the
transition's from-states, take it, and check the state, the closing time and the audit trail.
"""

from __future__ import annotations

import io
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Incident, Person
from app.policy import load_catalogues
from app.services.evidence import capture_file
from app.services.incidents import OpenRequest, PostInput, open_incident, take_transition
from app.workflow import TransitionDef, WorkflowDef, WorkflowRegistry
from app.workflow.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_registry(ROOT / "workflows", load_catalogues(ROOT / "workflows" / "policies"))
CASES = [(d.key, t.key) for d in SHIPPED for t in d.transitions.values()]

SAMPLE = {
    "text": "x",
    "long_text": "details",
    "date": "2026-03-02",
    "datetime": "2026-03-02T10:00",
    "clause_list": ["rcr:2.9"],
    "boolean": True,
}
LATER = {"date": "2026-03-03", "datetime": "2026-03-03T10:00"}


def shortest_path(definition: WorkflowDef, targets: tuple[str, ...]) -> list[TransitionDef]:
    """Transitions leading from the initial state to the nearest of ``targets`` (file order breaks ties)."""
    came_from: dict[str, tuple[str, TransitionDef] | None] = {definition.initial: None}
    queue = deque([definition.initial])
    while queue:
        state = queue.popleft()
        if state in targets:
            path = []
            while (step := came_from[state]) is not None:
                state, transition = step
                path.append(transition)
            return path[::-1]
        for transition in definition.transitions_from(state):
            if transition.to not in came_from:
                came_from[transition.to] = (state, transition)
                queue.append(transition.to)
    raise AssertionError(f"{definition.key}: none of {targets} can be reached from {definition.initial}")


def values_for(transition: TransitionDef, person_id: int) -> dict[str, Any]:
    """A valid value for every declared field, chosen to satisfy the transition's guards."""
    wanted = {ref.params["field"]: ref.params["value"] for ref in transition.guards if ref.name == "field_equals"}
    values: dict[str, Any] = {}
    for field in transition.fields:
        if field.key in wanted:
            values[field.key] = wanted[field.key]
        elif field.type == "choice":
            values[field.key] = field.choices[0]
        elif field.type == "person":
            values[field.key] = str(person_id)
        elif field.later_than:  # after the SAMPLE date of the field it must follow
            values[field.key] = LATER[field.type]
        else:
            values[field.key] = SAMPLE[field.type]
    return values


def audit_rows(db: Session, incident: Incident) -> int:
    return db.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.incident_id == incident.id,
            AuditEvent.action.in_(("incident.opened", "incident.transition")),
        )
    )


def test_the_shipped_set_is_what_these_tests_walk() -> None:
    assert len(list(SHIPPED)) == 15
    assert len(CASES) == sum(len(d.transitions) for d in SHIPPED) > 150


@pytest.mark.parametrize("key", sorted(SHIPPED.current))
def test_every_final_state_is_reachable(key: str) -> None:
    definition = SHIPPED.get(key)
    assert definition.final_states
    for final in definition.final_states:
        assert shortest_path(definition, (final,)) or final == definition.initial


@pytest.mark.parametrize(("workflow_key", "transition_key"), CASES, ids=[f"{w}:{t}" for w, t in CASES])
def test_every_transition_can_be_taken(app: Flask, db: Session, make, workflow_key: str,  # type: ignore[no-untyped-def]
                                       transition_key: str) -> None:
    registry: WorkflowRegistry = app.extensions["breachdesk.workflows"]
    definition = registry.get(workflow_key)
    if transition_key not in definition.transitions:  # the file was edited after the tests were collected
        pytest.skip(f"{workflow_key}.yaml no longer has the transition {transition_key!r}")
    target = definition.transitions[transition_key]
    admin = make.user("admin")
    subject = Person(name="Dr Example Officer", role="officer")
    db.add(subject)
    db.commit()

    incident = open_incident(
        db, registry,
        OpenRequest(workflow_key=workflow_key, title=f"Walk to {transition_key}", subject=subject,
                    clauses=["rcr:2.9"], post=PostInput(platform="x", text="The post as captured.")),
        actor=admin,
    )
    db.commit()
    assert incident.state == definition.initial
    assert incident.workflow_version == definition.version
    assert incident.version == 1

    steps = [*shortest_path(definition, target.from_states), target]
    for taken, step in enumerate(steps, start=1):
        before = incident.state
        if any(ref.name == "has_fresh_capture" for ref in step.guards):  # e.g. a removal verified by a new capture
            capture_file(db, incident, actor=admin, filename=f"capture-{taken}.txt", stream=io.BytesIO(b"gone"),
                         folder=app.config["BREACHDESK"].evidence_path)
            db.commit()
        assert step.key in [t.key for t in registry.get(workflow_key).transitions_from(before)]
        take_transition(db, registry, incident, step.key, actor=admin, values=values_for(step, subject.id),
                        comment="because" if step.comment == "required" else None,
                        expected_version=incident.version)
        db.commit()
        assert incident.state == step.to, f"{step.key} from {before}"
        assert (incident.closed_at is not None) == definition.states[step.to].final
        assert incident.version == 1 + taken  # one decision, one version (a capture is not a decision)

    db.expire_all()
    stored = db.get(Incident, incident.id)
    assert stored is not None and stored.state == target.to
    assert audit_rows(db, stored) == 1 + len(steps)
    last = db.scalars(select(AuditEvent).where(AuditEvent.incident_id == stored.id)
                      .where(AuditEvent.action == "incident.transition").order_by(AuditEvent.id.desc())).first()
    assert last is not None
    assert (last.transition, last.to_state, last.actor_id) == (transition_key, target.to, admin.id)
    assert last.from_state in target.from_states
