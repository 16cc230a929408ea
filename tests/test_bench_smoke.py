"""The performance harness at a small scale (bench/smoke.py), as CI's smoke test: the generator, every benchmark
and its raw-SQL floor still work with the app as it is, on SQLite and PostgreSQL. No timing is asserted: at
this scale the figures mean nothing (the real runs and their figures are in bench/RESULTS.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import ROOT

INCIDENTS = 600


def _smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.smoke", "--incidents", str(INCIDENTS), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=540, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _assert_ran(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for benchmark in ("queue", "search", "incident", "dashboard", "transitions", "sweep"):
        assert any(line.startswith(benchmark) for line in result.stdout.splitlines()), (benchmark, result.stdout)
    assert "fold after the sweep" in result.stdout, "the worker's fold is timed with the sweep"
    for audience in ("admin", "comms", "director", "regional"):  # bench.sections: each dashboard's sections
        assert any(line.startswith(audience) and " sum " in line for line in result.stdout.splitlines()), audience
    assert "bench smoke: OK" in result.stdout
    # Each run names its machine and how fast it runs Python (bench/machine.py), so runs on different machines compare.
    environment = json.loads(next(line[2:] for line in result.stdout.splitlines() if line.startswith("# {")))
    assert environment["cores"] == os.cpu_count() and environment["cpu"], environment
    assert environment["python_speed_ms"] > 0, environment


def test_the_harness_runs_on_sqlite() -> None:
    _assert_ran(_smoke())


def test_the_harness_runs_on_postgresql() -> None:
    server = os.environ.get("BREACHDESK_TEST_POSTGRES_URL")
    if not server:
        message = "PostgreSQL tests skipped: BREACHDESK_TEST_POSTGRES_URL is not set"
        pytest.fail(message) if os.environ.get("BREACHDESK_REQUIRE_POSTGRES") == "1" else pytest.skip(message)
    name = f"breachdesk_smoke_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        _assert_ran(_smoke("--database-url", url))
        # The generator refreshed the statistics of the tables the counting triggers read while it loaded them
        # (bench/generate.py, Writer._analyze: without it a large load goes quadratic), on top of the analyses every
        # table gets (migrations, the final VACUUM ANALYZE): so the audit trail was analyzed more often than posts.
        smoke = create_engine(url)
        with smoke.connect() as connection:
            analyzed = dict(connection.execute(text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname IN ('audit_events', 'posts')"
            )).tuples().all())
        smoke.dispose()
        assert analyzed["audit_events"] > analyzed["posts"], analyzed
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_harness_names_tables_full_of_dead_rows(postgresql_url: str) -> None:
    """A PostgreSQL database left with many dead rows (the benchmark's own rolled-back sweeps leave them) reads
    slower until VACUUM: run 24's dashboards ran at half speed on one. bench.run names such tables before its
    figures; a table vacuumed, or with few dead rows for its size, is not named."""
    import time

    from bench.run import DEAD_ROWS_WORTH_A_WARNING, dead_rows

    engine = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    rows = DEAD_ROWS_WORTH_A_WARNING + 2_000

    def named(*, churned: bool) -> dict[str, dict[str, int]]:
        """dead_rows once the statistics say ``churned`` is (or is not) among them, or after five seconds."""
        for _ in range(50):  # the statistics reach pg_stat_user_tables shortly after the writing statement ends
            with engine.connect() as reader:
                found = dead_rows(reader)
            if ("churned" in found) == churned:
                return found
            time.sleep(0.1)
        return found

    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE churned (n integer); CREATE TABLE touched (n integer)"))
            connection.execute(text("INSERT INTO churned SELECT generate_series(1, :rows)"), {"rows": rows})
            connection.execute(text("INSERT INTO touched SELECT generate_series(1, :rows)"), {"rows": 10 * rows})
            connection.execute(text("UPDATE churned SET n = n + 1"))  # every row: as many dead as live
            # Enough dead rows to count, but a tenth of the live ones (autovacuum's default threshold is a fifth).
            connection.execute(text("UPDATE touched SET n = n + 1 WHERE n <= :rows"), {"rows": rows})
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
            found = named(churned=True)
            assert found.get("churned") == {"dead": rows, "live": rows}, found
            assert "touched" not in found, found

            connection.execute(text("VACUUM churned"))
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
            assert "churned" not in named(churned=False)
    finally:  # the database is the session's: leave it with the migrations' tables only
        with engine.connect() as connection:
            connection.execute(text("DROP TABLE IF EXISTS churned, touched"))
        engine.dispose()
