"""Shared fixtures: anyio's own pytest plugin, on both backends, with the harness's virtual clock.

``anyio_backend`` hands the plugin a virtual-time asyncio loop factory and a trio ``MockClock`` that
jumps when every task is blocked, so the driver runs under pytest exactly as it does in a matrix
cell: "slow" endpoints and deadlocks cost no wall-clock time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.results import format_counts
from harness.run.backends import Backend, VirtualTimeLoop, get_backend

ROOT = Path(__file__).resolve().parent.parent

# This session's real servers carry this scope in their token, so the tests that check "no server
# left running" count only their own, not those of another test run on the same machine.
os.environ.setdefault("HARNESS_SERVER_SCOPE", f"pytest-{os.getpid()}-")
# A report's PNG pictures cost a headless Chromium start each; the tests that are about them turn
# them back on (tests/test_charts.py), every other report a test writes keeps its SVGs only.
os.environ.setdefault("HARNESS_REPORT_PNG", "0")


def run_harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` as a user runs it, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.param == "trio":
        import trio.testing

        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return "asyncio", {"loop_factory": VirtualTimeLoop}


@pytest.fixture
def backend(anyio_backend: tuple[str, dict[str, Any]]) -> Backend:
    return get_backend(anyio_backend[0])


#: (scenario, backend, profile) -> Counter of outcomes, filled by the catalogue tests.
CATALOGUE_OUTCOMES: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CATALOGUE_OUTCOMES:
        return
    from harness.run import environment

    env = environment()
    terminalreporter.section(
        f"scenario outcomes on Starlette {env['starlette']} (anyio {env['anyio']}, trio {env['trio']})"
    )
    by_outcome: Counter[str] = Counter()
    for (scenario, backend, profile), counts in sorted(CATALOGUE_OUTCOMES.items()):
        label = format_counts(counts, fractions=False)
        by_outcome.update(counts)
        if set(counts) != {"ok"}:
            terminalreporter.write_line(f"{scenario:60} {backend:8} {profile:11} {label}")
    terminalreporter.write_line(f"all scenarios: {format_counts(by_outcome, fractions=False)} (ok rows not listed)")


def minimal_record(
    version: str, scenario: str, outcome: str, backend: str = "asyncio", seed: int | None = None, detail: str = ""
) -> dict[str, Any]:
    """The fields the report reads of a run, for report tests that need no real run."""
    return {
        "starlette": version,
        "scenario": scenario,
        "backend": backend,
        "profile": "uvicorn",
        "outcome": outcome,
        "seed": seed,
        "detail": detail or f"{outcome} detail",
        "resolution": "pinned",
    }
