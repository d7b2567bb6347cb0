"""What a real-server check costs: server startup, one request, one 20-request cell.

    python benchmarks/bench_servers.py [--server uvicorn-h11 ...] [--requests 50]

Runs in the current environment (Starlette and the servers installed here). For each server:

- startup: from spawning the server process to its first answer on the readiness path (median of 3);
- request: one request of ``no-disconnect[stack=base*4,endpoint=fast]`` through the raw-socket client,
  the server, the recorder and the record pipe (median of ``--requests``);
- cell: ``check_cell`` for ``depth-sweep[depth=4,endpoint=slow,when=now]`` with 20 requests, the
  scripted side included (the slow endpoint sleeps 0.25 s of real time per request);
- process per request: what a naive harness pays, startup + one request, times 20.

Not a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.scenario import load_catalogue
from harness.servers import CheckConfig, ServerProcess, check_cell, installed_servers, play

FAST = "no-disconnect[stack=base*4,endpoint=fast]"
SLOW = "depth-sweep[depth=4,endpoint=slow,when=now]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="append")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    catalogue = {s.name: s for s in load_catalogue()}
    logs = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    spec = {"mode": "scenario", "scenario": FAST, "time_scale": 0.05, "app_timeout": 3.0, "base": {}}
    script = catalogue[FAST].parsed_script()
    print(f"{'server':20} {'startup':>9} {'request':>9} {'cell (20)':>10} {'naive (20)':>11}")
    for server in args.server or installed_servers():
        startups, requests = [], []
        for _ in range(3):
            t = time.perf_counter()
            with ServerProcess(server, spec, log_path=logs / f"{server}.log") as proc:
                startups.append(time.perf_counter() - t)
                if not requests:
                    for i in range(args.requests):
                        t = time.perf_counter()
                        play(proc.port, script, run=i, timeout=5)
                        proc.next_record(5)
                        requests.append(time.perf_counter() - t)
        t = time.perf_counter()
        row = check_cell(catalogue[SLOW], server, CheckConfig(repeat=20, logs=logs))
        cell = time.perf_counter() - t
        assert row["status"] == "done", row.get("reason")
        startup, request = statistics.median(startups), statistics.median(requests)
        naive = 20 * (startup + request + 0.25)
        print(f"{server:20} {startup * 1000:7.0f}ms {request * 1000:7.2f}ms {cell:9.1f}s {naive:10.1f}s")


if __name__ == "__main__":
    main()
