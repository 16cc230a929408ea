"""Schemathesis against the API, in process (WSGI), on a seeded database, on SQLite and PostgreSQL.

The published document (/api/v1/openapi.json) drives generation: every operation gets positive
(schema-conforming) and negative (schema-breaking) requests, sent with a valid bearer token of an
administrator. Path ids are drawn half from the seeded incidents (so reads and transitions reach real
rows, including a restricted file that answers 403) and half as generated. Then an aimed pass: openings
that cite real clause keys, and transitions sent to a real incident with a transition it offers and its
current version (comment and field values still generated), so requests get past the first checks and
open and move real incidents.

Two checks, over every response: no 5xx (``not_a_server_error``), and the response conforms to the
documented schema for its status (``response_schema_conformance``). Examples per operation are bounded
so a run takes well under 90 seconds; the counts are printed.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from app.models import Incident, User
from app.services.demo import load_demo
from app.services.incidents import OpenRequest, open_incident
from tests.api.conftest import token_for

EXAMPLES = {GenerationMode.POSITIVE: 100, GenerationMode.NEGATIVE: 60}
TUNED_EXAMPLES = 80
CHECKS = [not_a_server_error, response_schema_conformance]


def _seed(app, db) -> tuple[str, list[int]]:  # type: ignore[no-untyped-def]
    registry = app.extensions["breachdesk.workflows"]
    load_demo(db, registry, password="schemathesis demo password")
    director = db.scalar(select(User).where(User.role == "director_of_comms"))
    open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Restricted file",
                                            restricted=True), actor=director)
    db.commit()
    admin = db.scalar(select(User).where(User.role == "admin"))
    return token_for(db, admin, "schemathesis"), list(db.scalars(select(Incident.id).order_by(Incident.id)))


def _tuned(document: dict[str, Any], registry) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The same document with the opening request's clauses narrowed to keys that exist here."""
    tuned = copy.deepcopy(document)
    clauses = sorted(c.key for c in registry.catalogues.all_current())[:12]
    body = tuned["paths"]["/api/v1/incidents"]["post"]["requestBody"]
    props = body["content"]["application/json"]["schema"]["properties"]
    props["clauses"] = {"type": "array", "maxItems": 3, "items": {"type": "string", "enum": clauses}}
    props["assignee"] = {"type": "null"}
    return tuned


def _moves(app, db) -> list[tuple[int, str, int]]:  # type: ignore[no-untyped-def]
    """(incident id, transition, version) an administrator could take on each seeded incident right now."""
    registry = app.extensions["breachdesk.workflows"]
    moves = []
    for incident in db.scalars(select(Incident).where(Incident.restricted.is_(False))):
        for spec in registry.get(incident.workflow_key).transitions_from(incident.state):
            if "admin" in spec.roles:
                moves.append((incident.id, spec.key, incident.version))
    return moves


def _aimed(operation, moves: list[tuple[int, str, int]]):  # type: ignore[no-untyped-def]
    """Generated transition requests aimed at a real incident with a transition it offers and its version;
    the comment and field values stay generated."""

    def aim(move: tuple[int, str, int]):  # type: ignore[no-untyped-def]
        incident_id, key, version = move

        def patch(case):  # type: ignore[no-untyped-def]
            if isinstance(case.body, dict):
                case.body = {**case.body, "transition": key, "version": version}
            return case

        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                         path_parameters={"incident_id": incident_id})
        return strategy.map(patch)

    return st.sampled_from(moves).flatmap(aim)


def _strategy(operation, mode: GenerationMode, ids: list[int]):  # type: ignore[no-untyped-def]
    generated = operation.as_strategy(generation_mode=mode)
    if "{incident_id}" not in operation.path:
        return generated
    seeded = st.sampled_from(ids).flatmap(
        lambda i: operation.as_strategy(generation_mode=mode, path_parameters={"incident_id": i}))
    return st.one_of(seeded, generated)


@dataclass
class Tally:
    stats: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _exercise(strategy, examples: int, token: str, tally: Tally, tag: str) -> None:  # type: ignore[no-untyped-def]
    """Send ``examples`` generated requests; record each status and every failed check."""

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def exercise(case) -> None:  # type: ignore[no-untyped-def]
        _send(case, token, tally, tag)

    exercise()


def _send(case, token: str, tally: Tally, tag: str) -> None:  # type: ignore[no-untyped-def]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call()
    tally.stats[(case.operation.label, response.status_code)] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception as failure:  # noqa: BLE001 - collect every failure, report them all at the end
        tally.failures.append(f"{case.operation.label} [{tag}] -> {response.status_code}: "
                              f"{str(failure)[:800]}\n    {case.as_curl_command()[:600]}")


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(app, db, report):
    app.config["API_RATE_LIMIT_PER_MINUTE"] = 0
    registry = app.extensions["breachdesk.workflows"]
    token, ids = _seed(app, db)
    started = time.monotonic()
    tally = Tally()

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            _exercise(_strategy(operation, mode, ids), examples, token, tally, mode.value)

    document = app.test_client().get("/api/v1/openapi.json").get_json()
    tuned = schemathesis.openapi.from_dict(_tuned(document, registry))
    tuned.app = app
    _exercise(tuned.find_operation_by_id("openIncident").as_strategy(), TUNED_EXAMPLES, token, tally, "aimed")
    _exercise(_aimed(tuned.find_operation_by_id("takeTransition"), _moves(app, db)), TUNED_EXAMPLES, token, tally,
              "aimed")
    # And the restricted file, which an administrator may know of but not read (403, break glass).
    restricted = db.scalar(select(Incident.id).where(Incident.restricted.is_(True)))
    for operation_id in ("getIncident", "getIncidentAudit"):
        _send(schema.find_operation_by_id(operation_id).Case(path_parameters={"incident_id": restricted}),
              token, tally, "explicit")
    _send(schema.find_operation_by_id("takeTransition").Case(
        path_parameters={"incident_id": restricted}, body={"transition": "close_no_breach", "version": 1},
        media_type="application/json"), token, tally, "explicit")
    elapsed = time.monotonic() - started

    stats, failures = tally.stats, tally.failures
    requests = sum(stats.values())
    by_operation: dict[str, Counter] = {}
    for (label, status), count in stats.items():
        by_operation.setdefault(label, Counter())[status] = count
    report(f"schemathesis {schemathesis.__version__} [{db.get_bind().dialect.name}]: {len(operations)} operations, "
           f"{requests} requests, {len(failures)} failures, {elapsed:.1f} s",
           *(f"  {label}: " + ", ".join(f"{s}×{n}" for s, n in sorted(by_operation[label].items()))
             for label in sorted(by_operation)))
    assert not failures, f"{len(failures)} failing request(s):\n" + "\n".join(failures[:20])
    documented = sum(len(item) for item in document["paths"].values())
    assert len(operations) == documented - 1  # every operation but the document itself, which Schemathesis skips
    # The runs reached past authentication into real work, not just the error paths.
    statuses = {status for (_label, status) in stats}
    assert {200, 201, 400, 404, 409, 422} <= statuses, statuses
    assert stats[("POST /api/v1/incidents/{incident_id}/transitions", 200)] > 0
    assert stats[("GET /api/v1/incidents/{incident_id}", 403)] > 0  # the restricted file
    assert stats[("POST /api/v1/incidents/{incident_id}/transitions", 403)] > 0
