"""``app.services.bulk``: the bulk inserts write exactly what SQLAlchemy's own executemany writes.

On SQLite ``executemany`` compiles the INSERT itself and passes each row through the columns' bind processors
and Python defaults to the driver; these tests write the same rows both ways and compare them as stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.models import Incident, Person
from app.services.bulk import STAGED_FROM_ROWS, executemany, insert_rows

OPENED = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night the clocks change in the UK


def _incident_rows(prefix: str) -> list[dict[str, object]]:
    # Only some columns given: the rest come from the model's defaults (severity, calendar, fields, restricted,
    # version, the timestamps), as in the import's batches. ``summary`` None, ``fields`` given in one row.
    return [{"reference": f"{prefix}-{n}", "kind": "reported_post", "title": f"Title {n} <b>&</b>", "summary": None,
             "side": "college", "workflow_key": "problem-solving", "workflow_version": "1", "state": "logged",
             "created_at": OPENED + timedelta(minutes=n), **({"fields": {"a": [1, "é"]}} if n else {})}
            for n in range(2)]


def _stored(db, prefix: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = db.execute(select(Incident.__table__).where(Incident.reference.like(f"{prefix}-%"))
                      .order_by(Incident.reference)).mappings().all()
    return [{k: v for k, v in row.items() if k not in ("id", "reference", "state_entered_at", "updated_at")}
            for row in rows]


def test_executemany_writes_what_sqlalchemy_writes(db):
    rows = _incident_rows("OURS")
    # Rows of the same keys: the second row's fields differ from the first's, so each key set goes separately.
    for same_keys in ([rows[0]], [rows[1]]):
        executemany(db, Incident.__table__, same_keys)
    for same_keys in ([r] for r in _incident_rows("THEIRS")):
        db.execute(insert(Incident.__table__), same_keys)
    db.flush()

    ours, theirs = _stored(db, "OURS"), _stored(db, "THEIRS")
    assert ours == theirs and len(ours) == 2
    assert ours[0]["fields"] == {} and ours[1]["fields"] == {"a": [1, "é"]}
    assert ours[0]["severity"] == "medium" and ours[0]["version"] == 1 and ours[0]["restricted"] is False
    assert ours[0]["created_at"] == OPENED and ours[0]["created_at"].tzinfo is not None
    defaulted = db.scalars(select(Incident.state_entered_at).where(Incident.reference.like("OURS-%"))).all()
    assert all(moment is not None and moment.tzinfo is not None for moment in defaulted), "a callable default"


def test_insert_rows_writes_what_sqlalchemy_writes(db):
    # On PostgreSQL insert_rows hands the driver its own statement and parameters (bulk._returning_ids): the same
    # defaults, dates and JSON as SQLAlchemy's own INSERT must arrive.
    for same_keys in ([r] for r in _incident_rows("OURS")):
        assert len(insert_rows(db, Incident.__table__, same_keys)) == 1
    for same_keys in ([r] for r in _incident_rows("THEIRS")):
        db.execute(insert(Incident.__table__), same_keys)
    db.flush()
    ours, theirs = _stored(db, "OURS"), _stored(db, "THEIRS")
    assert ours == theirs and len(ours) == 2
    assert ours[1]["fields"] == {"a": [1, "é"]} and ours[0]["created_at"] == OPENED


def test_insert_rows_returns_the_new_ids_in_order(db):
    people = [{"name": f"Person {n}"} for n in range(5)]
    ids = insert_rows(db, Person.__table__, people)
    assert len(ids) == 5 and ids == sorted(ids)
    names = dict(db.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).tuples().all())
    assert [names[i] for i in ids] == [p["name"] for p in people]
    roles = db.scalars(select(Person.role).where(Person.id.in_(ids))).all()
    assert set(roles) == {"contributor"}, "the model's scalar default"


def test_rows_with_different_keys_are_written_as_sqlalchemy_writes_them(db):
    # SQLAlchemy's executemany takes its columns from the first row (a later row's extra key is not written);
    # such rows take that path unchanged.
    executemany(db, Person.__table__, [{"name": "Ours, a name"}, {"name": "Ours, a role", "role": "officer"}])
    db.execute(insert(Person.__table__), [{"name": "Theirs, a name"}, {"name": "Theirs, a role", "role": "officer"}])
    db.flush()
    stored = dict(db.execute(select(Person.name, Person.role).where(Person.name.like("%, a %"))).tuples().all())
    assert {k.split(", ")[1]: v for k, v in stored.items() if k.startswith("Ours")} == \
        {k.split(", ")[1]: v for k, v in stored.items() if k.startswith("Theirs")}


def test_values_land_in_their_own_columns_whatever_the_order_of_a_rows_keys(db):
    # The statement lists the table's columns in its own order; the row's keys come in the caller's order, and the
    # defaulted columns (role, created_at) fall between them.
    executemany(db, Person.__table__, [{"notes": "Ours, notes", "office": "Ours, office", "name": "Ours, reversed"}])
    executemany(db, Person.__table__, [{"name": "Ours, alone"}])
    db.flush()
    reversed_row = db.execute(select(Person.name, Person.office, Person.notes, Person.role, Person.created_at)
                              .where(Person.name == "Ours, reversed")).one()
    assert reversed_row[:4] == ("Ours, reversed", "Ours, office", "Ours, notes", "contributor")
    assert reversed_row.created_at is not None and reversed_row.created_at.tzinfo is not None
    assert db.scalar(select(Person.role).where(Person.name == "Ours, alone")) == "contributor"


def test_a_refused_row_raises_sqlalchemys_error_and_the_session_goes_on(db):
    # On PostgreSQL the rows go through the driver's own call; its error must still arrive as SQLAlchemy's, which
    # the worker and the commands handle, and leave the session usable once rolled back.
    with pytest.raises(IntegrityError):
        insert_rows(db, Person.__table__, [{"name": "Fine"}, {"name": None}])  # people.name is NOT NULL
    db.rollback()
    assert len(insert_rows(db, Person.__table__, [{"name": "After the rollback"}])) == 1


def _many_incident_rows(prefix: str, count: int = STAGED_FROM_ROWS + 4) -> list[dict[str, object]]:
    # Values a column's type converts on the way in (digits in a text column, JSON, a moment), so that a staged row
    # must arrive exactly as a direct INSERT would store it.
    return [{"reference": f"{prefix}-{n:03d}", "kind": "reported_post", "title": f"00{n}", "summary": "1.50",
             "side": "college", "workflow_key": "problem-solving", "workflow_version": "1", "state": "logged",
             "created_at": OPENED + timedelta(minutes=n), "fields": {"n": n, "text": "0012"}} for n in range(count)]


def test_a_large_batch_goes_through_one_copy_and_writes_what_sqlalchemy_writes(db, dialect):
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    if dialect == "postgresql":  # no staging table left on this connection by anything before
        from sqlalchemy import text

        db.execute(text("DISCARD TEMP"))
    event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        executemany(db, Incident.__table__, _many_incident_rows("OURS"))
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)
    db.execute(insert(Incident.__table__), _many_incident_rows("THEIRS"))
    db.flush()

    ours, theirs = _stored(db, "OURS"), _stored(db, "THEIRS")
    assert ours == theirs and len(ours) == STAGED_FROM_ROWS + 4
    assert (ours[1]["title"], ours[1]["summary"], ours[1]["fields"]) == ("001", "1.50", {"n": 1, "text": "0012"})
    into_incidents = [s for s in statements if s.split("(")[0].split()[2:] in (["incidents"], ["main.incidents"])]
    if dialect == "postgresql":  # the driver's own calls, which cursor events do not see: its staging table did
        from sqlalchemy import text

        assert db.scalar(text("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() "
                              "AND relname LIKE 'bulk_incidents_%'")) == 1
    if dialect == "sqlite":  # one statement for the batch, which still runs the table's triggers for every row
        assert len(into_incidents) == 1 and " SELECT " in into_incidents[0]
        from sqlalchemy import text

        found = db.scalar(text("SELECT count(*) FROM incidents_fts WHERE incidents_fts MATCH '\"0019\"'"))
        assert found == 2  # OURS-019 and THEIRS-019, each indexed by the insert trigger


def test_large_batches_return_their_ids_in_order_and_each_leaves_nothing_behind(db):
    first = [{"name": f"First {n:03d}"} for n in range(STAGED_FROM_ROWS * 2)]
    second = [{"name": f"Second {n:03d}"} for n in range(STAGED_FROM_ROWS)]
    first_ids = insert_rows(db, Person.__table__, first)
    second_ids = insert_rows(db, Person.__table__, second)
    assert first_ids == sorted(first_ids) and second_ids == sorted(second_ids) and first_ids[-1] < second_ids[0]
    names = dict(db.execute(select(Person.id, Person.name).where(Person.id.in_(first_ids + second_ids))).tuples().all())
    assert [names[i] for i in first_ids + second_ids] == [p["name"] for p in first + second]


def test_a_refused_large_batch_leaves_nothing_behind_for_the_next_one(db, dialect):
    # SQLite undoes only the failed statement: a caller may go on in the same transaction, and the refused batch's
    # rows must not be copied in with the next batch. (PostgreSQL ends the transaction at its first error.)
    refused = [{"name": f"Refused {n:03d}"} for n in range(STAGED_FROM_ROWS)] + [{"name": None}]
    with pytest.raises(IntegrityError):
        insert_rows(db, Person.__table__, refused)  # people.name is NOT NULL
    if dialect == "postgresql":
        db.rollback()
    after = [{"name": f"After {n:03d}"} for n in range(STAGED_FROM_ROWS)]
    ids = insert_rows(db, Person.__table__, after)
    stored = db.scalars(select(Person.name).where(Person.name.like("Refused%") | Person.name.like("After%"))
                        .order_by(Person.id)).all()
    assert stored == [p["name"] for p in after] and len(ids) == len(after)


def test_ids_follow_their_rows_in_batches_of_every_size_across_transactions(db):
    # PostgreSQL writes a staged batch's rows where its free space map says, not always in the order they were copied
    # (rows of varied length, a staging table emptied in an earlier transaction): the ids are given to the rows before
    # they are written, never read back in the order the table happens to store them.
    import random

    rng = random.Random(7)
    for batch in range(6):
        people = [{"name": f"Batch {batch} person {n:03d}", "notes": "word " * rng.randrange(5, 1500)}
                  for n in range(300)]
        ids = insert_rows(db, Person.__table__, people)
        assert ids == sorted(ids)
        names = dict(db.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).tuples().all())
        assert [names[i] for i in ids] == [p["name"] for p in people], f"batch {batch}"
        # Without ids asked for, the rows still take the table's ids in the order they were given.
        more = [{"name": f"Batch {batch} more {n:03d}", "notes": "word " * rng.randrange(5, 1500)} for n in range(300)]
        executemany(db, Person.__table__, more)
        stored = db.scalars(select(Person.name).where(Person.name.like(f"Batch {batch} more %"))
                            .order_by(Person.id)).all()
        assert stored == [p["name"] for p in more], f"batch {batch}"
        if batch % 2:
            db.commit()
