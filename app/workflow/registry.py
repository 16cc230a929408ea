"""The loaded workflows: the current file for each key, and older versions incidents still run on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.workflow.definition import WorkflowDef
from app.workflow.loader import load_workflow_dir, load_workflow_file
from app.workflow.source import DefinitionError

if TYPE_CHECKING:
    from app.policy import Catalogues

# Looks up the stored source of an older version (the database keeps every version used).
SourceLookup = Callable[[str, str], "str | None"]


class UnknownWorkflow(KeyError):
    pass


class WorkflowRegistry:
    def __init__(self, current: dict[str, WorkflowDef], catalogues: Catalogues) -> None:
        self.current = current
        self.catalogues = catalogues
        self._older: dict[tuple[str, str], WorkflowDef] = {}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.current.values(), key=lambda w: w.title))

    def __contains__(self, key: object) -> bool:
        return key in self.current

    def get(self, key: str) -> WorkflowDef:
        try:
            return self.current[key]
        except KeyError:
            raise UnknownWorkflow(key) from None

    def version(self, key: str, version: str, lookup: SourceLookup) -> WorkflowDef:
        """The definition an incident runs on: the current file, or its stored older version."""
        current = self.get(key)
        if current.version == version:
            return current
        cached = self._older.get((key, version))
        if cached is None:
            text = lookup(key, version)
            if text is None:
                raise UnknownWorkflow(f"{key} version {version}")
            cached = load_workflow_file(Path(f"{key}@{version}.yaml"), self.catalogues.known, text=text)
            self._older[(key, version)] = cached
        return cached


def load_registry(directory: Path, catalogues: Catalogues) -> WorkflowRegistry:
    if not directory.is_dir():
        raise DefinitionError(directory, None, "the workflows folder does not exist")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DefinitionError(directory, None, "holds no workflow files (*.yaml)")
    return WorkflowRegistry(load_workflow_dir(files, catalogues.known), catalogues)
