"""The command line: listing, running, and one-line errors for bad input (never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results import REQUIRED_FIELDS
from tests.conftest import run_harness

ROOT = Path(__file__).resolve().parent.parent


def documented_fields(optional: bool = False) -> set[str]:
    """Field names in the README's "Results schema" table (`a`, `b` cells name several); with
    ``optional``, only those whose type says they are."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Results schema", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `") and (not optional or "optional" in row.split("|")[2]):
            names.update(n.strip(" `") for n in row.split("|")[1].split(","))
    return names


harness = run_harness


def test_list_names_every_scenario_with_its_description_and_source():
    out = harness("list")
    assert out.returncode == 0
    first = out.stdout.splitlines()[0].split("\t")
    assert first[0] == "pr1634-seed"
    assert "encode/starlette#1634" in first[2]


def test_run_writes_one_json_line_per_run_with_the_documented_fields(tmp_path):
    out_file = tmp_path / "r.jsonl"
    out = harness(
        "run",
        "--scenario",
        "silent-inner*",
        "--backend",
        "asyncio,trio",
        "--profile",
        "uvicorn",
        "--repeat",
        "2",
        "--out",
        str(out_file),
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert len(lines) == 3 * 2 * 2
    documented = documented_fields()
    assert set(REQUIRED_FIELDS) <= documented, "the fields the schema promises are all documented"
    optional = documented_fields(optional=True)
    assert optional == {"first_attempt", "threads_left"}
    for line in lines:
        assert documented - optional <= set(line) <= documented, "every line has exactly the documented fields"
    assert {x["outcome"] for x in lines} == {"no_response_returned"}
    assert "no_response_returned 2/2" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--scenario", "no-such-thing"], "no scenario matches 'no-such-thing'; families are"),
        (["run", "--profile", "gunicorn"], "unknown profile 'gunicorn'; choose from uvicorn"),
        (["run", "--backend", "curio"], "unknown backend 'curio'; choose from asyncio, trio"),
        (["run", "--stack", "base*3,magic"], "unknown layer 'magic'; choose from base"),
        (["run", "--receive", "request,dance"], "bad step 'dance'; steps are request"),
        (["run", "--endpoint", "teapot"], "unknown endpoint 'teapot'; choose from slow"),
        (["run", "--repeat", "0"], "--repeat 0: must be at least 1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_with_what_is_allowed(args, message):
    out = harness(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("harness: error: ")
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_an_adhoc_stack_reproduces_without_a_catalogue_entry():
    out = harness(
        "run",
        "--stack",
        "base",
        "--endpoint",
        "silent",
        "--receive",
        "request",
        "--backend",
        "asyncio",
        "--profile",
        "uvicorn",
    )
    assert out.returncode == 0, out.stderr
    assert "no_response_returned 1/1" in out.stdout


def test_a_bare_command_prints_its_usage_and_version_names_the_release():
    bare = harness()
    assert bare.returncode == 2 and bare.stderr.startswith("usage: python -m harness")
    assert "run" in bare.stderr and "Traceback" not in bare.stderr
    version = harness("--version")
    assert version.returncode == 0 and version.stdout.startswith("python -m harness ")


def test_a_reader_that_goes_away_ends_the_listing_quietly():
    import fcntl
    import os
    import subprocess
    import sys

    # A pipe smaller than the listing (~40 KB), made before the child starts: the child must block
    # on a full pipe and meet the closed end, whatever the machine's speed.
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "list"], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    assert proc.stderr is not None
    with os.fdopen(read_end, "rb") as stdout:
        stdout.readline()  # like `| head -1`, then the reader goes away
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert err == "", err
