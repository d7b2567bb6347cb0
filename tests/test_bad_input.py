"""Bad input, tried the ways a user gets it wrong: each case is one line on stderr naming the option,
file or key and the fix, exit status 2, and nothing already recorded is lost or changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import run_harness

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"

#: (arguments, a fragment of the one line). ``{d}`` is a folder holding earlier results and oddities.
CASES = [
    (["run", "--timeout", "-1"], "--timeout -1.0: must be a positive number"),
    (["run", "--timeout", "nan"], "--timeout nan: must be a positive number"),
    (["run", "--timeout", "0"], "--timeout 0.0: must be a positive number"),
    (["run", "--real-timeout", "0"], "--real-timeout 0.0: must be a positive number"),
    (["run", "--timeout", "abc"], "argument --timeout: invalid float value"),
    (["run", "--repeat", "0"], "--repeat 0: must be at least 1"),
    (["run", "--repeat", "-3"], "--repeat -3: must be at least 1"),
    (["run", "--repeat", "10000000000000000000"], "at most 100000 runs"),
    (["run", "--seed", "abc"], "argument --seed: invalid int value"),
    (["run", "--settle", "-1"], "--settle -1: must be 0 (off)"),
    (["run", "--settle", "1"], "--settle 1: must be 0 (off) or at least 2"),
    (["run", "--backend", "curio"], "unknown backend 'curio'"),
    (["run", "--backend", "asyncio,curio"], "unknown backend 'curio'"),
    (["run", "--profile", "nginx"], "unknown profile 'nginx'"),
    (["run", "--scenario", "nosuch"], "no scenario matches 'nosuch'"),
    (["run", "--endpoint", "nosuch"], "unknown endpoint 'nosuch'"),
    (["run", "--stack", "nosuch"], "unknown layer 'nosuch'"),
    (["run", "--stack", "base*0"], "write base*N with N >= 1"),
    (["run", "--stack", "base*1000"], "is 1000 layers deep; at most"),
    (["run", "--stack", ""], "--stack '': empty; write none"),
    (["run", "--receive", ""], "--receive '': empty"),
    (["run", "--endpoint", ""], "--endpoint '': empty"),
    (["run", "--receive", "wait:-1"], "bad step 'wait:-1'"),
    (["run", "--receive", "wait:chunks=abc"], "bad step 'wait:chunks=abc'"),
    (["run", "--receive", "request,,disconnect"], "has an empty step"),
    (["run", "--receive", "disconnect,request"], "receive script"),
    (["run", "--scenario", "pr1634-seed", "--stack", "base"], "--scenario and the ad-hoc"),
    (["run", "--out", "{d}"], "a folder; give a file path"),
    (["run", "--out", "{d}/fifo"], "not a regular file (a FIFO or a device)"),
    (["run", "--out", "{d}/link"], "a symlink; give the real path"),
    (["run", "--out", "/sys/x"], "cannot be written"),
    (["run", "--app", "nosuchmodule:app"], "no module named 'nosuchmodule'"),
    (["run", "--app", "tests.apps.fastapi_style:nope"], "has no attribute 'nope'"),
    (["run", "--app", "tests.apps.fastapi_style:Timing"], "is not an ASGI app"),
    (["run", "--app", "tests.apps.fastapi_style"], "write module:attribute or module:factory()"),
    (["run", "--app", "tests.apps.broken:app"], "raised ZeroDivisionError"),
    (["run", "--app", "tests.apps.exit_at_import:app"], "importing the app ended the process: SystemExit(3)"),
    (["run", "--app", "tests.apps.slow_import:app", "--import-timeout", "1"], "did not finish within 1 s"),
    (["run", "--import-timeout", "0"], "--import-timeout 0.0: must be a positive number"),
    (["run", "--app", "tests.apps.fastapi_style:app", "--body", "@{d}/missing"], "cannot read the file"),
    (["run", "--app", "tests.apps.fastapi_style:app", "--stack", "base"], "--app and the ad-hoc"),
    (["run", "--app", "tests.apps.fastapi_style:app", "--keep-middleware", "0,x"], "--keep-middleware 0,x"),
    (["run", "--app", "tests.apps.fastapi_style:app", "--keep-middleware", "0,9"], "middleware entries (0-"),
    (["run", "--app", "tests.apps.fastapi_style:app", "--keep-middleware", "1,1"], "distinct"),
    (["shrink"], "required: --app"),
    (["shrink", "--app", "tests.apps.service_raw:app"], "no module named"),
    (["report", "{d}/garbage.jsonl", "--out", "{d}/r"], "not text (binary data)"),
    (["report", "{d}/truncated.jsonl", "--out", "{d}/r"], "not a JSON line"),
    (["report", "{d}/other-schema.jsonl", "--out", "{d}/r"], "schema 7, expected 1"),
    (["report", "{d}/no-outcome.jsonl", "--out", "{d}/r"], "a record without"),
    (["report", "{d}/odd-outcome.jsonl", "--out", "{d}/r"], "unknown outcome 'great'"),
    (["report", "{d}/empty.jsonl", "--out", "{d}/r"], "no runs and no cell statuses"),
    (["report", "{d}/missing.jsonl", "--out", "{d}/r"], "cannot read results file"),
    (["report", "{d}/runs.jsonl", "{d}/runs.jsonl", "--out", "{d}/r"], "is given twice"),
    (["report", "{d}/runs.jsonl", "--out", "{d}/runs.jsonl"], "exists and is not a folder"),
    (["report", "{d}/bad.status.json", "--out", "{d}/r"], "not a cell status file"),
    (["gate", "--baseline", "{d}/empty.jsonl", "--candidate", "{d}/runs.jsonl"], "needs runs on both sides"),
    (["gate", "--baseline", "{d}/runs.jsonl"], "required: --candidate"),
    (["gate", "--baseline", "{d}/runs.jsonl", "--candidate", "{d}/runs.jsonl", "--junit", "{d}"], "a folder"),
    (["fit-delay", "{d}/garbage.jsonl"], "not a readable agreement.json"),
    (["fit-delay", "{d}/runs.jsonl", "--server", "granian,uvicorn-h11"], "one server's profile at a time"),
    (["serve-check", "--scenario", "pr1634-seed", "--server", "nginx"], "unknown server 'nginx'"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A folder with earlier results (which must survive every case) and the odd files the cases use."""
    d = tmp_path / "results"
    d.mkdir()
    out = run_harness("run", "--scenario", "pr1634-seed", "--backend", "asyncio", "--out", str(d / "runs.jsonl"))
    assert out.returncode == 0, out.stderr
    (d / "garbage.jsonl").write_bytes(b"\x00\xff\xfe\x80garbage")
    first = (d / "runs.jsonl").read_text().splitlines()[0]
    (d / "truncated.jsonl").write_text(first[: len(first) // 2] + "\n")
    (d / "other-schema.jsonl").write_text(first.replace('"schema":1', '"schema":7') + "\n")
    (d / "no-outcome.jsonl").write_text('{"schema": 1, "scenario": "x"}\n')
    (d / "odd-outcome.jsonl").write_text(first.replace('"outcome":"', '"outcome":"great","x":"') + "\n")
    (d / "empty.jsonl").write_text("")
    (d / "bad.status.json").write_text("{}")
    os.mkfifo(d / "fifo")
    (d / "link").symlink_to(d / "elsewhere.jsonl")
    return d


def snapshot(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            out[p.name] = "link->" + os.readlink(p)
        elif p.is_fifo():
            out[p.name] = "fifo"
        elif p.is_file():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[p.name] = "dir"
    return out


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(results, args, fragment):
    if args[:3] == ["run", "--out", "/sys/x"] and not Path("/sys").exists():
        pytest.skip("no /sys here")
    before = snapshot(results)
    out = run_harness(*[a.replace("{d}", str(results)) for a in args])
    assert out.returncode == 2, out.stdout[-500:] + out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("harness: error: ") and fragment in out.stderr, out.stderr
    assert snapshot(results) == before, "nothing recorded is lost or changed"


def test_the_catalogue_holds_at_least_sixty_cases_with_the_matrix_and_upgrade_ones():
    from tests import test_matrix_config, test_upgrade_nox

    config_cases = len(getattr(test_matrix_config, "BAD_CONFIGS", ()))
    upgrade_cases = 11  # test_upgrade_nox.test_bad_upgrade_questions_are_one_line
    assert hasattr(test_upgrade_nox, "test_bad_upgrade_questions_are_one_line")
    assert len(CASES) + config_cases + upgrade_cases >= 60


def test_a_harness_without_starlette_says_so_in_one_line(tmp_path):
    import subprocess

    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(["uv", "pip", "install", "-q", "--python", python, "packaging", "rich"], check=True, timeout=300)
    out = subprocess.run(
        [python, "-m", "harness", "run", "--scenario", "pr1634-seed"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 3 and out.stderr.count("\n") == 1, out.stderr
    assert "Starlette is not installed" in out.stderr
