"""Shared set-up for the deadline tests: fixed clocks and the registry."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

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


@pytest.fixture
def registry(app):
    return app.extensions["breachdesk.workflows"]
