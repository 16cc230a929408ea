"""The machine a benchmark ran on, and how fast it runs Python: one description for every benchmark's output.

Runs of the harness land on different 2-core machines (Intel Xeons and AMD EPYCs so far) whose speed for this app
differs by up to 1.7× (run 22's Xeon needed 5.25 ms of CPU per queue page over HTTP, run 23's EPYC 8.72 ms, with
the same code). ``python_speed`` times a fixed piece of the kind of work the app does per request — a Jinja
template of fifty escaped table rows and the dictionaries and strings behind them — so that a figure from one run
can be set against another's: a change that made the app faster shows as a lower time *relative to this one*.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from jinja2 import Environment

# Fifty rows of a table with user text in each cell, autoescaped: what a list page mostly is.
_TEMPLATE = Environment(autoescape=True).from_string(
    "<table>{% for row in rows %}<tr><td><a href=\"/incidents/{{ row.id }}\">{{ row.reference }}</a></td>"
    "<td>{{ row.summary }}</td><td>{{ row.state|replace('_', ' ') }}</td>"
    "<td>{% if row.due %}{{ row.due }}{% else %}none{% endif %}</td></tr>{% endfor %}</table>")
_ROUNDS = 200  # one timing of the workload: about 0.1 s on the machines seen so far
_REPEATS = 5


def _workload() -> int:
    size = 0
    for round_number in range(_ROUNDS):
        rows = [{"id": round_number * 50 + i, "reference": f"BD-{round_number:04d}-{i:03d}",
                 "summary": f"Post <{i}> & reply by @member{i} about 'policy' {round_number}",
                 "state": "awaiting_review" if i % 3 else "closed_no_action",
                 "due": f"2026-12-{1 + i % 28:02d}" if i % 2 else None} for i in range(50)]
        size += len(_TEMPLATE.render(rows=rows))
    return size


def python_speed_ms() -> float:
    """The fastest of a few timings of the fixed workload, in ms (the fastest: the least disturbed by others)."""
    timings = []
    for _ in range(_REPEATS):
        started = time.perf_counter()
        _workload()
        timings.append((time.perf_counter() - started) * 1000)
    return round(min(timings), 1)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                        "unknown")
    except OSError:
        return "unknown"


def describe() -> dict[str, Any]:
    """CPU model, cores, Python, platform, load average now, and ``python_speed_ms`` (lower is faster)."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python_speed_ms": python_speed_ms()}
