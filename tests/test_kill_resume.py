"""A matrix stopped in the middle, then run again, ends exactly where an uninterrupted run of the
same selection does: every cell, every run once, no temporary file, and no cell process outliving
the nox that started it.

Stopped four ways by a kill (SIGKILL or SIGTERM, to the process group as a terminal or CI does, or to
nox alone, as an out-of-memory killer or ``kill PID`` does) and by Ctrl-C (SIGINT), which must
also answer 130 at once, without a traceback, and record no cell as crashed by the interrupt.

This drives the real ``nox -s matrix`` on two releases whose environments the matrix has built and
reuses (``--offline``: the release list comes from the cache), one cell at a time, each a second or
more long, so that a signal lands while one has finished and the other runs. Linux only: the
process table is read from ``/proc`` and cells die with nox there only (``cellrun.lifeline``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.matrix,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's"),
]

FIRST, SECOND = VERSIONS = ("0.37.2", "1.10.0")
#: 7 scenarios x 2 backends x 2 profiles x 8 repeats = 224 runs: 1 s a cell when idle, 4 s when loaded.
SELECTION = ["--scenario", "pr1634-seed", "--scenario", "depth-sweep[depth=4,*", "--repeat", "8"]
RUNS_PER_CELL = 7 * 2 * 2 * 8


def matrix_command(results: Path) -> list[str]:
    return [
        sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "matrix", "--",
        "--versions", *VERSIONS, *SELECTION, "--jobs", "1", "--offline", "--results", str(results),
    ]  # fmt: skip


def run_matrix(results: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(matrix_command(results), cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


def cell_processes(results: Path, version: str | None = None) -> list[int]:
    """Live ``harness run`` processes writing into ``results`` (all cells, or ``version``'s)."""
    out = f"{results}/cells/{version}.jsonl" if version else f"{results}/cells/"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # it ended meanwhile
            continue
        args = [a.decode(errors="replace") for a in argv]
        if state != "Z" and "harness" in args and "run" in args and any(a.startswith(out) for a in args):
            pids.append(int(entry.name))
    return pids


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.05)


@contextmanager
def matrix_running(results: Path, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """nox in a session of its own, whatever the test does to it; any process it leaves is killed
    on the way out (by pid: only the ones writing into this test's folder)."""
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        proc = subprocess.Popen(matrix_command(results), cwd=ROOT, stdout=out, stderr=err, start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            for pid in cell_processes(results):
                os.kill(pid, signal.SIGKILL)


def records(results: Path) -> dict[str, list[dict[str, Any]]]:
    cells = results / "cells"
    return {v: [json.loads(line) for line in (cells / f"{v}.jsonl").read_text().splitlines()] for v in VERSIONS}


def key(record: dict[str, Any]) -> tuple[str, str, str, int]:
    return record["scenario"], record["backend"], record["profile"], record["repeat"]


def leftovers(results: Path) -> list[str]:
    """A writer's working files anywhere in the results tree (temporary files, a cell's sources
    file, a worker's dump): a finished matrix has none. (A cell's ``.index.json`` is a result.)"""
    return sorted(str(p) for p in results.rglob("*") if ".tmp" in p.name or p.name.endswith((".sources.json", ".dump")))


def assert_complete_and_once(results: Path, uninterrupted: dict[str, list[dict[str, Any]]]) -> None:
    ours = records(results)
    for version in VERSIONS:
        status = json.loads((results / "cells" / f"{version}.status.json").read_text())
        assert status["status"] == "done", status
        keys = [key(r) for r in ours[version]]
        assert len(keys) == len(set(keys)) == RUNS_PER_CELL == status["runs"], f"{version}: each run exactly once"
        assert sorted(keys) == sorted(key(r) for r in uninterrupted[version])
        # asyncio on the scripted profiles is deterministic: the same outcome run for run.
        outcomes = {key(r): r["outcome"] for r in ours[version] if r["backend"] == "asyncio"}
        assert outcomes == {key(r): r["outcome"] for r in uninterrupted[version] if r["backend"] == "asyncio"}
    assert leftovers(results) == [], "no temporary file may be left behind"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    results = tmp_path_factory.mktemp("uninterrupted") / "results"
    run_matrix(results)
    assert leftovers(results) == []
    return records(results)


@pytest.mark.parametrize("target", ["process group", "nox alone"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_matrix_killed_mid_run_keeps_its_finished_cell_and_a_rerun_completes_it_exactly_once(
    tmp_path: Path, uninterrupted: dict[str, list[dict[str, Any]]], sig: signal.Signals, target: str
) -> None:
    results = tmp_path / "results"
    cells = results / "cells"
    with matrix_running(results, tmp_path) as proc:
        wait_for(
            lambda: (cells / f"{FIRST}.status.json").exists() and cell_processes(results, SECOND),
            300,
            f"{FIRST} finished and {SECOND} running",
        )
        if target == "nox alone":
            os.kill(proc.pid, sig)
        else:
            os.killpg(proc.pid, sig)
        assert proc.wait(timeout=30) == -sig
        # The cell process dies with nox; before, it ran on as an orphan for the seconds its cell had left.
        wait_for(lambda: not cell_processes(results), 2, "no cell process outlives nox")
    finished = (cells / f"{FIRST}.status.json").read_text()
    assert not (cells / f"{SECOND}.status.json").exists()
    assert not (cells / f"{SECOND}.jsonl").exists(), "nothing writes the results of a cell whose matrix is dead"
    # What a writer killed mid-write leaves: the signal lands between writes here, most of the time.
    for name in (f".{SECOND}.jsonl.k3j4x9.tmp", f".{SECOND}.jsonl.sources.json", f".{FIRST}.status.json.q8w7e6.tmp"):
        (cells / name).write_text("{")

    again = run_matrix(results)
    assert f"{FIRST}: results are current" in again.stdout + again.stderr
    assert (cells / f"{FIRST}.status.json").read_text() == finished, "a finished cell is not redone"
    assert_complete_and_once(results, uninterrupted)


@pytest.mark.parametrize("target", ["process group", "nox alone"])
def test_ctrl_c_stops_the_matrix_at_once_with_130_and_records_no_cell_it_interrupted(
    tmp_path: Path, uninterrupted: dict[str, list[dict[str, Any]]], target: str
) -> None:
    results = tmp_path / "results"
    cells = results / "cells"
    with matrix_running(results, tmp_path) as proc:
        wait_for(lambda: cell_processes(results, FIRST), 300, f"{FIRST} running")
        if target == "nox alone":
            os.kill(proc.pid, signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        # Bounded well below a cell's length: before, nox said "interrupted" and then ran the queued cell.
        assert proc.wait(timeout=15) == 130
        wait_for(lambda: not cell_processes(results), 2, "no cell process outlives nox")
    output = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    assert "Traceback" not in output, output[-3000:]
    # The interrupted cell is not "crashed" (nor done), and the queued one never started.
    assert sorted(p.name for p in cells.glob("*.status.json")) == [], output[-3000:]
    assert not list(cells.glob("*.jsonl"))
    assert leftovers(results) == []

    run_matrix(results)
    assert_complete_and_once(results, uninterrupted)


def test_a_cells_leftovers_are_discarded_and_nothing_else(tmp_path: Path) -> None:
    """A writer killed mid-write leaves its temporary file (and a cell its sources file), which no
    later write replaces: the next run of the cell removes them (above), and only them, not another
    cell's files (0.37.2 is not 0.37.2.post1) nor the cell's finished ones."""
    from harness.results import Store

    store = Store(tmp_path / "results")
    store.cells_dir.mkdir(parents=True)
    left = [".0.37.2.jsonl.k3j4x9.tmp", ".0.37.2.status.json.q8w7e6.tmp", ".0.37.2.jsonl.sources.json"]
    kept = [".0.37.2.post1.jsonl.a1b2c3.tmp", "0.37.2.jsonl", "0.37.2.status.json"]
    for name in left + kept:
        (store.cells_dir / name).write_text("{}")
    store.discard_partial("0.37.2")
    assert sorted(p.name for p in store.cells_dir.iterdir()) == sorted(kept)


def test_a_stopped_matrix_starts_no_cell_and_kills_one_that_ignores_the_interrupt() -> None:
    """``MatrixRun.interrupt``'s bound: SIGINT first, SIGKILL for a cell still there after the grace."""
    from harness.matrix._cellrun import Children

    children = Children()
    stubborn = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    proc = children.start([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, text=True)
    assert proc is not None and proc.stdout is not None
    try:
        proc.stdout.readline()  # its handler is set
        children.stop()
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        assert children.start([sys.executable, "-c", "pass"]) is None, "a stopping matrix starts no cell"
        children.kill()
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
