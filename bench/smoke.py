"""The harness at a small scale, for CI: generate 2,000 incidents and run every benchmark a few times.

    python -m bench.smoke                 # a temporary SQLite file, removed afterwards
    python -m bench.smoke --database-url postgresql+psycopg://postgres@127.0.0.1/breachdesk_smoke
                                          # WIPES that database first (drops its public schema)

It checks that the generator, the benchmarks and their floors still work with the app as it is (the
floors must return the rows the pages show, the audit chain must verify before and after). It makes no
timing assertions: the figures it prints at this scale mean nothing. Exits non-zero only if something
breaks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import run, sections
from bench.generate import Options, _verify, generate, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="use (and wipe) this database instead of a temporary SQLite file")
    parser.add_argument("--incidents", type=int, default=2000)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="breachdesk-smoke-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'smoke.sqlite3'}"
        options = Options(database_url=url, incidents=args.incidents, seed=42, due_now=20, reset=True, verify=True)
        summary = generate(options)
        print(report(summary, options))
        code = run.main(["--database-url", url, "--iterations", "3", "--warmup", "1", "--sweep-iterations", "1",
                         "--transitions", "5"])
        sections.main(["--database-url", url, "--builds", "1"])
        _verify(url)  # the benchmarks' own writes (logins, transitions, the floor's rows) keep the chain whole
    print(f"bench smoke: OK in {time.monotonic() - started:,.1f} s (no timing assertions)")
    return code


if __name__ == "__main__":
    sys.exit(main())
