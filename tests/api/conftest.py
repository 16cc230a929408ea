"""Helpers for the API tests: a user with a bearer token, and a client that sends it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Incident, User
from app.services.incidents import OpenRequest, open_incident
from app.services.tokens import create_token


@dataclass
class Api:
    """A test client that authenticates as one user with a bearer token."""

    client: FlaskClient
    user: User
    token: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers(headers), **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
             **kw: Any):
        if json is not None:
            kw["json"] = json
        return self.client.post(path, headers=self.headers(headers), **kw)


def token_for(session: Session, user: User, name: str = "test") -> str:
    _row, token = create_token(session, user=user, name=name)
    session.commit()
    return token


@pytest.fixture
def api_as(app, db, make):  # type: ignore[no-untyped-def]
    """``api_as("comms", team="communications")`` -> an Api for a new user with that role."""

    def build(role: str = "comms", user: User | None = None, **kw: Any) -> Api:
        user = user or make.user(role, **kw)
        user = db.get(User, user.id)
        return Api(app.test_client(), user, token_for(db, user))

    return build


@pytest.fixture
def registry(app):  # type: ignore[no-untyped-def]
    return app.extensions["breachdesk.workflows"]


@pytest.fixture
def open_case(db, registry):  # type: ignore[no-untyped-def]
    """Open an incident directly through the service (as the web would) and commit it."""

    def build(workflow: str, actor: User, **kw: Any) -> Incident:
        kw.setdefault("title", f"{workflow} case")
        incident = open_incident(db, registry, OpenRequest(workflow_key=workflow, **kw), actor=actor,
                                 check_role=False)
        db.commit()
        return incident

    return build


def audit_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def incident_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Incident)) or 0
