"""The migrations build exactly the schema the models describe, on both databases."""

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db as database
from app.models import Base
from app.services.search import include_object
from tests.conftest import _migrate


def test_models_and_migrations_agree(app):
    # The session-scoped database was built by running every migration (see conftest._migrate). SQLAlchemy
    # cannot reflect the expression index of 0015 (include_object leaves it out) and says so: expected here.
    with warnings.catch_warnings(), database.engine.connect() as connection:
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index "
                                "ix_incidents_sample")
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "include_object": include_object})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"autogenerate would change: {differences}"


def test_migrations_start_the_audit_chain_at_genesis(app, db):
    from app.models import AuditChainHead

    head = db.get(AuditChainHead, 1)
    assert head is not None and head.last_hash == "0" * 64


def _audit_schema(path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every index and trigger on audit_events, and every trigger elsewhere that names it, by name."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        return dict(connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('index', 'trigger') "
            "AND (tbl_name = 'audit_events' OR sql LIKE '%audit_events%')").fetchall())


def _insert_audit_row(path, row_id: int, row_hash: str) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO audit_events (id, at, actor_label, action, comment, data, prev_hash, hash) "
            "VALUES (?, '2026-12-06 10:00:00.000000', 'system', 'user.note', ?, '{}', ?, ?)",
            (row_id, f"note {row_id} about the hearing", "0" * 64, row_hash))


def test_0030_drops_the_audit_hashs_unique_key_on_sqlite_keeping_rows_indexes_and_triggers(tmp_path):
    import sqlite3

    path = tmp_path / "rebuild.sqlite3"
    url = f"sqlite:///{path}"
    _migrate(url, "0029")
    _insert_audit_row(path, 1, "a" * 64)
    before = _audit_schema(path)
    assert "notes_fts_ai" in before and "ix_audit_events_incident_id_id" in before and "removal_counts_audit_ai" in before

    _migrate(url, "0030")
    # The same indexes and triggers (the tests of searching notes show the comment-search trigger firing on it).
    assert _audit_schema(path) == before
    _insert_audit_row(path, 2, "a" * 64)  # the same hash: no longer refused
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT id, comment FROM audit_events ORDER BY id").fetchall() == [
            (1, "note 1 about the hearing"), (2, "note 2 about the hearing")]
        connection.execute("DELETE FROM audit_events WHERE id = 2")

    _migrate(url, "0029", down=True)
    assert _audit_schema(path) == before
    with pytest.raises(sqlite3.IntegrityError, match="audit_events.hash"):
        _insert_audit_row(path, 3, "a" * 64)
