"""The matrix through the real nox path: killed mid-run, it keeps every finished cell and, run
again, finishes the rest without redoing or duplicating anything.

This drives ``nox -s matrix`` (uv environments, the package index) on a small slice, so it needs
nox, uv and access to the index, like the matrix itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ["0.20.4", "0.28.0", "0.37.2", "1.10.0"]
#: 2 profiles x 2 backends x 1 repeat for each depth-sweep scenario (60 of them).
RUNS_PER_CELL = 60 * 2 * 2


def nox_command(tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nox",
        "--envdir",
        str(ROOT / ".nox"),
        "-f",
        str(ROOT / "noxfile.py"),
        "-s",
        "matrix",
        "--",
        "--versions",
        *VERSIONS,
        "--scenario",
        "depth-sweep*",
        "--repeat",
        "1",
        "--jobs",
        "1",
        "--results",
        str(tmp_path / "results"),
    ]


def statuses(tmp_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (tmp_path / "results" / "cells").glob("*.status.json")}


def test_killing_the_matrix_loses_no_finished_cell_and_duplicates_none(tmp_path):
    proc = subprocess.Popen(
        nox_command(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    try:
        while not statuses(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = statuses(tmp_path)
    assert 1 <= len(before) < len(VERSIONS), f"the kill must land mid-matrix, saw {sorted(before)}"

    again = subprocess.run(nox_command(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = statuses(tmp_path)
    assert len(after) == len(VERSIONS)
    for name, text in before.items():
        assert after[name] == text, f"{name} was finished before the kill and must not be redone"
    assert "results are current" in again.stdout + again.stderr
    cells = tmp_path / "results" / "cells"
    for version in VERSIONS:
        status = json.loads((cells / f"{version}.status.json").read_text())
        assert status["status"] == "done"
        lines = (cells / f"{version}.jsonl").read_text().splitlines()
        assert len(lines) == RUNS_PER_CELL == status["runs"]
        keys = [(r["scenario"], r["backend"], r["profile"], r["repeat"]) for r in map(json.loads, lines)]
        assert len(set(keys)) == len(keys), "no run may appear twice"
    assert not list(cells.glob(".*.tmp")), "no temporary file may be left behind"
    assert (tmp_path / "results" / "report.md").exists()


def test_a_crashed_cell_fails_the_matrix_after_the_report_and_is_retried_next_time(tmp_path):
    import re

    matrix = tmp_path / "matrix.toml"
    text = (ROOT / "matrix.toml").read_text()
    matrix.write_text(re.sub(r"(?m)^cell_timeout = \S+", "cell_timeout = 0.01", text))
    command = [*nox_command(tmp_path)[: nox_command(tmp_path).index("--") + 1], "--versions", "1.10.0"]
    command += ["--scenario", "pr1634-seed", "--matrix", str(matrix), "--results", str(tmp_path / "results")]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    out = first.stdout + first.stderr
    assert first.returncode != 0, out[-3000:]
    assert "1 cell(s) failed: 1.10.0: crashed" in out, out[-3000:]
    assert (tmp_path / "results" / "report.md").exists(), "the report is written before the run fails"
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert "results are current" not in again.stdout + again.stderr, "a crashed cell is tried again"
    assert again.returncode != 0


def test_one_cells_session_is_judged_by_that_cell_and_the_report_alone_by_all(tmp_path):
    import re

    results = str(tmp_path / "results")
    base = nox_command(tmp_path)[: nox_command(tmp_path).index("-s")]
    selection = ["--versions", "0.37.2", "1.10.0", "--scenario", "pr1634-seed", "--results", results]
    crashing = tmp_path / "matrix.toml"
    crashing.write_text(re.sub(r"(?m)^cell_timeout = \S+", "cell_timeout = 0.01", (ROOT / "matrix.toml").read_text()))
    run = lambda *a: subprocess.run([*base, *a], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)  # noqa: E731

    crashed = run("-s", "matrix(starlette='1.10.0')", "--", *selection, "--matrix", str(crashing))
    assert crashed.returncode != 0 and "1.10.0: crashed" in crashed.stdout + crashed.stderr
    other = run("-s", "matrix(starlette='0.37.2')", "--", *selection)
    assert other.returncode == 0, "0.37.2 ran well; 1.10.0's old crash is not its verdict\n" + other.stderr[-2000:]
    alone = run("-s", "report", "--", *selection)
    assert alone.returncode != 0 and "1 cell(s) failed: 1.10.0: crashed" in alone.stdout + alone.stderr
