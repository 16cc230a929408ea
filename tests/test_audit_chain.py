"""The audit trail is append-only and any quiet edit, deletion or insertion is detected."""

import pytest
from sqlalchemy import text

from app.models import AuditEvent
from app.services import audit


def _write_rows(db, make, count=5):
    actor = make.user("admin")
    for n in range(count):
        audit.record(db, actor=actor, action="test.event", data={"n": n})
    db.commit()


def test_an_untouched_chain_verifies(app, db, make):
    _write_rows(db, make)
    assert audit.verify_chain(db) is None


def test_altering_a_row_is_detected_and_named(app, db, make):
    _write_rows(db, make)
    target = db.query(AuditEvent).order_by(AuditEvent.id).all()[2]
    db.execute(text("UPDATE audit_events SET comment = 'rewritten' WHERE id = :id"), {"id": target.id})
    db.commit()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.event_id == target.id and "altered" in problem.reason


def test_deleting_a_row_is_detected(app, db, make):
    _write_rows(db, make)
    ids = [e.id for e in db.query(AuditEvent).order_by(AuditEvent.id)]
    db.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[2]})
    db.commit()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.event_id == ids[3] and "removed or inserted" in problem.reason


def test_deleting_the_newest_row_is_detected(app, db, make):
    _write_rows(db, make)
    last = db.query(AuditEvent).order_by(AuditEvent.id.desc()).first().id
    db.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last})
    db.commit()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.event_id is None


def test_inserting_a_forged_row_is_detected(app, db, make):
    _write_rows(db, make)
    rows = db.query(AuditEvent).order_by(AuditEvent.id).all()
    forged_id = rows[-1].id + 100
    db.execute(text(
        "INSERT INTO audit_events (id, at, actor_label, action, data, prev_hash, hash) "
        "VALUES (:id, :at, 'mallory', 'incident.viewed', '{}', :prev, :hash)"),
        {"id": forged_id, "at": rows[-1].at.replace(tzinfo=None), "prev": rows[-1].hash, "hash": "f" * 64})
    db.commit()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.event_id == forged_id




def test_the_application_refuses_to_change_or_delete_audit_rows(app, db, make):
    from app.services.audit import AuditTamperingRefused

    _write_rows(db, make, count=2)
    row = db.query(AuditEvent).first()
    row.comment = "quietly edited"
    with pytest.raises(AuditTamperingRefused):
        db.flush()
    db.rollback()
    db.delete(db.query(AuditEvent).first())
    with pytest.raises(AuditTamperingRefused):
        db.flush()
    db.rollback()
    assert audit.verify_chain(db) is None


def test_rows_of_one_transaction_extend_the_chain_in_turn_even_across_a_rolled_back_savepoint(app, db, make):
    """A transaction locks the chain head once and reuses it for its later rows; a savepoint that wrote a row and
    was rolled back must leave the next row chained to the last row that stayed."""
    actor = make.user("admin")
    audit.record(db, actor=actor, action="test.first")
    audit.record(db, actor=actor, action="test.second")
    savepoint = db.begin_nested()
    audit.record(db, actor=actor, action="test.undone")
    savepoint.rollback()
    audit.record(db, actor=actor, action="test.third")
    db.commit()
    assert audit.verify_chain(db) is None
    rows = db.query(AuditEvent).order_by(AuditEvent.id).all()
    assert [r.action for r in rows if r.action.startswith("test.")] == ["test.first", "test.second", "test.third"]
    assert rows[-1].prev_hash == rows[-2].hash
