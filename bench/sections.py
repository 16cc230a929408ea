"""Each dashboard section's build time, per audience: where a dashboard's time goes (issue #10).

    python -m bench.sections --database-url sqlite:///bench/out/bench_1m.sqlite [--builds 5] [--section due ...]

Builds one section at a time with ``dashboard.build(..., only=[section])`` as the benchmark's user of each role
(``Bench.user``, as benchmark 4), ``--builds`` times, and prints the median of each, in milliseconds. A
section built alone also pays what the sections share (the viewer's personal incidents are found once per build),
so the figures add up to a little more than a whole build. Read-only: each build is rolled back. The whole page,
template included, is benchmark 4 (``python -m bench.run --only dashboard``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from app.clock import utcnow
from app.extensions import db
from app.models import User
from app.services import dashboard
from bench.run import DASHBOARD_AUDIENCES, Bench


def section_times(url: str, builds: int, only: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """audience -> section -> median build time (ms), as benchmark 4's user of each role, in its app."""
    bench = Bench(url, iterations=builds, warmup=0, seed=42, sweep_iterations=0, transitions=0)
    registry = bench.app.extensions["breachdesk.workflows"]
    out: dict[str, dict[str, float]] = {}
    for role, audience in DASHBOARD_AUDIENCES:
        viewer_id = bench.user(role).id
        out[audience] = {}
        with bench.app.app_context():
            viewer = db.session.get(User, viewer_id)
            for section in dashboard.SECTIONS[audience]:
                if only and section not in only:
                    continue
                samples = []
                for _ in range(builds):
                    started = time.perf_counter()
                    dashboard.build(db.session, viewer, registry, audience, utcnow(), only=[section])
                    samples.append((time.perf_counter() - started) * 1000)
                    db.session.rollback()
                out[audience][section] = statistics.median(samples)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sections", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--builds", type=int, default=5, help="builds of each section (the median is printed)")
    parser.add_argument("--section", action="append", help="only these sections (repeatable)")
    options = parser.parse_args(argv)
    for audience, sections in section_times(options.database_url, options.builds, options.section).items():
        cells = "  ".join(f"{name} {ms:.0f}" for name, ms in sections.items())
        print(f"{audience:<9} sum {sum(sections.values()):>5.0f}  {cells}", flush=True)


if __name__ == "__main__":
    main()
