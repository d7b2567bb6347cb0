"""Real servers on loopback: the model checked against them, and the runner's promises.

These start uvicorn and hypercorn for real (installed by the test extra) on 127.0.0.1 with an
ephemeral port, and close real sockets. They specify three things: a real server's verdict is
classified like the driver's; each profile's claims are measured against the installed server (and a
wrong claim is caught); and no server outlives the harness, whatever way the harness ends.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results import AGREE, COMPATIBLE, DISAGREE, NO_DATA, agreement_markdown, verdict
from harness.scenario import Scenario, get_profile, load_catalogue, parse_script
from harness.servers import CheckConfig, ServerProcess, check_cell, play, running_servers
from harness.servers import _check as servecheck
from harness.servers._probes import compare, run_probe, wrong

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("uvicorn")
pytest.importorskip("hypercorn")

CATALOGUE = {s.name: s for s in load_catalogue()}


def wait_until_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if p in running_servers()]
    return alive


@pytest.fixture(autouse=True)
def no_leftover_servers():
    assert running_servers() == [], "a server from an earlier test is still running"
    yield
    assert wait_until_gone(running_servers()) == [], "this test left a server running"


def config(tmp_path: Path, repeat: int = 3) -> CheckConfig:
    return CheckConfig(repeat=repeat, logs=tmp_path / "logs")


# --- the model against the real thing ------------------------------------------------------------


@pytest.mark.parametrize("server", ["uvicorn-h11", "hypercorn-asyncio", "hypercorn-trio"])
def test_a_real_server_reports_no_response_returned_exactly_as_the_driver_does(tmp_path, server):
    row = check_cell(CATALOGUE["silent-inner[stack=base]"], server, config(tmp_path))
    assert row["status"] == "done"
    assert row["real"] == {"no_response_returned": 3}
    assert row["scripted"] == {"no_response_returned": 3}
    assert row["verdict"] == AGREE
    assert any("No response returned." in e for e in row["server_errors"]), row["server_errors"]
    assert row["repro"].startswith("pip install starlette==") and "serve-check" in row["repro"]


def test_the_client_closes_at_each_scripted_point_and_the_app_sees_it(tmp_path):
    streaming = CATALOGUE["depth-sweep[depth=1,endpoint=streaming,when=now]"]
    spec = {"mode": "scenario", "scenario": streaming.name, "time_scale": 0.05, "app_timeout": 3.0, "base": {}}
    # closed_at says what had arrived when the client closed; the endpoint's first chunk follows
    # its headers at once and may share their TCP segment, so wait:start can close mid-stream.
    points = {
        "request,disconnect": {"before any response byte"},
        "request,wait:start,disconnect": {"after the response headers", "mid-stream"},
        "request,wait:chunks=1,disconnect": {"mid-stream"},
        "request:abc+more,disconnect": {"before the body ends"},
        "request,wait:complete,disconnect": {"after the response"},
    }
    with ServerProcess("uvicorn-h11", spec, log_path=tmp_path / "server.log") as proc:
        for run, (script, where) in enumerate(points.items()):
            method = "POST" if "abc" in script else "GET"
            client = play(proc.port, parse_script(script), run=run, method=method, timeout=5)
            record = proc.next_record(5)
            assert client.closed_at in where, (script, client)
            assert client.error is None, client
            assert record is not None and record["repeat"] == run
    assert running_servers() == []


# --- profile probes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    logs = tmp_path_factory.mktemp("probe-logs")
    return {s: run_probe(s, logs=logs) for s in PROBED}


PROBED = ("uvicorn-h11", "uvicorn-httptools", "hypercorn-asyncio", "hypercorn-trio", "granian")


@pytest.mark.parametrize("server", PROBED)
def test_the_installed_server_behaves_as_its_profile_says(probed, server):
    row = probed[server]
    assert row["matches"], row.get("mismatches") or row.get("reason")
    assert row["observed"]["notices_close"] is True, "the probe client's close must really reach the app"


def test_a_deliberately_wrong_profile_is_caught_end_to_end(tmp_path):
    lie = wrong(get_profile("hypercorn"), after_disconnect="repeat")
    row = run_probe("hypercorn-asyncio", profile=lie, logs=tmp_path)
    assert not row["matches"]
    assert row["mismatches"] == [
        "after_disconnect: profile 'hypercorn-wrong' says 'repeat', the server did 'once'",
    ]


@pytest.mark.parametrize(
    ("server", "change", "field"),
    [
        ("uvicorn-h11", {"spec_version": "2.4"}, "spec_version"),
        ("uvicorn-h11", {"send_raises_after_disconnect": True}, "send_raises_after_disconnect"),
        ("uvicorn-h11", {"after_complete": "block"}, "after_complete"),
        ("uvicorn-h11", {"disconnect_preempts_body": False}, "disconnect_preempts_body"),
        ("hypercorn-asyncio", {"content_length": "connected"}, "content_length"),
        ("hypercorn-trio", {"notices_close": False}, "notices_close"),
        ("granian", {"after_disconnect": "once"}, "after_disconnect"),
    ],
)
def test_every_claim_of_a_profile_is_checked(probed, server, change, field):
    row = probed[server]
    lie = wrong(get_profile(row["profile"]), **change)
    problems = compare(lie, row["observed"])
    assert len(problems) == 1 and problems[0].startswith(f"{field}: "), problems


# --- nothing is left behind ----------------------------------------------------------------------


def test_the_server_is_gone_after_a_cell_whose_client_fails(tmp_path, monkeypatch):
    started: list[int] = []
    real_start = ServerProcess.start

    def start(self: ServerProcess) -> None:
        real_start(self)
        started.append(self.pid)

    def failing_play(*args, **kwargs):
        raise ConnectionError("the client broke mid-cell")

    monkeypatch.setattr(ServerProcess, "start", start)
    monkeypatch.setattr(servecheck, "play", failing_play)
    with pytest.raises(ConnectionError):
        check_cell(CATALOGUE["silent-inner[stack=base]"], "uvicorn-h11", config(tmp_path))
    assert len(started) == 1
    assert wait_until_gone(started, 0.5) == []


def test_a_server_that_cannot_start_is_the_cells_status_and_leaves_nothing(tmp_path):
    unknown = Scenario("not-in-catalogue", "x", "test", stack="base", endpoint="slow", receive="request,disconnect")
    row = check_cell(unknown, "hypercorn-asyncio", config(tmp_path))
    assert row["status"] == "server-failed"
    assert row["verdict"] == NO_DATA
    assert "exited at startup" in row["reason"]
    assert running_servers() == []


def _harness_with_a_server(tmp_path: Path) -> subprocess.Popen[str]:
    """A harness process that starts a server and then waits; returns once the server is up."""
    code = (
        "import signal, sys, time\n"
        "from pathlib import Path\n"
        "from harness.servers._process import ServerProcess, stop_on_sigterm\n"
        # Ctrl-C as in a terminal: a shell's background job inherits SIGINT ignored otherwise.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "stop_on_sigterm()\n"
        "spec = {'mode': 'scenario', 'scenario': 'silent-inner[stack=base]', 'time_scale': 0.05,\n"
        "        'app_timeout': 3.0, 'base': {}}\n"
        f"with ServerProcess('uvicorn-h11', spec, log_path=Path({str(tmp_path / 's.log')!r})) as p:\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), "the harness process did not start its server"
    return proc


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_however_the_harness_ends_its_server_goes_with_it(tmp_path, how):
    harness = _harness_with_a_server(tmp_path)
    try:
        servers = running_servers()
        assert len(servers) == 1
        harness.send_signal(how)
        harness.wait(timeout=10)
    finally:
        if harness.poll() is None:  # the test failed: do not leave the harness (and its server) behind
            harness.kill()
            harness.wait()
        assert harness.stdout is not None
        harness.stdout.close()
    # SIGKILL gives the harness no chance to clean up: the server notices its parent is gone.
    assert wait_until_gone(servers, 3.0) == []


# --- the verdict and the table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "scripted", "expected"),
    [
        ({"ok": 20}, {"ok": 20}, AGREE),
        ({"no_response_returned": 20}, {"ok": 20}, DISAGREE),
        ({"no_response_returned": 17, "ok": 3}, {"no_response_returned": 20}, COMPATIBLE),
        ({"no_response_returned": 10, "ok": 10}, {"no_response_returned": 4, "ok": 16}, COMPATIBLE),
        ({"no_response_returned": 2, "ok": 18}, {"no_response_returned": 18, "ok": 2}, DISAGREE),
        ({}, {"ok": 20}, NO_DATA),
        # 5 runs a side: 4/5 against 2/5 is within sampling noise, 5/5 against 0/5 is not.
        ({"exception": 4, "ok": 1}, {"ok": 3, "exception": 2}, COMPATIBLE),
        ({"exception": 5}, {"ok": 5}, DISAGREE),
        ({"exception": 5}, {"ok": 3, "exception": 2}, COMPATIBLE),
        ({"exception": 5}, {"ok": 4, "exception": 1}, DISAGREE),
    ],
)
def test_the_verdict_compares_rates_within_the_stated_tolerance(real, scripted, expected):
    assert verdict(real, scripted)[0] == expected


def test_the_table_shows_counts_side_by_side_with_the_verdict():
    row = {
        "starlette": "0.37.2",
        "scenario": "depth-sweep[depth=4,endpoint=slow,when=now]",
        "server": "uvicorn-h11",
        "server_version": "0.54.0",
        "profile": "uvicorn",
        "real": {"no_response_returned": 20},
        "scripted": {"no_response_returned": 20},
        "verdict": AGREE,
        "status": "done",
        "closed_at": {"before any response byte": 20},
        "server_errors": ["ERROR: Exception in ASGI application -> RuntimeError: No response returned."],
    }
    table = agreement_markdown([row])
    assert (
        "| 0.37.2 | depth-sweep[depth=4,endpoint=slow,when=now] | uvicorn-h11 0.54.0 | uvicorn | "
        "no_response_returned 20/20 | no_response_returned 20/20 | **agree** |" in table
    )


def test_the_scripted_twin_of_the_pr_test_uses_the_servers_profile():
    twin = servecheck.scripted_twin(CATALOGUE["pr1634-seed"])
    assert twin.profiles is None and twin.expectations == ("only-start-sent",)
    assert dataclasses.replace(twin, profiles=("gen-end", "gen-repeat")) == CATALOGUE["pr1634-seed"]


def test_the_html_report_summarizes_the_agreement_when_present(tmp_path):
    from harness.results import agreement_html, load_agreement

    assert load_agreement(tmp_path) is None and agreement_html(None) == ""
    (tmp_path / "agreement.json").write_text(
        '{"tolerance": 0.35, "cells": [{"starlette": "0.37.2", "scenario": "s", "server": "uvicorn-h11",'
        ' "real": {"ok": 20}, "scripted": {"no_response_returned": 20}, "verdict": "disagree", "repro": "pip x"}],'
        ' "probes": [{"server": "hypercorn-trio", "profile": "hypercorn", "matches": false,'
        ' "mismatches": ["after_disconnect: ..."]}]}'
    )
    section = agreement_html(load_agreement(tmp_path))
    assert "1 cells: disagree 1" in section
    assert "<b>disagree</b>" in section and "<code>pip x</code>" in section
    assert "after_disconnect: ..." in section


def test_the_servers_error_lines_come_with_the_exception_that_ended_them():
    from harness.servers import server_errors

    log = (
        "INFO:     started\n"
        "ERROR:    Exception in ASGI application\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "RuntimeError: No response returned.\n"
        "[2026-11-22 02:39:05 +0000] [6041] [ERROR] Error in ASGI Framework\n"
        "  + Exception Group Traceback (most recent call last):\n"
        "  | h11._util.LocalProtocolError: Too little data\n"
        "h11._util.LocalProtocolError: Too little data for declared Content-Length\n"
    )
    assert server_errors(log) == [
        "ERROR:    Exception in ASGI application -> RuntimeError: No response returned.",
        "[2026-11-22 02:39:05 +0000] [6041] [ERROR] Error in ASGI Framework -> "
        "h11._util.LocalProtocolError: Too little data for declared Content-Length",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve-check", "--scenario", "pr1634-seed", "--server", "gunicorn"], "unknown server 'gunicorn'"),
        (["serve-check", "--scenario", "no-such-*", "--server", "uvicorn-h11"], "no scenario matches 'no-such-*'"),
        (["serve-check", "--scenario", "pr1634-seed", "--repeat", "0"], "--repeat 0: must be at least 1"),
        (["probe", "--server", "daphne"], "unknown server 'daphne'"),
    ],
)
def test_bad_serve_check_input_is_one_line(args, message):
    from tests.conftest import run_harness

    out = run_harness(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("harness: error: ") and message in out.stderr
    assert out.stderr.count("\n") == 1
