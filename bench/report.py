"""Turn a ``bench.run --json`` file into the Markdown table used in RESULTS.md.

    python -m bench.report bench/out/sqlite-100k.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def _n(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def markdown(data: dict[str, Any]) -> str:
    lines = ["| benchmark | case | n | p50 ms | p95 ms | p99 ms | ops/s | floor p50 ms | floor p95 ms | floor p99 ms "
             "| ratio p50 | ratio p95 |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    notes = []
    for r in data["results"]:
        app, floor = r["app"], r["floor"] or {}
        ops = _n(app["ops_per_s"], 1 if app["ops_per_s"] >= 10 else 3)
        lines.append(f"| {r['benchmark']} | {r['case']} | {app['n']} | {_n(app['p50'])} | {_n(app['p95'])} | "
                     f"{_n(app['p99'])} | {ops} | {_n(floor.get('p50'), 3)} | "
                     f"{_n(floor.get('p95'), 3)} | {_n(floor.get('p99'), 3)} | {_n(r['ratio_p50'], 1)} | "
                     f"{_n(r['ratio_p95'], 1)} |")
        if r["benchmark"] != "queue" and r["notes"]:
            notes.append(f"- {r['benchmark']} / {r['case']}: `{json.dumps(r['notes'])}`")
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:])
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in paths:
        with open(path) as handle:
            print(markdown(json.load(handle)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
