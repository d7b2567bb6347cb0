"""A fuzzed batch of trio runs, run in two orders in one process, and the runs whose outcome moved.

Importable (the newest release's test runs it in the pytest process) and runnable in an environment
without pytest (``python -m tests.replay_batch`` from the repository root, as a matrix cell runs the
harness), which prints one JSON object: the runs, the seconds taken and the runs that differ.

The batch is drawn from where scheduling decides outcomes: BaseHTTPMiddleware layers (plain, catching,
polling, the decorator form) around endpoints that stream, answer late or keep receiving, under
scripts that disconnect mid-response. The two orders are the batch forward, and the same batch
reversed after an asyncio batch of the same scenarios (what ``--backend asyncio,trio`` does).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from harness.errors import ScriptError
from harness.run import Job, RunConfig, plan, run_jobs
from harness.run._outcome import RunRecord
from harness.scenario import Scenario
from harness.scenario._script import parse_script

LAYERS = ("base", "base-catch", "base-poll", "base-body-poll", "decorator", "asgi", "exitstack", "gzip", "errors")
#: Endpoint -> weight. ``stream-until-disconnect`` (a disconnect listener racing the stream) is the
#: one place the newest Starlette still lets the schedule decide what a run observes.
ENDPOINTS = {
    "stream-until-disconnect": 4,
    "send-then-receive": 1,
    "streaming": 1,
    "slow": 1,
    "poll-disconnect": 1,
    "background-raises": 1,
}
STEPS = ("request", "request:ab+more", "wait:1", "wait:3", "wait:idle", "wait:start", "wait:receive", "wait:chunks=1")
PROFILES = ("uvicorn", "hypercorn")

#: Wall-clock backstop per run: a fuzzed livelock (an endpoint polling a receive that never blocks)
#: is a hang either way; waiting the default 10 s for each would be most of the test's time.
REAL_TIMEOUT = 2.0

#: (scenario, backend, profile, seed): a run, as a record names it.
Key = tuple[str, str, str, int | None]


def fuzzed(count: int, seed: int) -> list[Scenario]:
    """``count`` scenarios drawn from ``seed``: 1-3 layers, an endpoint, a script that mostly disconnects."""
    rng = random.Random(seed)
    scenarios = []
    while len(scenarios) < count:
        steps = [rng.choice(STEPS) for _ in range(rng.randint(0, 3))]
        steps.append("disconnect" if rng.random() < 0.8 else rng.choice(("request", "request:ab+more")))
        receive = ",".join(steps)
        try:
            parse_script(receive)
        except ScriptError:
            continue  # a body step after the final chunk: not a script any client plays
        stack = ",".join(rng.choice(LAYERS) for _ in range(rng.randint(1, 3)))
        scenarios.append(
            Scenario(
                name=f"replay-{len(scenarios)}",
                description="fuzzed for tests/test_replay.py",
                source="issue 13",
                stack=stack,
                endpoint=rng.choices(list(ENDPOINTS), weights=list(ENDPOINTS.values()))[0],
                receive=receive,
                method=rng.choice(("GET", "POST")),
            )
        )
    return scenarios


def outcome(record: RunRecord) -> str:
    """The verdict, and for an exception its type (ok vs BrokenResourceError vs StopAsyncIteration is
    the drift issue 13 reports)."""
    exception = record.exception or {}
    return f"{record.outcome} {exception.get('type', '')}".strip()


def observed(record: RunRecord) -> str:
    """Everything the record says happened (what was sent and received, each layer's trace, the
    verdict), but not how long it took on the wall clock: all of it must replay from the seed."""
    fields = record.to_json()
    fields.pop("elapsed_s", None)
    return json.dumps(fields, sort_keys=True, default=str)


def trio_runs(records: list[RunRecord]) -> dict[Key, RunRecord]:
    return {(r.scenario, r.backend, r.profile, r.seed): r for r in records if r.backend == "trio"}


def two_orders(count: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Run the batch forward; then, in the same process, its asyncio twin, the batch reversed and
    the batch forward again. Every later run of a trio job must observe what its first run did."""
    scenarios = fuzzed(count, seed)
    trio_jobs: list[Job] = plan(scenarios, backends=["trio"], profiles=PROFILES, repeats=repeats)
    asyncio_jobs: list[Job] = plan(scenarios, backends=["asyncio"], profiles=PROFILES, repeats=1)
    config = RunConfig(real_timeout=REAL_TIMEOUT)
    started = time.perf_counter()
    first = trio_runs(run_jobs(trio_jobs, config))
    later = run_jobs(asyncio_jobs + trio_jobs[::-1] + trio_jobs, config)
    differ: dict[Key, list[str]] = {}
    for record in later:
        key = (record.scenario, record.backend, record.profile, record.seed)
        if record.backend == "trio" and observed(record) != observed(first[key]):
            differ.setdefault(key, [outcome(first[key])]).append(outcome(record))
    return {
        "runs": len(trio_jobs),
        "seconds": round(time.perf_counter() - started, 1),
        # Each run that did not replay: its key, its first outcome and the outcome of each later run
        # that differed (the outcome may agree when only what was observed on the way differs: a
        # receive() that got the request or not, one chunk more).
        "differ": [[*key, *outcomes] for key, outcomes in sorted(differ.items())],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replay_batch")
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(two_orders(args.scenarios, args.repeats, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
