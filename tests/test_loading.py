"""A page's collections loaded by statements built once (app.models.loading): the model's order, nothing read twice."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

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
    assert _statements_while(engine, lambda: collections.load(db, loaded)) == []  # nor is anything read twice
    # The same as the relationship's own loading gives.
    db.expunge_all()
    fresh = db.get(Incident, incident_id)
    assert [d.id for d in fresh.deadlines] == [d.id for d in loaded.deadlines]
    assert [c.id for c in fresh.clauses] == [c.id for c in loaded.clauses]


def test_many_owners_collections_come_in_one_statement_each_shared_out_in_the_models_order(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    actor = make.user("comms", team="communications")
    reader = make.user("regional_officer", team="north")
    opened = [open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title=f"Post {n}"), actor=actor)
              for n in range(3)]
    db.flush()
    db.add(IncidentShare(incident_id=opened[1].id, user_id=reader.id, reason="test", kind="share"))
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for incident in opened[:2]:
        for days, key in ((5, "late"), (1, "early"), (3, "middle"), (3, "middle too")):  # out of due order; a tie
            db.add(Deadline(incident_id=incident.id, key=key, title=f"{key} {incident.id}", why="test",
                            duration="P1D", calendar="england-and-wales", due_at=start + timedelta(days=days),
                            status="running"))
    db.commit()
    ids = [incident.id for incident in opened]
    db.expunge_all()
    owners = [db.get(Incident, incident_id) for incident_id in ids]
    already = owners[2].deadlines  # loaded already: left as it is

    engine = db.get_bind()
    collections = Collections(Incident.deadlines, Incident.shares)
    assert len(_statements_while(engine, lambda: collections.load_all(db, owners))) == 2  # one a collection
    assert _statements_while(engine, lambda: collections.load_all(db, owners)) == []  # nothing read twice
    assert owners[2].deadlines is already
    loaded = {owner.id: [(d.incident_id, d.id) for d in owner.deadlines] for owner in owners}
    assert [[d.key for d in owner.deadlines if d.key.split()[0] in ("early", "middle", "late")]
            for owner in owners[:2]] == [["early", "middle", "middle too", "late"]] * 2  # a tie in the order stored
    assert [[share.user_id for share in owner.shares] for owner in owners] == [[], [reader.id], []]
    db.expunge_all()  # the same as the relationship's own loading gives, owner by owner
    assert {owner_id: [(d.incident_id, d.id) for d in db.get(Incident, owner_id).deadlines] for owner_id in ids} \
        == loaded


def test_members_are_shared_out_by_their_owner_as_stored_not_as_changed_in_memory(app, db, make):
    registry = app.extensions["breachdesk.workflows"]
    actor = make.user("comms", team="communications")
    first, second = (open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title=f"Post {n}"),
                                   actor=actor) for n in range(2))
    db.add(Deadline(incident_id=first.id, key="moving", title="moving", why="test", duration="P1D",
                    calendar="england-and-wales", due_at=datetime(2026, 12, 1, 9, tzinfo=UTC), status="running"))
    db.commit()
    ids = (first.id, second.id)
    db.expunge_all()
    moving = db.scalar(select(Deadline).where(Deadline.key == "moving"))
    owners = [db.get(Incident, incident_id) for incident_id in ids]
    with db.no_autoflush:
        moving.incident_id = ids[1]  # not yet written
        Collections(Incident.deadlines).load_all(db, owners)
    assert "moving" in [d.key for d in owners[0].deadlines]
    assert "moving" not in [d.key for d in owners[1].deadlines]
    db.rollback()


def test_only_one_to_many_relationships_are_loaded_this_way():
    with pytest.raises(ValueError, match="one-to-many"):
        Collections(Incident.assignee)
    with pytest.raises(ValueError, match="one-to-many"):
        Collections(User.team)


@pytest.mark.parametrize("viewer", ["comms", "admin"])
def test_a_refused_incident_page_reads_none_of_the_files_contents(app, db, make, client, viewer):
    """Another team's file (404) or a restricted one an administrator has not broken the glass on (403): the page says
    no without reading the posts, evidence, clauses or deadlines of the file (its shares it reads: they are part of
    the question who may read it)."""
    from app.services.incidents import PostInput
    from tests.conftest import login

    registry = app.extensions["breachdesk.workflows"]
    owner = make.user("comms", team="communications")
    incident = open_incident(db, registry, OpenRequest(
        workflow_key="problem-solving", title="Someone else's file", clauses=["rcr:2.8"],
        post=PostInput(platform="x", url="https://x.com/someone/status/1", text="A post")), actor=owner)
    incident.restricted = viewer == "admin"
    db.commit()
    login(client, make.user(viewer, team="press" if viewer == "comms" else None))
    contents = ("posts", "evidence_files", "incident_clauses", "deadlines")

    statements = _statements_while(db.get_bind(), lambda: client.get(f"/incidents/{incident.id}"))
    assert client.get(f"/incidents/{incident.id}").status_code == (403 if viewer == "admin" else 404)
    read = [s for s in statements if s.lstrip().upper().startswith("SELECT")
            and any(f"FROM {table} " in f"{s} " or f"FROM {table}\n" in s for table in contents)]
    assert read == [], read


def test_among_finds_the_same_rows_as_an_in_list_with_one_parameter_on_postgresql(db, make, dialect):
    from sqlalchemy import update

    from app.models.base import among

    users = [make.user("comms", team="communications") for _ in range(3)]
    wanted = [users[0].id, users[2].id]
    db.commit()
    statements = _statements_while(db.get_bind(), lambda: db.scalars(select(User.id).where(
        among(db, User.id, wanted))).all())
    assert sorted(db.scalars(select(User.id).where(among(db, User.id, wanted)))) == sorted(wanted)
    assert db.scalars(select(User.id).where(among(db, User.id, []))).all() == []
    db.execute(update(User.__table__).where(among(db, User.__table__.c.id, wanted)).values(name="Renamed"))
    assert sorted(db.scalars(select(User.id).where(User.name == "Renamed"))) == sorted(wanted)
    [statement] = [s for s in statements if s.startswith("SELECT users.id")]
    if dialect == "postgresql":
        assert "= ANY (" in statement and statement.count("%(") == 1
    else:
        assert statement.count("?") == len(wanted)
