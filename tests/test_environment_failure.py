"""A cell whose runs fail on its own environment, before Starlette is reached, is ``crashed`` with
that failure as its reason, never ``done`` with a verdict Starlette did not earn."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from harness.matrix import Cell, Selection
from harness.matrix._cellrun import run as run_cell
from harness.results import CRASHED, DONE, Store, environment_failure

NURSERY = "open_nursery() got an unexpected keyword argument 'strict_exception_groups'"


def runs(n: int, *, backend: str = "trio", scenarios: int = 5, **exception: str) -> list[dict[str, Any]]:
    """``n`` runs spread over ``scenarios`` scenarios, each failing with ``exception`` (or ok)."""
    out = []
    for i in range(n):
        r: dict[str, Any] = {"scenario": f"s{i % scenarios}", "backend": backend, "outcome": "ok"}
        if exception:
            r.update(outcome="exception", exception=dict(exception))
        out.append(r)
    return out


ANYIO_MISMATCH = {"type": "TypeError", "message": NURSERY, "where": "anyio/_backends/_trio.py:__init__:223"}


def test_one_mismatch_in_an_event_loop_library_over_nearly_every_run_is_the_environment():
    reason = environment_failure(runs(191, **ANYIO_MISMATCH) + runs(5) + runs(200, backend="asyncio"))
    assert (
        reason
        == f"191 of 196 trio runs failed on the environment at anyio/_backends/_trio.py:__init__:223: TypeError: {NURSERY}"
    )


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(runs(200), id="every run ok"),
        pytest.param(runs(191, **ANYIO_MISMATCH) + runs(95), id="a third of the runs do not fail"),
        pytest.param(runs(200, scenarios=2, **ANYIO_MISMATCH), id="two scenarios say nothing of the environment"),
        pytest.param(
            runs(200, type="TypeError", message="x", where="starlette/middleware/base.py:call_next:50"),
            id="raised in Starlette: a verdict",
        ),
        pytest.param(
            runs(200, type="anyio.BrokenResourceError", message="", where="anyio/streams/memory.py:send:213"),
            id="a state a stream reached: a verdict",
        ),
    ],
)
def test_anything_else_is_a_verdict_on_starlette(records):
    assert environment_failure(records) is None


def test_a_cell_with_anyio_4_beside_trio_0_21_is_crashed_with_the_reason(tmp_path):
    env = tmp_path / "env"
    try:
        subprocess.run(["uv", "venv", "-q", str(env), "--python", "3.11"], check=True, timeout=120)
        deps = ["starlette==1.10.0", "anyio==4.16.0", "trio==0.21.0", "packaging", "rich"]
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(env / "bin" / "python"), *deps], check=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot build the environment: {e}")
    cell = Cell(starlette="1.10.0", python="3.11", resolution="pinned", requirements=("starlette==1.10.0",))
    selection = Selection(
        scenarios=("no-disconnect", "pr1634-seed", "depth-sweep[depth=2,*"),
        backends=("trio",),
        profiles=("uvicorn",),
        repeats=1,
        seed=0,
        timeout=60.0,
        real_timeout=10.0,
    )
    store = Store(tmp_path / "results")
    assert run_cell(cell, str(env / "bin" / "python"), selection, store, cell_timeout=300) == CRASHED
    status = store.status(cell.id)
    assert status is not None and status.status == CRASHED and status.status != DONE
    assert "trio runs failed on the environment at anyio/_backends/_trio.py" in status.reason
