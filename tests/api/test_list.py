"""GET /api/v1/incidents: filters, keyset pagination, and only what the token's user may read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import utcnow
from app.models import Incident
from app.services.incidents import PostInput
from app.services.users import get_or_create_team


@pytest.fixture
def seeded(db, make, open_case):  # type: ignore[no-untyped-def]
    comms = make.user("comms", team="communications")
    team = get_or_create_team(db, "communications")
    made = []
    for n in range(23):
        made.append(open_case("problem-solving" if n % 2 else "content-removal", comms, team=team,
                              title=f"Case number {n}" + (" needle" if n % 5 == 0 else ""),
                              clauses=["rcr:2.8"] if n % 3 == 0 else [],
                              post=PostInput(platform="x", url=f"https://a.example/{n}") if n % 2 == 0 else None))
    return comms, made


def test_keyset_pagination_walks_every_item_exactly_once(api_as, seeded):
    comms, made = seeded
    api = api_as(user=comms)
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/api/v1/incidents", query_string={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["items"]) <= 5
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == sorted((i.id for i in made), reverse=True)  # newest first, each exactly once


def test_new_incidents_do_not_shift_a_walk_in_progress(api_as, seeded, open_case):
    comms, made = seeded
    api = api_as(user=comms)
    first = api.get("/api/v1/incidents?limit=10").get_json()
    open_case("problem-solving", comms, title="Arrived during the walk")
    second = api.get(f"/api/v1/incidents?limit=10&cursor={first['next_cursor']}").get_json()
    assert second["items"][0]["id"] == first["items"][-1]["id"] - 1


def test_default_and_bounds_of_limit(api_as, seeded):
    comms, made = seeded
    api = api_as(user=comms)
    assert len(api.get("/api/v1/incidents").get_json()["items"]) == 23
    assert api.get("/api/v1/incidents?limit=200").status_code == 200
    for bad in ("0", "201", "-1", "ten", "1.5", "", " 5"):
        response = api.get("/api/v1/incidents", query_string={"limit": bad})
        if bad == "":
            assert response.status_code == 200
        else:
            assert response.status_code == 400 and "limit" in response.get_json()["fields"], bad


def test_a_forged_cursor_is_refused(api_as, seeded):
    api = api_as(user=seeded[0])
    for cursor in ("abc", "!!!", "aWQ6LTE", "aWQ6eA", "aWQ6OTk5OTk5OTk5OTk5"):
        response = api.get("/api/v1/incidents", query_string={"cursor": cursor})
        assert response.status_code == 400 and response.get_json()["fields"] == {"cursor": "not a cursor from this API"}


def test_filters(db, api_as, seeded, make):
    comms, made = seeded
    api = api_as(user=comms)

    def ids(**query: str) -> set[int]:
        response = api.get("/api/v1/incidents", query_string={"limit": 200, **query})
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert ids(workflow="content-removal") == {i.id for i in made if i.workflow_key == "content-removal"}
    assert ids(state="reported") == {i.id for i in made if i.state == "reported"}
    assert ids(state="nowhere") == set()
    assert ids(clause="rcr:2.8") == {made[n].id for n in range(23) if n % 3 == 0}
    assert ids(q="needle") == {made[n].id for n in range(23) if n % 5 == 0}
    assert ids(q=made[7].reference) == {made[7].id}
    assert ids(q="100%_") == set()
    assert ids(assignee=comms.email) == set()  # opened without an assignee
    assert ids(assignee="nobody@example.org") == set()
    incident = db.get(Incident, made[3].id)
    incident.assignee_id = comms.id
    db.commit()
    assert ids(assignee=comms.email) == {made[3].id} == ids(assignee="me")
    assert ids(status="closed") == set() and len(ids(status="open")) == 23
    # overdue: a running deadline past its due time
    late = db.get(Incident, made[1].id)
    late.deadlines[0].due_at = utcnow() - timedelta(hours=1)
    db.commit()
    assert ids(overdue="true") == {made[1].id}
    assert made[1].id not in ids(overdue="false") and len(ids(overdue="false")) == 22
    for bad in ({"overdue": "maybe"}, {"workflow": "nope"}, {"status": "pending"}, {"q": "x" * 201}):
        response = api.get("/api/v1/incidents", query_string=bad)
        assert response.status_code == 400 and set(bad) <= set(response.get_json()["fields"]), bad


def test_only_readable_incidents_are_listed(api_as, seeded, make):
    rep = api_as("rep", team="reps-north")
    assert rep.get("/api/v1/incidents").get_json() == {"items": [], "next_cursor": None}
    other_comms = api_as("comms", team="press-office")
    assert other_comms.get("/api/v1/incidents").get_json()["items"] == []
    admin = api_as("admin")
    assert len(admin.get("/api/v1/incidents?limit=200").get_json()["items"]) == 23


def test_restricted_files_are_not_listed_for_an_admin(db, api_as, make, open_case):
    director = make.user("director_of_comms", team="communications")
    open_case("problem-solving", director, restricted=True, title="Special category")
    admin = api_as("admin")
    assert admin.get("/api/v1/incidents").get_json()["items"] == []
    assert admin.get("/api/v1/incidents?q=Special").get_json()["items"] == []
    assert len(api_as(user=director).get("/api/v1/incidents").get_json()["items"]) == 1
