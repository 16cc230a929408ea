"""A request that loses to another writer at the database — PostgreSQL breaking a deadlock, SQLite still locked when
its busy timeout runs out — is told so and asked to try again: a 409, nothing saved, never a 500."""

import sqlite3
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from app.errors import CONCURRENT_WRITE_API_MESSAGE, lost_to_concurrent_write
from app.extensions import db as database
from app.models import AuditEvent, Incident, User
from app.services.incidents import OpenRequest, open_incident
from tests.api.conftest import token_for
from tests.concurrent_writer import beside_another_writer
from tests.conftest import csrf_token, login


def _deadlocked(incident_id: int, send: Callable[[], object]) -> object:
    """``send()`` — a request that moves the incident — while another transaction holds the audit chain head and,
    once the request is waiting for that head, asks for the incident's row, which the request has already locked.
    Each waits for the other, and PostgreSQL fails the request's transaction."""
    return beside_another_writer("SELECT last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE",
                                 "UPDATE incidents SET title = title WHERE id = :id", {"id": incident_id}, send)


def _untouched(db, incident_id: int) -> None:
    db.expire_all()
    assert db.get(Incident, incident_id).version == 1
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.incident_id == incident_id, AuditEvent.action == "incident.transition")) == 0


def _reported_post(app, db, make) -> tuple[User, int]:  # type: ignore[no-untyped-def]
    user = make.user("comms", team="communications")
    incident = open_incident(db, app.extensions["breachdesk.workflows"],
                             OpenRequest(workflow_key="problem-solving", title="A post"), actor=user)
    db.commit()
    return user, incident.id


@pytest.fixture
def postgresql_only(dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite's writers take the whole database in turn (BEGIN IMMEDIATE): they never deadlock")


def test_a_transition_caught_in_a_deadlock_is_told_to_try_again_and_saves_nothing(
        app, db, client, make, postgresql_only):
    user, incident_id = _reported_post(app, db, make)
    login(client, user)
    token = csrf_token(client, f"/incidents/{incident_id}")

    response = _deadlocked(incident_id, lambda: client.post(
        f"/incidents/{incident_id}/transitions/close_no_breach",
        data={"close_no_breach-csrf_token": token, "close_no_breach-version": "1",
              "close_no_breach-comment": "Not a breach"}))

    assert response.status_code == 409
    assert "nothing was saved" in response.get_data(as_text=True)
    _untouched(db, incident_id)


def test_an_api_transition_caught_in_a_deadlock_answers_409_and_saves_nothing(app, db, make, postgresql_only):
    user, incident_id = _reported_post(app, db, make)
    headers = {"Authorization": f"Bearer {token_for(db, user)}"}
    client = app.test_client()

    response = _deadlocked(incident_id, lambda: client.post(
        f"/api/v1/incidents/{incident_id}/transitions", headers=headers,
        json={"transition": "close_no_breach", "version": 1, "comment": "Not a breach"}))

    assert response.status_code == 409
    assert response.get_json() == {"error": "write_conflict", "message": CONCURRENT_WRITE_API_MESSAGE}
    _untouched(db, incident_id)


def _refusal(engine, statement: str) -> DBAPIError:
    with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        connection.exec_driver_sql(statement)
    return raised.value


def test_sqlite_still_locked_after_its_busy_timeout_is_another_writer_and_a_typo_is_not(tmp_path):
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        assert lost_to_concurrent_write(_refusal(engine, "INSERT INTO t VALUES (1)"))
        assert not lost_to_concurrent_write(_refusal(engine, "INSERT INTO no_such_table VALUES (1)"))
        assert not lost_to_concurrent_write(ValueError("database is locked"))
    finally:
        engine.dispose()
        holder.close()


def test_on_postgresql_a_lock_not_waited_for_is_another_writer_and_a_broken_rule_or_a_timeout_is_not(
        app, db, postgresql_only):
    engine = database.engine
    with engine.connect() as holder, engine.connect() as other:
        holder.execute(text("SELECT last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"))
        other.exec_driver_sql("SET lock_timeout = '50ms'")
        with pytest.raises(DBAPIError) as waited:
            other.execute(text("SELECT last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"))
        assert lost_to_concurrent_write(waited.value)  # 55P03: the lock another transaction held
        holder.rollback()
        other.rollback()
        other.exec_driver_sql("SET statement_timeout = '50ms'")
        with pytest.raises(DBAPIError) as slow:
            other.exec_driver_sql("SELECT pg_sleep(1)")
        assert not lost_to_concurrent_write(slow.value)  # 57014: too slow, not a clash with another writer
        other.rollback()
    assert not lost_to_concurrent_write(_refusal(engine, "INSERT INTO incidents (id) VALUES (NULL)"))
