"""Every kind of mistake in a workflow or catalogue file stops loading with the file, the line and a sentence.

Each fixture in ``broken/`` is ``good/minimal.yaml`` with one mistake, and the line holding the
mistake ends with the comment ``# <- mistake``; the tests read the expected line from there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.policy import Catalogues, load_catalogue, load_catalogues
from app.roles import ROLE_NAMES
from app.workflow.effects import EFFECTS as EFFECT_SPECS
from app.workflow.guards import GUARDS as GUARD_SPECS
from app.workflow.loader import load_workflow_dir, load_workflow_file
from app.workflow.source import DefinitionError

HERE = Path(__file__).resolve().parent
BROKEN = HERE / "broken"
GOOD = HERE / "good"
ROOT = HERE.parents[1]
WORKFLOWS = ROOT / "workflows"
POLICIES = WORKFLOWS / "policies"
MINIMAL = GOOD / "minimal.yaml"
MARKER = "# <- mistake"

# The lists at the end of some sentences name every registered role, guard and effect; they are
# taken from the registries so that registering a new effect does not break these tests.
ROLES = ", ".join(ROLE_NAMES)
GUARDS = ", ".join(sorted(GUARD_SPECS))
EFFECTS = ", ".join(sorted(EFFECT_SPECS))
FIELD_TYPES = "text, long_text, date, datetime, choice, clause_list, person, boolean"
UNITS = "use working days, hours, business hours, days, weeks, months or 'N months less 1 day'"


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return load_catalogues(POLICIES)


def marked_line(path: Path) -> int:
    lines = [n for n, text in enumerate(path.read_text().splitlines(), start=1) if MARKER in text]
    assert len(lines) == 1, f"{path.name} must mark exactly one line with {MARKER!r}"
    return lines[0]


# (fixture, how it is loaded, the sentence the user sees)
# "file": load_workflow_file on the fixture alone.
# "dir":  load_workflow_dir on the fixture plus good/minimal.yaml (cross-file checks happen only there).
CASES: list[tuple[str, str, str]] = [
    ("bad-yaml-syntax", "file", "is not valid YAML: mapping values are not allowed in this context"),
    ("python-tag", "file",
     "is not valid YAML: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("duplicate-mapping-key", "file", "the key 'open' appears twice here (first on line 6)"),
    ("unknown-top-level-key", "file",
     "the top level: Additional properties are not allowed ('module' was unexpected) "
     "(only the documented keys are allowed)"),
    ("missing-initial", "file", "the top level: 'initial' is a required property"),
    ("missing-required-key", "file", "transitions.0: 'to' is a required property"),
    ("unknown-state-in-to", "file", "transition 'finish' goes to the unknown state 'finished'"),
    ("unknown-state-in-from", "file", "transition 'finish' starts from the unknown state 'opened'"),
    ("initial-not-a-state", "file", "the initial state 'start' is not one of the states"),
    ("unreachable-state", "file", "the state 'orphan' cannot be reached from the initial state 'open'"),
    ("dead-end-state", "file", "the state 'stuck' is a dead end: it is not final and no transition leaves it"),
    ("no-way-to-finish", "file", "no final state can be reached from the state 'ping'"),
    ("no-final-state", "file", "no state is marked final, so no incident could ever be closed"),
    ("transition-from-final", "file",
     "transition 'reopen' leaves the final state 'done'; final states have no way out"),
    ("duplicate-transition-key", "file", "the transition key 'finish' is used twice (also on line 12)"),
    ("unknown-role", "file", f"unknown role 'superuser'; the roles are {ROLES}"),
    ("unknown-guard", "file", f"unknown guard 'app.workflow.guards._has_evidence'; the guards are {GUARDS}"),
    ("unknown-effect", "file", f"unknown effect 'os.system'; the effects are {EFFECTS}"),
    ("effect-missing-parameter", "file", "effect 'extend_deadline' needs the parameter 'by'"),
    ("effect-unknown-parameter", "file", "effect 'stop_deadline' has no parameter 'callback' (it takes: deadline)"),
    ("effect-undefined-deadline", "file",
     "effect 'stop_deadline' names the deadline 'respond', which this file does not define"),
    ("effect-unknown-field", "file",
     "effect 'record_outcome' names the field 'outcome', which this transition does not have"),
    ("unknown-field-type", "file",
     f"field 'amount' has the type 'number', which does not exist; use one of {FIELD_TYPES}"),
    ("choice-without-choices", "file",
     "field 'decision': 'choices' goes with type choice, and type choice needs them"),
    ("bad-deadline-duration", "file", f"bad duration: '2 fortnights': unknown unit 'fortnights'; {UNITS}"),
    ("bad-reminder-duration", "file", "bad duration: 'two hours': amount 'two' is not a whole number"),
    ("unknown-clause", "file", "the clause 'rcr:99.9' is not in any policy catalogue"),
    ("unknown-breach-transition", "file",
     "deadline 'reply' escalates by the transition 'give_up', which this file does not define"),
    ("unknown-linked-workflow", "dir",
     "opens a linked incident on the workflow 'formal-actions', which does not exist"),
    ("misnamed-file", "dir", "the file must be named after its key: minimal-renamed.yaml"),
]

# Where the app reports a different line from the one holding the mistake (see the report).
WRONG_LINE: dict[str, str] = {}  # cases whose reported line is known to be wrong (none now)


def load_fixture(name: str, how: str, catalogues: Catalogues) -> DefinitionError:
    path = BROKEN / f"{name}.yaml"
    with pytest.raises(DefinitionError) as caught:
        if how == "file":
            load_workflow_file(path, catalogues.known)
        else:
            load_workflow_dir([path, MINIMAL], catalogues.known)
    return caught.value


def test_the_good_fixture_and_the_shipped_set_load(catalogues: Catalogues) -> None:
    assert load_workflow_file(MINIMAL, catalogues.known).key == "minimal"
    shipped = load_workflow_dir(sorted(WORKFLOWS.glob("*.yaml")), catalogues.known)
    assert set(shipped) == {p.stem for p in WORKFLOWS.glob("*.yaml")}
    assert len(shipped) == 15  # 14 case workflows and the subject access request


def test_the_registered_names_read_as_documented() -> None:
    assert ROLES == "admin, comms, director_of_comms, press_office, officer, rep, regional_officer, auditor, contributor"
    assert GUARDS == "field_equals, field_is_true, has_clauses, has_evidence, has_fresh_capture, subject_is_officer"
    assert {"start_deadline", "stop_deadline", "open_linked", "notify_role", "notify_press_office"} <= set(EFFECT_SPECS)


def test_every_broken_fixture_has_a_case() -> None:
    assert {name for name, _, _ in CASES} == {p.stem for p in BROKEN.glob("*.yaml")}


@pytest.mark.parametrize(("name", "how", "message"), CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_refused_with_its_path_and_sentence(
    name: str, how: str, message: str, catalogues: Catalogues
) -> None:
    path = BROKEN / f"{name}.yaml"
    error = load_fixture(name, how, catalogues)
    assert error.path == str(path)
    assert error.message == message
    assert str(error) == f"{path}, line {error.line}: {message}"


@pytest.mark.parametrize(
    ("name", "how"),
    [
        pytest.param(name, how, marks=pytest.mark.xfail(strict=True, reason=WRONG_LINE[name]))
        if name in WRONG_LINE else pytest.param(name, how)
        for name, how, _ in CASES
    ],
    ids=[c[0] for c in CASES],
)
def test_broken_file_error_names_the_line_of_the_mistake(name: str, how: str, catalogues: Catalogues) -> None:
    error = load_fixture(name, how, catalogues)
    assert error.line == marked_line(BROKEN / f"{name}.yaml")


def test_cross_file_mistakes_pass_a_single_file_check(catalogues: Catalogues) -> None:
    """Links and file names are checked only when the set is loaded together."""
    assert load_workflow_file(BROKEN / "unknown-linked-workflow.yaml", catalogues.known).key
    assert load_workflow_file(BROKEN / "misnamed-file.yaml", catalogues.known).key == "minimal-renamed"


def test_a_link_to_an_existing_workflow_resolves(catalogues: Catalogues, tmp_path: Path) -> None:
    text = (BROKEN / "unknown-linked-workflow.yaml").read_text().replace("formal-actions", "minimal")
    linker = tmp_path / "unknown-linked-workflow.yaml"
    linker.write_text(text)
    loaded = load_workflow_dir([linker, MINIMAL], catalogues.known)
    assert set(loaded) == {"unknown-linked-workflow", "minimal"}


def test_two_files_with_one_key_are_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    (tmp_path / "minimal.yaml").write_text(MINIMAL.read_text())
    with pytest.raises(DefinitionError) as caught:
        load_workflow_dir([MINIMAL, tmp_path / "minimal.yaml"], catalogues.known)
    assert caught.value.path == str(tmp_path / "minimal.yaml")
    assert caught.value.message == f"the workflow key 'minimal' is also used by {MINIMAL}"


# --- nothing executable can be smuggled in -----------------------------------------------------


def minimal_with(tmp_path: Path, old: str, new: str) -> Path:
    text = MINIMAL.read_text()
    assert old in text
    path = tmp_path / "minimal.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_unknown_key_inside_a_transition_is_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    roles: [admin]\n", "    roles: [admin]\n    handler: app.cli:main\n")
    with pytest.raises(DefinitionError) as caught:
        load_workflow_file(path, catalogues.known)
    assert caught.value.message == (
        "transitions.0: Additional properties are not allowed ('handler' was unexpected) "
        "(only the documented keys are allowed)"
    )
    handler_line = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if "handler:" in line)
    assert caught.value.line == handler_line  # the line of the unknown key itself


def test_guard_with_a_parameter_it_does_not_take_is_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    path = minimal_with(
        tmp_path, "    roles: [admin]\n",
        "    roles: [admin]\n    guards:\n      - guard: has_evidence\n        expr: __import__('os')\n",
    )
    with pytest.raises(DefinitionError) as caught:
        load_workflow_file(path, catalogues.known)
    assert str(caught.value) == f"{path}, line 20: guard 'has_evidence' has no parameter 'expr' (it takes: none)"


# --- effects whose field has the wrong type (accepted today) ----------------------------------

FROM_TEXT_FIELD = """\
    fields:
      - key: when
        type: text
    effects:
      - effect: start_deadline
        deadline: reply
        from_field: when
"""


def test_start_deadline_from_a_text_field_is_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    roles: [admin]\n", "    roles: [admin]\n" + FROM_TEXT_FIELD)
    path.write_text(path.read_text().replace(
        "initial: open\n",
        "initial: open\ndeadlines:\n  reply:\n    title: Reply\n    duration: 5 days\n    why: A test.\n",
    ))
    with pytest.raises(DefinitionError):
        load_workflow_file(path, catalogues.known)


# --- policy catalogues ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unquoted-number",
         "clause 'number' must be quoted text (write \"2.10\", not 2.10, which YAML reads as 2.1)"),
        ("duplicate-clause", "clause 2.8 is listed twice in version 2024-01"),
    ],
)
def test_broken_catalogue_is_refused(name: str, message: str) -> None:
    path = BROKEN / "catalogues" / f"{name}.yaml"
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == marked_line(path)
    assert error.message == message
    assert str(error) == f"{path}, line {error.line}: {message}"


def test_workflow_citing_a_clause_is_checked_against_the_catalogues(tmp_path: Path) -> None:
    """The clause in unknown-clause.yaml becomes known once a catalogue defines it."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for source in POLICIES.glob("*.yaml"):
        (policies / source.name).write_text(source.read_text())
    rcr = policies / "rcr.yaml"
    rcr.write_text(rcr.read_text().replace('- number: "2.4"', '- number: "99.9"', 1))
    definition = load_workflow_file(BROKEN / "unknown-clause.yaml", load_catalogues(policies).known)
    assert definition.clauses == ("rcr:2.8", "rcr:99.9")


FIELD_EQUALS_TYPO = """\
    fields:
      - key: level
        type: choice
        choices: [low, high]
    guards:
      - guard: field_equals
        field: level
        value: hgih
"""


def test_field_equals_with_a_value_that_is_not_a_choice_is_refused(catalogues: Catalogues, tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    roles: [admin]\n", "    roles: [admin]\n" + FIELD_EQUALS_TYPO)
    with pytest.raises(DefinitionError):
        load_workflow_file(path, catalogues.known)
