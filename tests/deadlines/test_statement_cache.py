"""Every statement a transition runs is compiled once per process and then found in SQLAlchemy's statement cache.

A statement SQLAlchemy cannot cache (the dialects' own ON CONFLICT inserts, for one) is compiled again at every
use: about half a millisecond each, on every transition that opened a case or notified a role."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine.interfaces import CacheStats

from app.clock import frozen_at
from app.services.incidents import OpenRequest, open_incident, take_transition
from tests.deadlines.conftest import utc
from tests.deadlines.test_sweep import removal_requested

AT = utc(2026, 3, 10, 10, 0)


def test_a_transition_that_opens_a_case_and_notifies_a_role_compiles_nothing_the_second_time(db, make, registry):
    comms = make.user("comms", team="communications")
    make.user("director_of_comms", team="communications")  # someone for refer_to_director to notify
    removals = [removal_requested(db, registry, comms, at=AT, patient_info=False) for _ in range(2)]
    with frozen_at(AT):
        tags = [open_incident(db, registry, OpenRequest(workflow_key="antagonistic-tag", title=f"Tag {n}"),
                              actor=comms) for n in range(2)]
        db.commit()

    def take(n: int) -> None:
        with frozen_at(AT):
            take_transition(db, registry, removals[n], "mark_non_compliant", actor=comms)  # opens formal action
            take_transition(db, registry, tags[n], "refer_to_director", actor=comms)  # notifies the Director
            db.commit()

    take(0)  # the first time compiles
    compiled_again: list[str] = []

    def seen(_conn, _cursor, statement, _parameters, context, _executemany) -> None:  # type: ignore[no-untyped-def]
        if context is not None and context.compiled is not None and context.cache_hit is not CacheStats.CACHE_HIT:
            compiled_again.append(statement)

    event.listen(db.get_bind(), "after_cursor_execute", seen)
    try:
        take(1)
    finally:
        event.remove(db.get_bind(), "after_cursor_execute", seen)
    assert compiled_again == []
    assert removals[1].state == "non_compliant" and tags[1].state == "referred_to_director"
