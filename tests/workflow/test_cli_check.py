"""``breachdesk workflows check`` and ``workflows show``, run as a person at a terminal would run them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from app.policy import load_catalogues
from app.workflow.loader import load_workflow_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")
BROKEN = HERE / "broken"
SHIPPED = sorted((ROOT / "workflows").glob("*.yaml"))
CATALOGUES = sorted((ROOT / "workflows" / "policies").glob("*.yaml"))


@pytest.fixture
def breachdesk(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    # A database file that has never been migrated: neither command needs tables.
    env["BREACHDESK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["BREACHDESK_SECRET_KEY"] = "workflow-cli-test"  # so nothing is written to instance/
    env["BREACHDESK_EVIDENCE_PATH"] = str(tmp_path / "evidence")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BREACHDESK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    return run


def test_check_passes_the_shipped_set(breachdesk) -> None:  # type: ignore[no-untyped-def]
    result = breachdesk("workflows", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{len(SHIPPED)} workflow file(s) OK; {len(CATALOGUES)} policy catalogue(s) OK.\n"
    assert result.stderr == ""


def test_check_accepts_a_folder_and_single_files(breachdesk) -> None:  # type: ignore[no-untyped-def]
    folder = breachdesk("workflows", "check", "workflows")
    assert folder.returncode == 0, folder.stderr
    assert folder.stdout.startswith(f"{len(SHIPPED)} workflow file(s) OK;")
    one = breachdesk("workflows", "check", str(HERE / "good" / "minimal.yaml"))
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("1 workflow file(s) OK;")


def test_a_new_file_may_link_to_a_shipped_workflow(breachdesk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    linker = tmp_path / "unknown-linked-workflow.yaml"
    linker.write_text((BROKEN / "unknown-linked-workflow.yaml").read_text().replace("formal-actions", "formal-action"))
    result = breachdesk("workflows", "check", str(linker))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("bad-yaml-syntax", 7, "is not valid YAML: mapping values are not allowed in this context"),
        ("unknown-state-in-to", 15, "transition 'finish' goes to the unknown state 'finished'"),
        ("effect-unknown-parameter", 25, "effect 'stop_deadline' has no parameter 'callback' (it takes: deadline)"),
        ("unknown-linked-workflow", 19,
         "opens a linked incident on the workflow 'formal-actions', which does not exist"),
    ],
)
def test_check_fails_with_file_line_and_sentence(breachdesk, name: str, line: int, message: str) -> None:  # type: ignore[no-untyped-def]
    path = BROKEN / f"{name}.yaml"
    result = breachdesk("workflows", "check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"breachdesk: {path}, line {line}: {message}\n"


def test_check_names_the_first_broken_file_of_a_folder(breachdesk) -> None:  # type: ignore[no-untyped-def]
    result = breachdesk("workflows", "check", str(BROKEN))
    assert result.returncode == 1
    assert re.fullmatch(rf"breachdesk: {re.escape(str(BROKEN))}/[a-z-]+\.yaml, line \d+: .+\n", result.stderr)


def test_check_of_a_missing_file_says_so(breachdesk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nowhere.yaml"
    result = breachdesk("workflows", "check", str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith(f"breachdesk: {missing}: cannot be read: ")


def test_show_prints_states_and_transitions(breachdesk) -> None:  # type: ignore[no-untyped-def]
    result = breachdesk("workflows", "show", "content-removal")
    assert result.returncode == 0, result.stderr
    definition = load_workflow_file(ROOT / "workflows" / "content-removal.yaml",
                                    load_catalogues(ROOT / "workflows" / "policies").known)
    lines = result.stdout.splitlines()
    assert lines[0] == f"Content removal request (content-removal, version {definition.version}, college side)"
    assert "States:" in lines and "Transitions:" in lines and "Deadlines:" in lines
    states = lines[lines.index("States:") + 1:lines.index("Transitions:") - 1]
    assert [line.split()[0] for line in states] == list(definition.states)
    assert any(line.split()[0] == definition.initial and line.endswith("[start]") for line in states)
    for final in definition.final_states:
        assert any(line.split()[0] == final and "final" in line for line in states)
    for transition in definition.transitions.values():
        assert (f"  {transition.key:<28} {', '.join(transition.from_states)} -> {transition.to}   "
                f"roles: {', '.join(transition.roles)}") in lines
    assert "      field requested_via (choice, required)" in lines
    assert "      field patient_info (boolean)" in lines
    assert any(line.split()[:3] == ["comply", "24", "hours"] for line in lines)


def test_show_of_an_unknown_workflow_lists_the_known_ones(breachdesk) -> None:  # type: ignore[no-untyped-def]
    result = breachdesk("workflows", "show", "content-removals")
    assert result.returncode == 1
    known = ", ".join(sorted(p.stem for p in SHIPPED))
    assert result.stderr == f"breachdesk: no workflow 'content-removals'; known: {known}\n"


def test_check_of_two_files_with_the_same_name_checks_both(breachdesk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "minimal.yaml"
    broken.write_text((BROKEN / "unknown-state-in-to.yaml").read_text()
                      .replace("key: unknown-state-in-to", "key: minimal"))
    result = breachdesk("workflows", "check", str(broken), str(HERE / "good" / "minimal.yaml"))
    assert result.returncode == 1, result.stdout
    assert result.stderr == (f"breachdesk: {broken}, line 15: "
                             "transition 'finish' goes to the unknown state 'finished'\n")
