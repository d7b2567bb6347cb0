"""Runs are bounded from outside their event loop: an app that ends its process, blocks its loop,
blocks at import or leaves threads behind becomes part of the record, and the selection goes on.

Every test runs ``python -m harness run`` as a user does, against tests/apps/misbehaving.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, run_harness

APP = "tests.apps.misbehaving:app"
ONE = ("--scenario", "app[no-disconnect]", "--profile", "uvicorn")


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_app_that_raises_system_exit_is_recorded_as_exited_and_the_selection_goes_on(tmp_path):
    out = tmp_path / "runs.jsonl"
    done = run_harness("run", "--app", APP, "--path", "/sys-exit", *ONE, "--repeat", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    got = records(out)
    assert [(r["backend"], r["repeat"]) for r in got] == [("asyncio", 0), ("asyncio", 1), ("trio", 0), ("trio", 1)]
    assert {r["outcome"] for r in got} == {"exited"}
    assert all("SystemExit(5)" in r["detail"] for r in got)
    # The first of each cell was tried again in a fresh process, and ended that one too.
    assert [r.get("first_attempt", {}).get("outcome") for r in got] == ["exited", None, "exited", None]
    assert "the same in a fresh process" in got[0]["detail"]


def test_an_app_that_calls_os_exit_is_recorded_with_the_status(tmp_path):
    out = tmp_path / "runs.jsonl"
    done = run_harness("run", "--app", APP, "--path", "/os-exit", *ONE, "--backend", "trio", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (r,) = records(out)
    assert r["outcome"] == "exited" and "exit status 7" in r["detail"]


def test_a_run_that_ends_only_a_used_process_passes_in_a_fresh_one_and_keeps_its_first_attempt(tmp_path):
    out = tmp_path / "runs.jsonl"
    args = ("--path", "/exit-second", *ONE, "--backend", "asyncio", "--repeat", "3", "--out", str(out))
    done = run_harness("run", "--app", APP, *args)
    assert done.returncode == 0, done.stderr
    got = records(out)
    assert [r["outcome"] for r in got] == ["ok", "ok", "ok"]
    assert "first_attempt" not in got[0]
    assert all("exit status 9" in r["first_attempt"]["detail"] for r in got[1:])


def test_a_blocked_event_loop_is_a_hang_that_names_the_apps_line_within_the_real_time_bound(tmp_path):
    out = tmp_path / "runs.jsonl"
    started = time.monotonic()
    done = run_harness("run", "--app", APP, "--path", "/block", *ONE, "--real-timeout", "1", "--out", str(out))
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    got = records(out)
    assert [(r["backend"], r["outcome"]) for r in got] == [("asyncio", "hang"), ("trio", "hang")]
    assert all("misbehaving.py:" in r["detail"] and "in app" in r["detail"] for r in got), got[0]["detail"]
    assert all("did not end within 6 s of real time" in r["detail"] for r in got)
    assert elapsed < 60  # 2 runs x 2 attempts x (1 s backstop + 5 s grace + 1 s dump), not 4 x 30 s


def test_an_app_that_blocks_at_import_is_one_line_naming_the_bound(tmp_path):
    started = time.monotonic()
    done = run_harness("run", "--app", "tests.apps.slow_import:app", "--import-timeout", "2")
    assert time.monotonic() - started < 30
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "importing the app did not finish within 2 s" in done.stderr
    assert "slow_import.py:5 in <module>" in done.stderr and "--import-timeout" in done.stderr


def test_threads_the_app_leaves_running_are_recorded_and_do_not_keep_the_process_alive(tmp_path):
    out = tmp_path / "runs.jsonl"
    done = run_harness("run", "--app", APP, "--path", "/thread", *ONE, "--repeat", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    got = records(out)
    assert [r["outcome"] for r in got] == ["ok"] * 4
    assert [r.get("threads_left") for r in got] == [["left-by-app"]] * 4  # each run's own thread
    assert "the app left 4 thread(s) running" in done.stderr


def test_a_thread_started_at_import_does_not_keep_the_process_alive():
    done = run_harness("run", "--app", "tests.apps.thread_at_import:app", *ONE, "--backend", "asyncio")
    assert done.returncode == 0, done.stderr
    assert "(started-at-import)" in done.stderr


def _peak_rss_kb(*args: str) -> int:
    """The largest resident set of any process of one harness run (its worker)."""
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [sys.executable, "-c", probe, sys.executable, "-m", "harness", *args]
    return int(subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout)


def test_records_stream_to_disk_so_memory_does_not_grow_with_the_repeat_count(tmp_path):
    scenario = ("--scenario", "no-disconnect[stack=none,endpoint=fast]", "--profile", "uvicorn", "--backend", "asyncio")
    small = _peak_rss_kb("run", *scenario, "--repeat", "200", "--quiet", "--out", str(tmp_path / "a.jsonl"))
    large = _peak_rss_kb("run", *scenario, "--repeat", "6000", "--quiet", "--out", str(tmp_path / "b.jsonl"))
    assert len(records(tmp_path / "b.jsonl")) == 6000
    assert large - small < 4000, (small, large)  # kept in memory, 6000 records took ~12 MB more


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _interrupted(tmp_path: Path, sig: signal.Signals) -> tuple[int, list[str]]:
    out = tmp_path / "runs.jsonl"
    out.write_text("earlier results\n")
    args = ["run", "--app", APP, "--path", "/block", *ONE, "--backend", "asyncio", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # the worker is in the blocked run by now
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    assert out.read_text() == "earlier results\n"  # nothing recorded is lost or changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]  # no partial file left
    assert "Traceback" not in err, err
    assert not _processes_naming(str(out)), "the worker outlived its supervisor"
    return proc.returncode, err.splitlines()


def test_ctrl_c_stops_the_run_with_130_and_leaves_no_partial_file(tmp_path):
    code, err = _interrupted(tmp_path, signal.SIGINT)
    assert code == 130 and err == ["harness: interrupted"]


def test_sigterm_stops_the_run_the_same_way(tmp_path):
    code, err = _interrupted(tmp_path, signal.SIGTERM)
    assert code == 130 and err == ["harness: interrupted"]


def _supervised(tmp_path: Path, runs: int, script: dict[str, str]) -> tuple[list[dict[str, Any]], Any]:
    """Runs the supervisor over tests/scripted_worker.py; its records and what it saw (or raised)."""
    from harness.run import Incomplete, WatchBounds, supervise

    results, plan = tmp_path / "r.jsonl", tmp_path / "script.json"
    results.touch()
    plan.write_text(json.dumps(script))

    def command(write_fd: int, *, resume: int, first_attempt: dict[str, Any] | None) -> list[str]:
        worker = str(ROOT / "tests" / "scripted_worker.py")
        return [
            sys.executable,
            worker,
            str(write_fd),
            str(resume),
            str(runs),
            str(plan),
            str(results),
            json.dumps(first_attempt),
        ]

    def append(record: dict[str, Any]) -> None:
        with results.open("a") as f:
            f.write(json.dumps(record) + "\n")

    try:
        seen: Any = supervise(command, results, tmp_path / "dump", WatchBounds(run=10, start=10), append)
    except Incomplete as e:
        seen = e
    return [json.loads(line) for line in results.read_text().splitlines()], seen


def test_workers_that_end_between_runs_at_different_places_do_not_stop_the_selection(tmp_path):
    got, seen = _supervised(tmp_path, 6, {"1:0": "die-after", "4:0": "die-after"})
    assert [r["repeat"] for r in got] == [0, 1, 2, 3, 4, 5] and {r["outcome"] for r in got} == {"ok"}
    assert seen.workers == 3


def test_a_worker_that_ends_twice_at_the_same_place_leaves_the_selection_incomplete(tmp_path):
    got, seen = _supervised(tmp_path, 6, {"3:0": "die-before", "3:1": "die-before"})
    assert str(seen) == "the worker ended twice after run 3 (exit status 9, e.g. os._exit(9))"
    assert [r["repeat"] for r in got] == [0, 1, 2]  # kept


def test_a_half_written_record_never_precedes_the_supervisors_record(tmp_path):
    got, _ = _supervised(tmp_path, 3, {"1:0": "die", "1:1": "partial-die"})
    assert [(r["repeat"], r["outcome"]) for r in got] == [(0, "ok"), (1, "exited"), (2, "ok")]
    assert got[1]["first_attempt"] == {"outcome": "exited", "detail": got[1]["first_attempt"]["detail"]}


def test_a_harness_fault_in_the_worker_is_no_verdict_on_the_app(tmp_path):
    out = tmp_path / "runs.jsonl"
    done = run_harness("run", "--app", "tests.apps.harness_fault:app", *ONE, "--backend", "asyncio", "--out", str(out))
    assert done.returncode == 1
    assert "planted: a bug of the harness's own client" in done.stderr  # its traceback, for the bug report
    assert done.stderr.strip().splitlines()[-1].startswith("harness: error: the harness failed in its worker")
    assert records(out) == []  # nothing recorded as the app's doing


def test_a_process_the_app_started_does_not_hide_that_the_app_ended_its_own(tmp_path):
    out = tmp_path / "runs.jsonl"
    started = time.monotonic()
    done = run_harness(
        "run",
        "--app",
        "tests.apps.spawns_helper:app",
        "--path",
        "/os-exit",
        *ONE,
        "--backend",
        "asyncio",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    (r,) = records(out)
    assert r["outcome"] == "exited" and "exit status 7" in r["detail"]
    assert time.monotonic() - started < 20  # not the 15 s bound of a hang, twice
