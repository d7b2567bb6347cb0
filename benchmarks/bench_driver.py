"""Per-scenario cost of the harness driver against a direct ASGI call and Starlette's TestClient.

    python benchmarks/bench_driver.py [--repeat 20] [--scenario PATTERN ...]

Runs in the current environment (the Starlette installed here). For every scenario and the uvicorn
profile, on asyncio:

- driver: ``run_jobs`` (scripted receive, recording send, classifier, timeout, record);
- direct: the same app built the same way, ``await app(scope, receive, send)`` with a bare receive
  (the request, then ``http.disconnect`` for ever) and a list-appending send, in the same
  virtual-time loop, exceptions swallowed;
- TestClient: ``TestClient(app).request(...)`` for scenarios whose endpoint does not sleep (the
  TestClient runs on the real clock and cannot disconnect).

Prints medians of the per-scenario cost and of the ratios. Not a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.run import Job, RunConfig, make_scope, run_jobs
from harness.run.backends import AsyncioBackend, VirtualTimeLoop
from harness.scenario import EndpointState, build_endpoint, build_stack, get_profile, load_catalogue, select

NO_SLEEP = {"fast", "body", "background", "raises", "silent"}


def driver_costs(scenarios: list[Any], n: int) -> dict[str, float]:
    """Steady state, as in a matrix cell: one batch, one loop; the cost of a run is the time from the
    previous record to its own (quiesce, build, drive, classify, record)."""
    jobs = [Job(s, "asyncio", "uvicorn", r, None) for s in scenarios for r in range(n)]
    stamps: list[tuple[str, float]] = []
    run_jobs(jobs[:20], RunConfig())  # warm the imports
    started = time.perf_counter()
    run_jobs(jobs, RunConfig(), on_record=lambda rec: stamps.append((rec.scenario, time.perf_counter())))
    costs: dict[str, list[float]] = {}
    previous = started
    for name, stamp in stamps:
        costs.setdefault(name, []).append(stamp - previous)
        previous = stamp
    return {name: statistics.median(v) for name, v in costs.items()}


def direct_cost(scenario: Any, n: int) -> float:
    backend = AsyncioBackend()
    script = scenario.parsed_script()
    scope = make_scope(get_profile("uvicorn"), method=scenario.method, body=script.body)

    async def one() -> None:
        app = build_stack(scenario.parsed_stack(), build_endpoint(scenario.endpoint, backend, EndpointState()))
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": script.body, "more_body": False}
            return {"type": "http.disconnect"}

        sent: list[Any] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            await app(dict(scope), receive, send)
        except BaseException:
            pass

    async def many() -> float:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await one()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(many())
    finally:
        loop.close()


def testclient_cost(scenario: Any, n: int) -> float | None:
    if scenario.endpoint not in NO_SLEEP:
        return None
    from starlette.testclient import TestClient

    backend = AsyncioBackend()
    body = scenario.parsed_script().body
    started = time.perf_counter()
    for _ in range(n):
        app = build_stack(scenario.parsed_stack(), build_endpoint(scenario.endpoint, backend, EndpointState()))
        client = TestClient(app, raise_server_exceptions=False)  # no `with`: these apps have no lifespan
        try:
            client.request(scenario.method, "/", content=body)
        except Exception:
            pass
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--scenario", action="append")
    args = parser.parse_args()
    scenarios = select(load_catalogue(), args.scenario)
    driver = driver_costs(scenarios, args.repeat)
    rows = []
    for s in scenarios:
        rows.append((s.name, driver[s.name], direct_cost(s, args.repeat), testclient_cost(s, max(3, args.repeat // 4))))
    med = statistics.median
    print(f"{len(rows)} scenarios, {args.repeat} runs each, asyncio, uvicorn profile")
    print(
        f"median per-scenario cost: driver {med(r[1] for r in rows) * 1e3:.3f} ms, "
        f"direct {med(r[2] for r in rows) * 1e3:.3f} ms"
    )
    print(f"median driver/direct ratio: {med(r[1] / r[2] for r in rows):.2f}x")
    tcs = [r for r in rows if r[3] is not None]
    if tcs:
        print(
            f"TestClient ({len(tcs)} scenarios without sleeps): median {med(r[3] for r in tcs) * 1e3:.3f} ms, "
            f"median TestClient/driver ratio {med(r[3] / r[1] for r in tcs):.1f}x"
        )
    worst = sorted(rows, key=lambda r: -r[1] / r[2])[:5]
    print("highest driver/direct ratios: " + ", ".join(f"{n} {d / x:.2f}x" for n, d, x, _ in worst))


if __name__ == "__main__":
    main()
