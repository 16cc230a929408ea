"""The pure engine: ``decide`` refuses with a sentence naming what failed; ``available`` filters by role.

No database: a definition is loaded from ``good/engine-example.yaml`` and facts are passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.policy import Catalogues, load_catalogues
from app.workflow import Decision, TransitionNotAllowed, WorkflowDef, available, decide
from app.workflow.guards import IncidentFacts
from app.workflow.loader import load_workflow_file

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parents[1] / "workflows" / "policies"

GOOD_FACTS = IncidentFacts(has_evidence=True, clause_count=1, subject_role="officer")
CHECK_VALUES = {"decided_on": "2026-03-02", "decision": "upheld"}


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return load_catalogues(POLICIES)


@pytest.fixture(scope="module")
def definition(catalogues: Catalogues) -> WorkflowDef:
    return load_workflow_file(HERE / "good" / "engine-example.yaml", catalogues.known)


def run(
    definition: WorkflowDef,
    catalogues: Catalogues,
    *,
    state: str = "open",
    transition: str = "check",
    role: str = "comms",
    facts: IncidentFacts = GOOD_FACTS,
    values: dict[str, Any] | None = None,
    comment: str | None = "because",
) -> Decision:
    return decide(definition, state=state, transition_key=transition, role=role, facts=facts,
                  raw_values=CHECK_VALUES if values is None else values, comment=comment,
                  known_clause=catalogues.known)


def refused(definition: WorkflowDef, catalogues: Catalogues, **kw: Any) -> TransitionNotAllowed:
    with pytest.raises(TransitionNotAllowed) as caught:
        run(definition, catalogues, **kw)
    assert str(caught.value) == caught.value.reason
    return caught.value


def test_a_valid_request_is_decided_with_typed_values(definition: WorkflowDef, catalogues: Catalogues) -> None:
    decision = run(definition, catalogues, values={
        "decided_on": " 2026-03-02 ", "heard_at": "2026-03-02T10:00", "decision": "upheld",
        "clauses": "rcr:2.9, rcr:2.8 rcr:2.9", "note": "  seen  ", "witness": "7", "urgent": "yes",
    }, comment="  because  ")
    assert (decision.from_state, decision.to_state, decision.transition.key) == ("open", "checked", "check")
    assert decision.comment == "because"
    assert decision.values == {
        "decided_on": "2026-03-02",
        "heard_at": "2026-03-02T10:00:00+00:00",  # London, GMT in March
        "decision": "upheld",
        "clauses": ["rcr:2.9", "rcr:2.8"],
        "note": "seen",
        "witness": 7,
        "urgent": True,
    }


def test_summer_datetimes_are_read_as_london_time(definition: WorkflowDef, catalogues: Catalogues) -> None:
    decision = run(definition, catalogues, values={**CHECK_VALUES, "heard_at": "2026-07-01T10:00"})
    assert decision.values["heard_at"] == "2026-07-01T10:00:00+01:00"


def test_an_unticked_optional_boolean_is_false(definition: WorkflowDef, catalogues: Catalogues) -> None:
    assert run(definition, catalogues).values["urgent"] is False


def test_a_comment_is_dropped_where_the_file_says_none(definition: WorkflowDef, catalogues: Catalogues) -> None:
    decision = run(definition, catalogues, state="checked", transition="finish", role="admin", values={},
                   comment="not kept")
    assert decision.comment is None


# --- refusals ---------------------------------------------------------------------------------


def test_a_state_the_incident_has_left(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, state="checked")
    assert error.reason == ("'Check it' cannot be taken now: the incident is at 'Checked'. "
                            "Someone may have moved it on; reload to see its current state.")
    assert error.field_errors == {}


def test_a_final_state_refuses_everything(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, state="done", transition="finish", role="admin", values={})
    assert "the incident is at 'Done'" in error.reason


def test_a_step_the_workflow_does_not_have(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, transition="delete_everything")
    assert error.reason == "'delete_everything' is not a step of the Engine example workflow."


@pytest.mark.parametrize("role", ["officer", "director_of_comms", "auditor", "nobody"])
def test_a_role_that_may_not_take_it(definition: WorkflowDef, catalogues: Catalogues, role: str) -> None:
    error = refused(definition, catalogues, role=role)
    assert error.reason == "Your role may not take 'Check it'."


def test_admin_is_not_implied(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, transition="abandon", role="admin", values={})
    assert error.reason == "Your role may not take 'Abandon'."


def test_a_missing_required_field(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, values={"decision": "upheld"})
    assert error.reason == "Check the form: Decided on is required."
    assert error.field_errors == {"decided_on": "Decided on is required"}


@pytest.mark.parametrize("empty", [None, "", []])
def test_an_empty_required_field(definition: WorkflowDef, catalogues: Catalogues, empty: Any) -> None:
    error = refused(definition, catalogues, values={**CHECK_VALUES, "decision": empty})
    assert error.field_errors == {"decision": "Decision is required"}


def test_every_field_error_is_reported_at_once(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, values={"decided_on": "soon", "heard_at": "later"})
    assert set(error.field_errors) == {"decided_on", "heard_at", "decision"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("decided_on", "02/03/2026", "Decided on: give a date as YYYY-MM-DD, for example 2026-03-31"),
        ("decided_on", "2026-02-30", "Decided on: give a date as YYYY-MM-DD, for example 2026-03-31"),
        ("heard_at", "tomorrow 10am",
         "Heard at: give a date and time as YYYY-MM-DDTHH:MM, for example 2026-03-31T14:30"),
        ("decision", "maybe", "Decision: choose one of: upheld, dismissed"),
        ("decision", "Upheld", "Decision: choose one of: upheld, dismissed"),
        ("clauses", ["rcr:2.9", "rcr:99.9"],
         "Clauses: unknown clause 'rcr:99.9'; clause keys look like rcr:2.8 or hcpc:5.1"),
        ("clauses", "nosuch:1", "Clauses: unknown clause 'nosuch:1'; clause keys look like rcr:2.8 or hcpc:5.1"),
        ("clauses", [7], "Clauses: give clause keys such as rcr:2.8"),
        ("note", "x" * 2001, "Note: keep it under 2000 characters (it has 2001)"),
        ("note", {"$ne": 1}, "Note: give a text value"),
        ("witness", "Dr Smith", "Witness: choose a person from the list"),
        ("urgent", "perhaps", "Urgent: answer yes or no"),
    ],
    ids=["date", "impossible-date", "datetime", "choice", "choice-case", "clause", "clause-catalogue",
         "clause-not-text", "text-length", "text-not-text", "person", "boolean"],
)
def test_a_malformed_value(definition: WorkflowDef, catalogues: Catalogues, key: str, value: Any,
                           message: str) -> None:
    error = refused(definition, catalogues, values={**CHECK_VALUES, key: value})
    assert error.reason == f"Check the form: {message}."
    assert error.field_errors == {key: message}


def test_an_undeclared_extra_field(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, values={**CHECK_VALUES, "state": "done"})
    assert error.reason == "Check the form: 'state' is not a field of 'Check it'."
    assert error.field_errors == {"state": "'state' is not a field of 'Check it'"}


@pytest.mark.parametrize("comment", [None, "", "   \n"])
def test_a_missing_required_comment(definition: WorkflowDef, catalogues: Catalogues, comment: str | None) -> None:
    error = refused(definition, catalogues, comment=comment)
    assert error.reason == "'Check it' needs a comment saying why."
    assert error.field_errors == {"comment": "required"}


def test_has_evidence_refuses_without_evidence(definition: WorkflowDef, catalogues: Catalogues) -> None:
    error = refused(definition, catalogues, facts=IncidentFacts(has_evidence=False))
    assert error.reason == "'Check it' is not possible yet: Capture the post or attach evidence first."


ESCALATE = {"confirmed": True, "level": "high"}


@pytest.mark.parametrize(
    ("facts", "values", "reason"),
    [
        (IncidentFacts(clause_count=0, subject_role="officer"), ESCALATE, "Cite at least one policy clause first."),
        (IncidentFacts(clause_count=2, subject_role="contributor"), ESCALATE, "Only for incidents about an officer."),
        (IncidentFacts(clause_count=2, subject_role=None), ESCALATE, "Only for incidents about an officer."),
        (GOOD_FACTS, {**ESCALATE, "confirmed": False}, "Only when 'confirmed' is ticked."),
        (GOOD_FACTS, {"level": "high"}, "Only when 'confirmed' is ticked."),
        (GOOD_FACTS, {**ESCALATE, "level": "low"}, "Only when 'level' is 'high'."),
    ],
    ids=["has_clauses", "subject_is_officer", "no-subject", "field_is_true", "field_is_true-absent",
         "field_equals"],
)
def test_guards_refuse(definition: WorkflowDef, catalogues: Catalogues, facts: IncidentFacts,
                       values: dict[str, Any], reason: str) -> None:
    error = refused(definition, catalogues, state="checked", transition="escalate", role="director_of_comms",
                    facts=facts, values=values)
    assert error.reason == f"'Escalate' is not possible yet: {reason}"


def test_guards_pass(definition: WorkflowDef, catalogues: Catalogues) -> None:
    decision = run(definition, catalogues, state="checked", transition="escalate", role="director_of_comms",
                   values=ESCALATE, comment=None)
    assert decision.to_state == "done"


def test_checks_run_in_order_state_role_comment_fields_guards(
    definition: WorkflowDef, catalogues: Catalogues
) -> None:
    nothing = IncidentFacts()
    assert "cannot be taken now" in refused(definition, catalogues, state="checked", role="officer",
                                            comment=None, values={}, facts=nothing).reason
    assert "Your role" in refused(definition, catalogues, role="officer", comment=None, values={},
                                  facts=nothing).reason
    assert "needs a comment" in refused(definition, catalogues, comment=None, values={}, facts=nothing).reason
    assert "Check the form" in refused(definition, catalogues, values={}, facts=nothing).reason


# --- available --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "role", "keys"),
    [
        ("open", "comms", ["check", "abandon"]),
        ("open", "admin", ["check"]),
        ("open", "director_of_comms", []),
        ("open", "officer", []),
        ("checked", "admin", ["finish", "escalate"]),
        ("checked", "director_of_comms", ["escalate"]),
        ("checked", "comms", ["abandon"]),
        ("done", "admin", []),
        ("no_such_state", "admin", []),
    ],
)
def test_available_lists_only_transitions_for_the_role(definition: WorkflowDef, state: str, role: str,
                                                       keys: list[str]) -> None:
    offered = available(definition, state, role)
    assert [t.key for t in offered] == keys
    assert all(role in t.roles and state in t.from_states for t in offered)


# --- questionable: whitespace satisfies a required field ----------------------------------------


def test_a_required_text_field_of_spaces_is_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    text = (HERE / "good" / "minimal.yaml").read_text().replace(
        "    roles: [admin]\n", "    roles: [admin]\n    fields:\n      - key: reason\n        type: text\n")
    path = tmp_path / "minimal.yaml"
    path.write_text(text)
    definition = load_workflow_file(path, catalogues.known)
    with pytest.raises(TransitionNotAllowed):
        decide(definition, state="open", transition_key="finish", role="admin", facts=IncidentFacts(),
               raw_values={"reason": "   "}, comment=None, known_clause=catalogues.known)


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1850-06-01"])
def test_a_date_far_outside_any_real_case_is_refused_with_the_range(value: str) -> None:
    from app.workflow.definition import FieldDef
    from app.workflow.engine import _coerce

    with pytest.raises(ValueError, match="between 1900 and 2100"):
        _coerce(FieldDef(key="d", label="D", type="date"), value, lambda _key: True)
