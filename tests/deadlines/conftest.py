"""Shared set-up for the deadline tests: fixed clocks, a registry, and parsed workflow files reused.

``create_app`` parses the 13 shipped workflow files every time (about half a second); the tests here
build an app per test and database, so the parse is cached for the session, keyed on the folder and
the bytes of every file in it (a changed file gets a fresh parse).
"""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

import app.policy as policy_module
import app.workflow.registry as registry_module
from app.timing import LONDON


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def uk(*parts: int) -> datetime:
    """A wall-clock time in the UK (GMT or BST as the date requires)."""
    return datetime(*parts, tzinfo=LONDON)


def free_port() -> int:
    """A TCP port nobody is listening on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fingerprint(directory: Path) -> tuple[str, str]:
    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.glob("*.yaml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return str(directory.resolve()), digest.hexdigest()


@pytest.fixture(scope="session", autouse=True)
def _parse_workflows_once():
    real_registry, real_catalogues = registry_module.load_registry, policy_module.load_catalogues
    registries: dict = {}
    catalogues: dict = {}

    def load_catalogues(directory: Path):
        key = _fingerprint(directory)
        if key not in catalogues:
            catalogues[key] = real_catalogues(directory)
        return catalogues[key]

    def load_registry(directory: Path, cats):
        key = (_fingerprint(directory), id(cats))
        if key not in registries:
            registries[key] = real_registry(directory, cats)
        return registries[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(registry_module, "load_registry", load_registry)
    patch.setattr(policy_module, "load_catalogues", load_catalogues)
    yield
    patch.undo()


@pytest.fixture
def registry(app):
    return app.extensions["breachdesk.workflows"]
