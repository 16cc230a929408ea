"""A page's collections loaded by statements built once (app.models.loading): the model's order, nothing read twice."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.models import Deadline, Incident, IncidentClause, IncidentShare, User
from app.models.loading import Collections
from app.services.incidents import OpenRequest, open_incident


def _statements_while(engine, action):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_collections_come_in_the_models_order_and_are_not_read_again(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    actor = make.user("comms", team="communications")
    reader = make.user("regional_officer", team="north")
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="A post"), actor=actor)
    db.flush()
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for days, key in ((5, "late"), (1, "early"), (3, "middle")):  # stored out of due order
        db.add(Deadline(incident_id=incident.id, key=key, title=key, why="test", duration="P1D",
                        calendar="england-and-wales", due_at=start + timedelta(days=days), status="running"))
    for clause in ("rcr:2.8", "hcpc:1.1", "rcr:2.16"):  # stored out of key order
        db.add(IncidentClause(incident_id=incident.id, clause_key=clause, catalogue_version="1", cited_at=start))
    db.add(IncidentShare(incident_id=incident.id, user_id=reader.id, reason="test", kind="share"))
    db.commit()
    incident_id = incident.id
    db.expunge_all()

    loaded = db.get(Incident, incident_id)
    collections = Collections(Incident.deadlines, Incident.clauses, Incident.shares, Incident.posts)
    engine = db.get_bind()
    assert len(_statements_while(engine, lambda: collections.load(db, loaded))) == 4  # one a collection

    def read() -> None:
        assert [d.key for d in loaded.deadlines if d.key in ("early", "middle", "late")] == ["early", "middle", "late"]
        assert [c.clause_key for c in loaded.clauses] == sorted(c.clause_key for c in loaded.clauses)
        assert {c.clause_key for c in loaded.clauses} >= {"rcr:2.8", "hcpc:1.1", "rcr:2.16"}
        assert [s.user_id for s in loaded.shares] == [reader.id]
        assert loaded.posts == []

    assert _statements_while(engine, read) == []  # all of it was loaded: reading it sends nothing
    # The same as the relationship's own loading gives.
    db.expunge_all()
    fresh = db.get(Incident, incident_id)
    assert [d.id for d in fresh.deadlines] == [d.id for d in loaded.deadlines]
    assert [c.id for c in fresh.clauses] == [c.id for c in loaded.clauses]


def test_only_one_to_many_relationships_are_loaded_this_way():
    with pytest.raises(ValueError, match="one-to-many"):
        Collections(Incident.assignee)
    with pytest.raises(ValueError, match="one-to-many"):
        Collections(User.team)
