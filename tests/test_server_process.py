"""What a long-running server process does once its app is built (app/wsgi.py, the benchmarks)."""

from __future__ import annotations

import gc

from app import SERVER_GC_THRESHOLDS, freeze_startup_objects


def test_a_server_process_freezes_what_start_up_made_and_collects_less_often():
    before = gc.get_threshold()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0, "start-up's objects are out of the collector's reach"
        assert gc.get_threshold() == SERVER_GC_THRESHOLDS
        assert SERVER_GC_THRESHOLDS[0] > before[0], "young collections run less often than Python's default"
    finally:  # the rest of the suite runs with Python's defaults
        gc.unfreeze()
        gc.set_threshold(*before)
