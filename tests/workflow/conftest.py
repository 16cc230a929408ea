"""Shared helpers for the workflow tests.

Parsing the 13 shipped workflow files costs about 0.3 s (PyYAML's pure-Python loader, run twice
per file by ``app.workflow.source.load_document``), and ``create_app`` does it for every test that
asks for ``app``. The walk-every-transition test has ~180 cases per database, so here the parsed
registry and catalogues are reused across tests. The cache is keyed on the folder *and the bytes of
every file in it*, so a test that loads a changed copy of the workflows gets a fresh parse, and
the patch is undone when the tests in this folder are done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.policy as policy_module
import app.workflow.registry as registry_module


def _fingerprint(directory: Path) -> tuple[str, str]:
    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.glob("*.yaml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return str(directory.resolve()), digest.hexdigest()


@pytest.fixture(scope="package", autouse=True)
def _reuse_parsed_definitions() -> Iterator[None]:
    real_registry = registry_module.load_registry
    real_catalogues = policy_module.load_catalogues
    registries: dict[tuple[tuple[str, str], int], registry_module.WorkflowRegistry] = {}
    catalogues: dict[tuple[str, str], policy_module.Catalogues] = {}

    def load_catalogues(directory: Path) -> policy_module.Catalogues:
        key = _fingerprint(directory)
        if key not in catalogues:
            catalogues[key] = real_catalogues(directory)
        return catalogues[key]

    def load_registry(directory: Path, cats: policy_module.Catalogues) -> registry_module.WorkflowRegistry:
        key = (_fingerprint(directory), id(cats))
        if key not in registries:
            registries[key] = real_registry(directory, cats)
        return registries[key]

    mp = pytest.MonkeyPatch()
    mp.setattr(registry_module, "load_registry", load_registry)
    mp.setattr(policy_module, "load_catalogues", load_catalogues)
    yield
    mp.undo()
