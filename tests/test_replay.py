"""A trio run replays from its seed, whatever ran before it in the process (issue 13, item 10).

The same fuzzed batch (``tests/replay_batch.py``) runs forward, then after its asyncio twin
reversed, then forward again, all in one process; every run of a (scenario, backend, profile,
seed) must observe exactly what its first run did: the outcome, the exception, what was sent and
received, each layer's trace. Before the fix, Starlette 0.20.4 changed outcomes (ok vs
``BrokenResourceError``, ok vs hang) and the newest release changed what runs observed (a chunk
more, a request seen or not), because trio ordered its run queue by memory address.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from harness.errors import HarnessError
from harness.matrix import Release, ensure_env, install, load, make_cell
from harness.run.backends import get_backend
from tests.replay_batch import two_orders

ROOT = Path(__file__).resolve().parent.parent


def _explain(result: dict[str, Any]) -> str:
    lines = [f"{len(result['differ'])} of {result['runs']} trio runs did not replay from their seed:"]
    lines += [" ".join(str(part) for part in row) for row in result["differ"][:20]]
    return "\n".join(lines)


def test_the_newest_release_replays_every_run_of_a_batch_run_in_another_order() -> None:
    result = two_orders(count=300, repeats=2)
    assert result["differ"] == [], _explain(result)


def _python_with_starlette(version: str) -> str:
    """An interpreter with ``version`` and the matrix's pins for it (the gate's environment, reused)."""
    cell = make_cell(load(ROOT / "matrix.toml"), Release(Version(version), ""))
    try:
        python = ensure_env(cell, ROOT / ".nox" / "cells")
    except HarnessError as e:
        pytest.skip(f"no environment for Starlette {version}: {e}")
    installed, why = install(cell, python)
    if not installed:
        pytest.skip(f"cannot install Starlette {version}'s pins ({', '.join(cell.requirements)}): {why}")
    return python


@pytest.mark.matrix
def test_starlette_0_20_4_on_trio_0_21_replays_every_run_of_a_batch_run_in_another_order() -> None:
    python = _python_with_starlette("0.20.4")
    out = subprocess.run(
        [python, "-m", "tests.replay_batch", "--scenarios", "100", "--repeats", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["runs"] == 400
    assert result["differ"] == [], _explain(result)


def test_a_run_starts_at_virtual_time_zero_and_never_closes_what_an_earlier_run_abandoned() -> None:
    """The clock of a run does not carry on from the run before, and an async generator a run left
    unfinished (as Starlette's ``body_stream`` is when the client leaves) is closed by that run's
    loop, not as a system task scheduled in whichever run happens to free it."""
    import trio

    abandoned: list[object] = []
    seen: list[tuple[float, list[str]]] = []

    class Spawns(trio.abc.Instrument):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            self.names: list[str] = []

        def task_spawned(self, task: Any) -> None:
            self.names.append(task.name)

    async def body() -> Any:
        yield b"chunk"
        yield b"never read"

    async def abandon() -> None:
        stream = body()
        await stream.__anext__()
        abandoned.append(stream)  # outlives the run, as a record's reference to its app could
        await trio.sleep(5)

    async def free_it() -> None:
        spawns = Spawns()
        trio.lowlevel.add_instrument(spawns)
        start = trio.current_time()
        abandoned.clear()  # the last reference goes here, in the next run
        await trio.sleep(0)
        trio.lowlevel.remove_instrument(spawns)
        seen.append((start, [n for n in spawns.names if n.startswith("close asyncgen")]))

    get_backend("trio").run_batch([(0, abandon), (0, free_it)], virtual_time=True, on_result=lambda _: None)
    assert seen == [(0.0, [])]


def test_a_batch_leaves_trios_scheduler_and_the_garbage_collector_as_it_found_them() -> None:
    """The harness's replay settings are its own: a trio test or a collector setting of the caller's
    is untouched once the batch is over."""
    import gc

    from trio._core import _run

    before = _run._ALLOW_DETERMINISTIC_SCHEDULING  # True where Hypothesis is imported
    during: list[tuple[bool, bool]] = []

    async def call() -> tuple[bool, bool]:
        return _run._ALLOW_DETERMINISTIC_SCHEDULING, gc.isenabled()

    assert gc.isenabled()
    get_backend("trio").run_batch([(0, call), (1, call)], virtual_time=True, on_result=during.append)
    assert during == [(True, False), (True, False)], "runs are scheduled in creation order, collector off"
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert _run._ALLOW_DETERMINISTIC_SCHEDULING is before


def test_an_empty_trio_batch_needs_no_trio(monkeypatch):
    """Where trio is not installed (a pre-anyio cell) every trio job is not_applicable: the empty
    batch must not import it."""
    import builtins

    from harness.run.backends import get_backend

    real_import = builtins.__import__

    def no_trio(name: str, *args: object, **kwargs: object) -> object:
        if name == "trio" or name.startswith("trio."):
            raise ModuleNotFoundError("No module named 'trio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trio)
    get_backend("trio").run_batch([], virtual_time=True, on_result=print)


def test_a_batch_of_runnable_tasks_runs_as_it_stands_or_reversed_as_production_trio_does():
    """Trio's deterministic switch alone shuffles a batch (any of n! orders); the harness keeps
    trio's own choice, the creation order as it stands or reversed, so no result rests on an order
    trio never takes."""
    import trio

    from harness.run.backends import get_backend

    orders: set[str] = set()

    async def four_tasks() -> str:
        order: list[str] = []

        async def step(name: str) -> None:
            await trio.lowlevel.checkpoint()
            order.append(name)

        async with trio.open_nursery() as nursery:
            for name in "abcd":
                nursery.start_soon(step, name)
        return "".join(order)

    calls = [(seed, four_tasks) for seed in range(60)]
    get_backend("trio").run_batch(calls, virtual_time=True, on_result=orders.add)
    assert orders == {"abcd", "dcba"}
