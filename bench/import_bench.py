"""Benchmark 7: ``breachdesk import posts`` on a large, messy monitoring export (issue #10).

    python -m bench.import_bench --rows 100000                     # a fresh SQLite file in bench/out/
    python -m bench.import_bench --rows 100000 --reset \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/breachdesk_import_bench

Generates a CSV of N rows deterministically (a byte-order mark, Windows line endings, quoted newlines,
posts written as x.com and as twitter.com…?s=20, duplicates of earlier rows by the same and by another
reporter, rows with an unknown platform, a bad address, an impossible date or a date in the future,
NHS numbers and phone numbers in some texts), migrates a fresh database, creates the importing account,
then runs the real ``breachdesk import posts`` as a child process and reports its rows/s and its own
peak memory (``ru_maxrss`` of that one child, from ``os.wait4``). The import's counts are checked
against what the generator put in the file. ``--rerun`` imports the same file a second time and checks
that nothing is added.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import machine
from bench.words import vocabulary

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BREACHDESK = str(ROOT / ".venv" / "bin" / "breachdesk")
ACTOR = "import-bench@bench.breachdesk.example"
PASSWORD = "breachdesk-bench-2026"
REPORTERS = ("Brandwatch", "Talkwalker", "Meltwater")
HEADER = ["platform", "url", "author_handle", "author_name", "posted_at", "text", "reporter", "clauses", "source_id"]
CLAUSES = ("rcr:2.8", "rcr:2.16", "rcr:2.4", "")
BAD_KINDS = ("unknown platform", "bad url", "bad date", "future date")
RECENT = 20_000  # duplicates are drawn from the most recent posts, so the generator's memory stays flat too


@dataclass
class Expected:
    rows: int = 0
    imported: int = 0
    joined: int = 0
    already: int = 0
    rejected: int = 0
    bad_kinds: dict[str, int] = field(default_factory=dict)


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(w * d for w, d in zip(range(10, 1, -1), digits, strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            text = "".join(map(str, digits)) + str(check)
            return f"{text[:3]} {text[3:6]} {text[6:]}"


def _text(rng: random.Random, words: tuple[str, ...], cumulative: tuple[float, ...]) -> str:
    chosen = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 30))
    text = " ".join(chosen)
    roll = rng.random()
    if roll < 0.03:
        text += f" patient NHS no {_nhs_number(rng)} seen today"
    elif roll < 0.05:
        text += f" call me on 07700 9{rng.randrange(10**5):05d}"
    elif roll < 0.10:
        text += " rude and unprofessional about a colleague"
    if rng.random() < 0.01:
        text = text.replace(" ", "\n", 2)  # a quoted newline inside the cell
    return text


def generate_csv(path: Path, rows: int, seed: int = 7, duplicates: float = 0.05, bad: float = 0.02) -> Expected:
    rng = random.Random(seed)
    words, cumulative = vocabulary()
    words = tuple(w for w in words[:5000])
    cumulative = cumulative[:5000]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    expected = Expected(rows=rows)
    recent: OrderedDict[int, set[str]] = OrderedDict()  # post number -> reporters who sent it
    next_post = 10_000_000_000

    def quote(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value

    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\ufeff" + ",".join(HEADER) + "\r\n")
        for index in range(rows):
            roll = rng.random()
            reporter = rng.choice(REPORTERS)
            handle_name = f"user{rng.randrange(rows // 4 + 10)}"
            posted = start + timedelta(seconds=rng.randrange(300 * 86400))
            posted_text = posted.strftime("%Y-%m-%dT%H:%M:%SZ") if rng.random() < 0.7 \
                else posted.astimezone().strftime("%d/%m/%Y %H:%M")
            platform_name, clause = "x", rng.choice(CLAUSES)
            if roll < bad:
                kind = BAD_KINDS[index % len(BAD_KINDS)]
                expected.rejected += 1
                expected.bad_kinds[kind] = expected.bad_kinds.get(kind, 0) + 1
                post = next_post + rows + index  # never a real post
                url = f"https://x.com/{handle_name}/status/{post}"
                if kind == "unknown platform":
                    platform_name = "myspace"
                elif kind == "bad url":
                    url = f"x.com/{handle_name} status {post}"
                elif kind == "bad date":
                    posted_text = "31/02/2026 25:61"
                else:
                    posted_text = "2099-01-01T00:00:00Z"
            elif roll < bad + duplicates and recent:
                post = rng.choice(list(recent)[-100:]) if rng.random() < 0.5 else rng.choice(tuple(recent))
                seen = recent[post]
                if reporter in seen:
                    expected.already += 1
                else:
                    expected.joined += 1
                    seen.add(reporter)
                handle_name = f"author{post}"
                url = f"https://twitter.com/Author{post}/status/{post}?s=20"  # the same post, written another way
            else:
                next_post += 1
                post = next_post
                expected.imported += 1
                recent[post] = {reporter}
                if len(recent) > RECENT:
                    recent.popitem(last=False)
                handle_name = f"author{post}"
                url = f"https://x.com/{handle_name}/status/{post}"
            cells = [platform_name, url, "@" + handle_name, f"Author {handle_name[6:]}", posted_text,
                     _text(rng, words, cumulative), reporter, clause, str(index)]
            handle.write(",".join(quote(c) for c in cells) + "\r\n")
    return expected


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env.update(BREACHDESK_DATABASE_URL=url, BREACHDESK_SECRET_KEY="import-bench")
    return env


def prepare_database(url: str, reset: bool) -> None:
    from sqlalchemy import create_engine, text

    from bench.generate import migrate, reset_database

    if url.startswith("sqlite") or reset:
        reset_database(url)
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        if connection.execute(text("SELECT count(*) FROM incidents")).scalar_one():
            raise SystemExit("that database already has incidents; use an empty one or pass --reset")
    engine.dispose()
    created = subprocess.run([BREACHDESK, "users", "create", ACTOR, "--name", "Import bench", "--role", "comms",
                              "--team", "communications", "--password-stdin"], input=PASSWORD + "\n", text=True,
                             capture_output=True, env=_env(url))
    if created.returncode != 0:
        raise SystemExit(f"could not create the importing account: {created.stderr}")


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants now, from /proc (0 once it has gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError, ValueError):
            continue
    return total


class TreeMemory:
    """Samples the import's whole process tree (the command and the process it checks texts in) every 50 ms:
    ``ru_maxrss`` gives the largest single process, not what both hold together."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak_kb / 1024, 1)


@dataclass
class ImportRun:
    seconds: float
    peak_rss_mb: float  # the largest single process (ru_maxrss from wait4)
    peak_tree_rss_mb: float  # the command and its helper process together, sampled
    rows_per_s: float
    # The child's own CPU time (user + system, from wait4): on a shared machine, what the import itself cost.
    cpu_seconds: float
    rows_per_cpu_s: float
    counts: dict[str, int]
    output: str


SUMMARY = re.compile(r"Imported ([\d,]+) new.*?; ([\d,]+) joined.*?; ([\d,]+) already.*?; ([\d,]+) rejected", re.S)


def run_import(url: str, csv_path: Path, rows: int, batch_size: int, jobs: int | None = None) -> ImportRun:
    """The real CLI as a child process; its peak RSS comes from wait4 on that child (the largest process of its
    tree) and from sampling the whole tree."""
    started = time.monotonic()
    child = subprocess.Popen([BREACHDESK, "import", "posts", str(csv_path), "--as", ACTOR,
                              "--batch-size", str(batch_size), *(["--jobs", str(jobs)] if jobs else [])],
                             env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    memory = TreeMemory(child.pid)
    assert child.stdout is not None
    output = child.stdout.read()
    tree_peak = memory.stop()
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the import failed ({child.returncode}):\n{output}")
    match = SUMMARY.search(output)
    if match is None:
        raise SystemExit(f"cannot read the import's summary:\n{output}")
    imported, joined, already, rejected = (int(g.replace(",", "")) for g in match.groups())
    # ru_maxrss is in kilobytes on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return ImportRun(seconds=round(seconds, 2), peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
                     peak_tree_rss_mb=tree_peak,
                     rows_per_s=round(rows / seconds, 1), cpu_seconds=round(cpu, 2),
                     rows_per_cpu_s=round(rows / cpu, 1) if cpu else 0.0,
                     counts={"imported": imported, "joined": joined, "already": already, "rejected": rejected},
                     output=output.strip())


def count_rows(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        found = {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
                 for table in ("incidents", "posts", "reports", "people", "audit_events")}
    engine.dispose()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="Default: a fresh SQLite file bench/out/import-bench-<rows>.sqlite3 (deleted first).")
    parser.add_argument("--reset", action="store_true", help="PostgreSQL: drop and recreate the public schema first.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rerun", action="store_true", help="Import the same file again; nothing may be added.")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=None,
                        help="Passed to the import (default: the command's own choice).")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures here as JSON.")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{OUT / f'import-bench-{args.rows}.sqlite3'}"
    csv_path = OUT / f"import-bench-{args.rows}.csv"

    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    started = time.monotonic()
    expected = generate_csv(csv_path, args.rows, seed=args.seed)
    say(f"generated {csv_path} ({csv_path.stat().st_size / 1e6:.1f} MB, {args.rows:,} rows) in "
        f"{time.monotonic() - started:.1f} s; expect {asdict(expected)}")
    prepare_database(url, args.reset)
    say(f"load average before the import: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    first = run_import(url, csv_path, args.rows, args.batch_size, args.jobs)
    say(first.output)
    tables = count_rows(url)
    checks = {
        "counts match the file": first.counts == {"imported": expected.imported, "joined": expected.joined,
                                                  "already": expected.already, "rejected": expected.rejected},
        "one incident per distinct post": tables["incidents"] == expected.imported == tables["posts"],
        "one report per imported or joined row": tables["reports"] == expected.imported + expected.joined,
    }
    result = {
        "benchmark": "import posts", "rows": args.rows, "database": url.split(":", 1)[0],
        "batch_size": args.batch_size, "jobs": args.jobs, "file_mb": round(csv_path.stat().st_size / 1e6, 1),
        "expected": asdict(expected), "first": {k: v for k, v in asdict(first).items() if k != "output"},
        "tables": tables, "machine": machine.describe(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_after_first": os.getloadavg(),
    }
    if args.rerun:
        again = run_import(url, csv_path, args.rows, args.batch_size, args.jobs)
        say(again.output)
        after = count_rows(url)
        checks["re-run adds nothing"] = (again.counts["imported"] == again.counts["joined"] == 0
                                         and {k: after[k] for k in ("incidents", "posts", "reports", "people")}
                                         == {k: tables[k] for k in ("incidents", "posts", "reports", "people")})
        result["rerun"] = {k: v for k, v in asdict(again).items() if k != "output"}
    result["checks"] = checks
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
