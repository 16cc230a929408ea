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


def _every_trigger() -> list[tuple[str, str, str]]:
    """(name, table, definition) of every trigger of the test database, as the database gives them back."""
    from sqlalchemy import text

    every_trigger = ("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
                     if database.dialect == "sqlite" else
                     "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")
    with database.engine.connect() as connection:
        return [(name, table, definition) for name, table, definition in connection.execute(text(every_trigger))]


def _revision(revision: str):  # type: ignore[no-untyped-def]
    """A migration's module, as Alembic loads it from the project's script directory."""
    from alembic.script import ScriptDirectory

    from app.cli import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision).module


# The triggers 0032 rewrites, by name -> table.
COUNTING_UPDATE_TRIGGERS: dict[str, str] = _revision("0032").COUNTING_UPDATE_TRIGGERS


def test_every_counting_trigger_on_update_names_the_columns_its_when_clause_compares(app):
    # Each acts only when one of those columns differs, so an UPDATE that sets none of them (the sweep's
    # breached_at marks) leaves it out; the columns are those of the comparisons, in the clause's order.
    definitions = {name: sql for name, _table, sql in _every_trigger() if name in COUNTING_UPDATE_TRIGGERS}
    assert set(definitions) == set(COUNTING_UPDATE_TRIGGERS)
    assert "AFTER UPDATE OF status, due_at, incident_id ON " in definitions["due_counts_deadline_au"]
    assert "AFTER UPDATE OF status, finished_at, due_at, key, incident_id ON " in definitions[
        "press_counts_deadline_au"]
    assert "AFTER UPDATE OF status, finished_at, started_at, key, incident_id ON " in definitions[
        "removal_counts_deadline_au"]
    assert ("AFTER UPDATE OF created_at, closed_at, workflow_key, state, case_file_id, restricted, side, team_id ON "
            in definitions["incident_counts_au"])
    assert "AFTER UPDATE OF role ON " in definitions["sanction_counts_pu"]
    assert all(" AFTER UPDATE ON " not in definition for definition in definitions.values())


def test_no_before_update_trigger_changes_a_counted_table(app):
    # The counting triggers fire on UPDATE OF the columns they compare (0032); on PostgreSQL a BEFORE UPDATE trigger
    # that changed one of those columns without the UPDATE naming it would leave them out.
    triggers = _every_trigger()
    counted_tables = set(COUNTING_UPDATE_TRIGGERS.values())
    assert set(COUNTING_UPDATE_TRIGGERS) <= {name for name, _table, _sql in triggers}
    assert [name for name, table, sql in triggers if table in counted_tables and "BEFORE UPDATE" in sql.upper()] == []


def test_0032_keeps_the_counting_triggers_out_of_an_update_of_other_columns_and_downgrades_to_the_same_sql(
        tmp_path):
    import sqlite3

    path = tmp_path / "triggers.sqlite3"
    url = f"sqlite:///{path}"
    _migrate(url, "0031")

    def triggers() -> dict[str, str]:
        with sqlite3.connect(path) as connection:
            return dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())

    def programs_run_by(update: str) -> int:
        """How many trigger programs SQLite codes into the statement (EXPLAIN's Program opcodes)."""
        with sqlite3.connect(path) as connection:
            return sum(1 for row in connection.execute(f"EXPLAIN {update}") if row[1] == "Program")

    mark = "UPDATE deadlines SET breached_at = '2026-12-06 10:00:00' WHERE id = 1"
    move = "UPDATE deadlines SET due_at = '2026-12-09 10:00:00' WHERE id = 1"
    meet = "UPDATE deadlines SET status = 'met' WHERE id = 1"
    before = triggers()
    assert programs_run_by(mark) == programs_run_by(move) == programs_run_by(meet) == 3

    _migrate(url, "0032")
    assert programs_run_by(mark) == 0, "no count reads breached_at"
    assert programs_run_by(move) == 2, "the counts by due time (running, press) follow a deadline moved"
    assert programs_run_by(meet) == 3, "every count of deadlines follows one that stops"
    after = triggers()
    assert {name for name in before if before[name] != after[name]} == set(COUNTING_UPDATE_TRIGGERS)

    _migrate(url, "0031", down=True)
    assert triggers() == before
