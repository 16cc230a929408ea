"""A second writer on PostgreSQL, for tests of what happens when two transactions want the same rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import text

from app.extensions import db as database

T = TypeVar("T")


def beside_another_writer(first: str, then: str, parameters: dict[str, Any], action: Callable[[], T]) -> T:
    """``action()`` while another transaction runs ``first`` and then, once some other session of the database waits
    for a lock (or ``action`` has returned), ``then``; that transaction is rolled back at the end. Its
    deadlock_timeout is long, so should the two deadlock, PostgreSQL fails the action's side (after its default
    second)."""
    finished = threading.Event()
    failures: list[BaseException] = []
    with database.engine.connect() as other, database.engine.connect() as watcher:
        other.exec_driver_sql("SET deadlock_timeout = '20s'")
        other.exec_driver_sql("SET lock_timeout = '20s'")  # never hang the suite
        other.execute(text(first), parameters)
        other_pid = other.exec_driver_sql("SELECT pg_backend_pid()").scalar()

        def and_then() -> None:
            try:
                give_up = time.monotonic() + 20
                while not finished.is_set() and time.monotonic() < give_up:
                    waiting = watcher.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database() AND pid <> :other"), {"other": other_pid}).scalar()
                    watcher.rollback()
                    if waiting:
                        break
                    time.sleep(0.02)
                other.execute(text(then), parameters)
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                failures.append(error)
            finally:
                other.rollback()  # whatever happened, the action is not left waiting for this transaction

        thread = threading.Thread(target=and_then)
        thread.start()
        try:
            outcome = action()
        finally:
            finished.set()
            thread.join(timeout=30)
    assert not thread.is_alive() and not failures, failures
    return outcome
