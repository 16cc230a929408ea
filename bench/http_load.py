"""Benchmark 8: end-to-end HTTP under concurrent load.

Starts gunicorn (``--workers N``, sync workers) on loopback against a generated database, signs in
as a bench user, and drives the queue page and an incident page with ``wrk`` (Debian package
``wrk``; a C load generator, so the load generator costs little of the machine's CPU), then prints
requests per second, latency percentiles (p50/p95/p99 from wrk's own histogram) and any non-2xx
responses::

    .venv/bin/python -m bench.http_load \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/breachdesk_bench \\
        --workers 2 --connections 8 --duration 30 --json bench/out/http-pg.json

The server and wrk share the machine: on a 2-core box wrk's thread takes CPU from gunicorn, so the
figures are a lower bound on what the app serves to clients elsewhere.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench import machine
from bench.generate import BENCH_PASSWORD, EMAIL_DOMAIN

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
# wrk prints these after the run; p95 is not in its default --latency table.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d errors=%d\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in pairs({50, 95, 99}) do
    io.write(string.format("BENCH p%d_us=%d\\n", p, latency:percentile(p)))
  end
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, *, body: str | None = None,
            headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}")
        try:
            if request(port, "GET", "/login").status == 200:
                return
        except OSError:
            time.sleep(0.3)
    sys.exit("gunicorn did not start serving in time")


def sign_in(port: int, email: str) -> str:
    """The session cookie of a signed-in user (as a browser would get it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/login")
    page = connection.getresponse()
    html = page.read().decode()
    cookie = page.getheader("Set-Cookie", "").split(";")[0]
    match = CSRF.search(html)
    if not match:
        sys.exit("no CSRF token on /login")
    form = urlencode({"email": email, "password": BENCH_PASSWORD, "csrf_token": match.group(1) or match.group(2)})
    connection.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    answer = connection.getresponse()
    answer.read()
    if answer.status != 302:
        sys.exit(f"sign-in as {email} failed: HTTP {answer.status}")
    cookie = answer.getheader("Set-Cookie", "").split(";")[0] or cookie
    # Follow the redirect as a browser does and keep the cookie it then holds: the first page after signing in
    # gives the session its CSRF secret, which a browser sends back from then on (replaying the sign-in cookie
    # instead would make every request of the run create a new secret and re-send the cookie).
    connection.request("GET", answer.getheader("Location", "/incidents"), headers={"Cookie": cookie})
    landed = connection.getresponse()
    landed.read()
    return landed.getheader("Set-Cookie", "").split(";")[0] or cookie


def first_incident_path(port: int, cookie: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/incidents", headers={"Cookie": cookie})
    html = connection.getresponse().read().decode()
    match = re.search(r'href="(/incidents/\d+)"', html)
    if not match:
        sys.exit("the queue page lists no incident this user may open")
    return match.group(1)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its children (gunicorn's master and workers)."""
    total = 0.0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue  # it exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        pids.extend(int(child) for child in children)
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS, idle / CLOCK_TICKS


def run_wrk(port: int, path: str, cookie: str, connections: int, duration: int, threads: int,
            server: int | None = None) -> dict[str, float]:
    """wrk's figures; with ``server`` (gunicorn's pid), also where the CPU went: milliseconds per request in the
    app's processes and in everything else (the database and wrk itself), and how idle the machine stayed."""
    app_before = process_tree_cpu(server) if server else 0.0
    busy_before, idle_before = machine_cpu()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        output = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script.name,
             "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    values = dict(re.findall(r"(\w+)=(\d+)", " ".join(line for line in output.splitlines()
                                                      if line.startswith("BENCH"))))
    seconds = int(values["duration_us"]) / 1e6
    requests = int(values["requests"])
    figures = {"requests": requests, "rps": round(requests / seconds, 1),
               "p50_ms": int(values["p50_us"]) / 1000, "p95_ms": int(values["p95_us"]) / 1000,
               "p99_ms": int(values["p99_us"]) / 1000, "non_2xx": int(values["non2xx"]),
               "socket_errors": int(values["errors"])}
    if server and requests:
        busy_after, idle_after = machine_cpu()
        app_cpu = process_tree_cpu(server) - app_before
        busy = busy_after - busy_before
        figures.update(app_cpu_ms_per_request=round(1000 * app_cpu / requests, 2),
                       other_cpu_ms_per_request=round(1000 * (busy - app_cpu) / requests, 2),
                       machine_idle_percent=round(100 * (idle_after - idle_before)
                                                  / (busy + idle_after - idle_before), 1))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database made by bench.generate")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--connections", type=int, default=8, help="concurrent HTTP connections (wrk -c)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--duration", type=int, default=30, help="seconds per page")
    parser.add_argument("--user", default=f"comms-1@{EMAIL_DOMAIN}")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: sudo apt-get install wrk")

    described = machine.describe()  # before the server starts: the speed figure is timed on an idle machine
    print(f"# {json.dumps(described)}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env.update(BREACHDESK_DATABASE_URL=options.database_url, BREACHDESK_SECRET_KEY="bench-http")
    server = subprocess.Popen([str(GUNICORN), "--workers", str(options.workers), "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "app.wsgi:app"], env=env, cwd=ROOT)
    results: dict[str, dict[str, float]] = {}
    try:
        wait_until_serving(port, server)
        cookie = sign_in(port, options.user)
        pages = {"queue first page": "/incidents", "incident page": first_incident_path(port, cookie)}
        for name, path in pages.items():
            run_wrk(port, path, cookie, options.connections, 3, options.threads)  # warm-up, discarded
            results[name] = run_wrk(port, path, cookie, options.connections, options.duration, options.threads,
                                    server=server.pid)
            figures = results[name]
            print(f"{name} ({path}): {figures['rps']} req/s, p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
                  f"p99 {figures['p99_ms']} ms, {figures['requests']} requests, {figures['non_2xx']} non-2xx, "
                  f"{figures['socket_errors']} socket errors; CPU per request: app "
                  f"{figures.get('app_cpu_ms_per_request')} ms, the rest {figures.get('other_cpu_ms_per_request')} ms "
                  f"(database, wrk); machine idle {figures.get('machine_idle_percent')} %")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"# gunicorn workers {options.workers}, wrk -t{options.threads} -c{options.connections} "
          f"-d{options.duration}s, load average {os.getloadavg()}")
    if options.json:
        Path(options.json).write_text(json.dumps({"options": vars(options), "machine": described, "results": results},
                                                 indent=2))


if __name__ == "__main__":
    main()
