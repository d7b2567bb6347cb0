"""Issue-level behaviour through the real nox sessions: the upgrade gate on the project's own
FastAPI-style app, bisect over releases, and a sharded matrix merged back into one report.

These build uv environments for a few releases (reused between runs) and need the package index.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ["--app", "tests.apps.fastapi_style:app", "--path", "/items", "--repeat", "3"]


def nox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, **(env or {})},
    )


def junit_failures(path: Path) -> int:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return int(suite.get("failures") or 0)


def test_the_gate_fails_0_27_to_0_37_2_and_passes_0_37_2_to_0_38_6(tmp_path):
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    results = ["--results", str(tmp_path / "upgrade")]
    worse = nox(
        "-s",
        "gate",
        "--",
        "--from",
        "0.27.0",
        "--to",
        "0.37.2",
        *APP,
        "--junit",
        str(tmp_path / "a.xml"),
        *results,
        env=env,
    )
    assert worse.returncode != 0, worse.stdout[-3000:] + worse.stderr[-3000:]
    assert "gate FAIL" in worse.stdout
    assert junit_failures(tmp_path / "a.xml") > 0
    fixed = nox(
        "-s",
        "gate",
        "--",
        "--from",
        "0.37.2",
        "--to",
        "0.38.6",
        *APP,
        "--junit",
        str(tmp_path / "b.xml"),
        *results,
        env=env,
    )
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert junit_failures(tmp_path / "b.xml") == 0
    text = summary.read_text()
    assert "0.27.0 → 0.37.2: FAIL" in text
    assert "0.37.2 → 0.38.6: pass" in text


SERVICE = ROOT / "tests" / "apps" / "service"
SERVICE_APP = ["--app", "svc:app", "--app-dir", str(SERVICE), "--path", "/items"]
SERVICE_GATE = ["-s", "gate", "--", *SERVICE_APP, "--requirements", str(SERVICE / "requirements.txt")]


def test_a_fastapi_upgrade_is_judged_on_the_starlette_each_release_resolves_to(tmp_path):
    results = ["--results", str(tmp_path / "upgrade")]
    worse = nox(*SERVICE_GATE, "--from", "fastapi==0.106.0", "--to", "fastapi==0.108.0", *results, "--shrink")
    text = worse.stdout + worse.stderr
    assert "shrinking the app's middleware on fastapi 0.108.0 (starlette 0.32.0.post1)" in text
    assert "app[disconnect-now] asyncio/uvicorn: no_response_returned with 4 of 5 entries" in text
    assert worse.returncode != 0, text[-3000:]
    assert "fastapi 0.106.0 (starlette 0.27.0)" in text and "fastapi 0.108.0 (starlette 0.32.0.post1)" in text
    import re

    head = re.search(r"WORSE app: ok → no_response_returned", text)  # the group of the app's lost responses
    assert head is not None and "gate FAIL" in text, text[-3000:]
    lost = text[head.end() :].split("gate FAIL", 1)[0].split("WORSE", 1)[0]
    disconnect_now = " ".join(lost.split("app[disconnect-now]:", 1)[1].split("app[", 1)[0].split())
    for cell in ("asyncio/uvicorn", "trio/uvicorn"):
        assert cell in disconnect_now, lost
    fixed = nox(*SERVICE_GATE, "--from", "fastapi==0.108.0", "--to", "fastapi==0.115.6", *results)
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-3000:]
    assert "gate pass" in fixed.stdout


def test_bisect_between_fastapi_releases_names_the_release_and_its_starlette(tmp_path):
    out = nox(
        "-s", "bisect", "--", *SERVICE_APP, "--requirements", str(SERVICE / "requirements.txt"),
        "--good", "fastapi==0.106.0", "--bad", "fastapi==0.108.0", "--results", str(tmp_path / "bisect"),
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "first change: fastapi 0.106.0 (starlette 0.27.0) -> fastapi 0.107.0 (starlette 0.28.0)" in text
    assert "cells differ between the bounds; probing only those" in text
    assert "reproduce: nox -s gate -- --from fastapi==0.106.0 --to fastapi==0.107.0" in text
    assert "--requirements " in text.split("reproduce:")[1]


def test_editing_the_app_makes_the_next_gate_run_again(tmp_path):
    app_dir = tmp_path / "service"
    app_dir.mkdir()
    source = (ROOT / "tests" / "apps" / "fastapi_style.py").read_text()
    (app_dir / "svc.py").write_text(source)
    args = ["-s", "gate", "--", "--from", "0.37.2", "--to", "0.38.6", "--app", "svc:app", "--app-dir", str(app_dir)]
    args += ["--path", "/items", "--repeat", "2", "--backend", "asyncio", "--results", str(tmp_path / "upgrade")]
    first = nox(*args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = nox(*args)
    assert "0 environments used" in again.stdout + again.stderr, "unchanged app: stored results are current"
    (app_dir / "svc.py").write_text(source + "\n# edited\n")
    edited = nox(*args)
    assert "2 environments used" in edited.stdout + edited.stderr, "an edited app must run again on both sides"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("scenario", "good", "bad", "pair"),
    [
        ("pr1634-seed", "0.14.2", "0.20.4", "0.14.2 -> 0.15.0"),
        ("depth-sweep[depth=6,endpoint=slow,when=now]", "0.27.0", "0.37.2", "0.27.0 -> 0.28.0"),
    ],
)
def test_bisect_names_the_release_that_changed(tmp_path, backend, scenario, good, bad, pair):
    out = nox(
        "-s",
        "bisect",
        "--",
        "--scenario",
        scenario,
        "--good",
        good,
        "--bad",
        bad,
        "--backend",
        backend,
        "--results",
        str(tmp_path / "bisect"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"first change: {pair}" in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "gate", "--", "--from", "0.38.6", "--to", "0.37.2"], "--from 0.38.6 is newer than --to 0.37.2"),
        (["-s", "gate", "--", "--from", "0.37.2", "--to", "9.9.9"], "Starlette 9.9.9 is not on the package index"),
        (
            ["-s", "bisect", "--", "--scenario", "pr1634-seed", "--good", "0.20.4", "--bad", "0.14.2"],
            "--good 0.20.4 must be older than --bad 0.14.2",
        ),
        (["-s", "matrix", "--", "--shard", "4/3"], "--shard 4/3: write I/N with 1 <= I <= N"),
        (
            ["-s", "gate", "--", "--from", "fastapi==0.106.0", "--to", "0.37.2"],
            "one is a FastAPI release, the other a Starlette one",
        ),
        (
            ["-s", "bisect", "--", "--scenario", "pr1634-seed", "--good", "fastapi==0.106.0", "--bad", "0.28.0"],
            "one is a FastAPI release, the other a Starlette one",
        ),
        (["-s", "gate", "--", "--from", "fastapi==0.999.0", "--to", "fastapi==0.108.0"], "FastAPI 0.999.0 is not on"),
        (["-s", "gate", "--", "--from", "fastapi>=0.100", "--to", "fastapi==0.108.0"], "a side is one release"),
        (
            [*SERVICE_GATE[:2], "--", "--from", "0.37.2", "--to", "0.38.6", *SERVICE_APP, "--requirements", "nope.txt"],
            "--requirements nope.txt: no such file",
        ),
        (
            [
                *SERVICE_GATE[:2],
                "--",
                "--from",
                "fastapi==0.106.0",
                "--to",
                "fastapi==0.108.0",
                *SERVICE_APP,
                "--with",
                "starlette==0.37.2",
            ],
            "fastapi==0.106.0: Because fastapi==0.106.0 depends on starlette",
        ),
        (
            ["-s", "gate", "--", "--from", "0.37.2", "--to", "0.38.6", *SERVICE_APP, "--repeat", "1"],
            "No module named 'yaml'; install what the app needs into the side with --with yaml",
        ),
    ],
)
def test_bad_upgrade_questions_are_one_line(args, message):
    out = nox(*args)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr


def comparable(report: dict) -> dict:
    keep = ("id", "starlette", "status", "python", "anyio", "trio", "resolution", "runs", "requirements")
    cells = [{k: c[k] for k in keep} for c in report["cells"]]
    return {"cells": sorted(cells, key=lambda c: c["id"]), "rows": report["rows"]}


def test_a_matrix_sharded_three_ways_merges_into_the_unsharded_report(tmp_path):
    selection = [
        "--versions",
        "0.20.4",
        "0.28.0",
        "0.38.3",
        "1.10.0",
        "--scenario",
        "pr1634-seed",
        "--scenario",
        "depth-sweep[depth=4,*",
        "--repeat",
        "2",
    ]
    full = nox("-s", "matrix", "--", *selection, "--results", str(tmp_path / "full"))
    assert full.returncode == 0, full.stdout[-2000:] + full.stderr[-2000:]
    for i in (1, 2, 3):
        shard = nox("-s", "matrix", "--", *selection, "--shard", f"{i}/3", "--results", str(tmp_path / f"s{i}"))
        assert shard.returncode == 0, shard.stdout[-2000:] + shard.stderr[-2000:]
    files = sorted(str(p) for i in (1, 2, 3) for p in (tmp_path / f"s{i}" / "cells").glob("*.jsonl"))
    assert len(files) == 4
    merged = subprocess.run(
        [sys.executable, "-m", "harness", "report", *files, "--out", str(tmp_path / "merged")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    ours = json.loads((tmp_path / "merged" / "report.json").read_text())
    theirs = json.loads((tmp_path / "full" / "report.json").read_text())
    assert comparable(ours) == comparable(theirs)


def test_editing_the_apps_requirements_makes_the_next_gate_run_again(tmp_path):
    import shutil

    service = tmp_path / "service"
    shutil.copytree(SERVICE, service)
    args = ["-s", "gate", "--", "--from", "fastapi==0.108.0", "--to", "fastapi==0.115.6", "--app", "svc:app"]
    args += ["--app-dir", str(service), "--path", "/items", "--requirements", str(service / "requirements.txt")]
    args += ["--backend", "asyncio", "--results", str(tmp_path / "upgrade")]
    assert nox(*args).returncode == 0
    assert "0 environments used" in nox(*args).stdout + nox(*args).stderr
    with open(service / "requirements.txt", "a") as f:
        f.write("pyyaml!=5.0\n")
    edited = nox(*args)
    assert "2 environments used" in edited.stdout + edited.stderr


def test_the_matrix_takes_fastapi_releases_one_cell_each_on_their_starlette(tmp_path):
    out = nox(
        "-s", "matrix", "--", "--fastapi", ">=0.106,<0.109", "--scenario", "fastapi-stack[depth=2,endpoint=body-or-disconnect]",
        "--backend", "asyncio", "--repeat", "1", "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    report = json.loads((tmp_path / "results" / "report.json").read_text())
    assert [(c["id"], c["starlette"]) for c in report["cells"]] == [
        ("fastapi-0.106.0", "0.27.0"),
        ("fastapi-0.107.0", "0.28.0"),
        ("fastapi-0.108.0", "0.32.0.post1"),
    ]
    row = next(r for r in report["rows"] if r["profile"] == "uvicorn")
    assert [(g["from"], g["to"], g["outcomes"]) for g in row["ranges"]] == [
        ("fastapi-0.106.0", "fastapi-0.106.0", ["ok"]),
        ("fastapi-0.107.0", "fastapi-0.108.0", ["no_response_returned"]),
    ]
    assert "fastapi-0.108.0 (starlette 0.32.0.post1)" in (tmp_path / "results" / "report.md").read_text()


def test_the_matrix_runs_a_teams_app_with_its_requirements_on_each_release(tmp_path):
    out = nox(
        "-s", "matrix", "--", "--versions", "0.27.0", "0.37.2", *SERVICE_APP, "--requirements",
        str(SERVICE / "requirements.txt"), "--with", "fastapi", "--scenario", "app[disconnect-now]",
        "--backend", "asyncio", "--profile", "uvicorn", "--repeat", "1", "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    report = json.loads((tmp_path / "results" / "report.json").read_text())
    assert [c["starlette"] for c in report["cells"]] == ["0.27.0", "0.37.2"]
    assert all("-app-" in c["id"] for c in report["cells"]), "a cell with app requirements has its own environment"
    (row,) = report["rows"]
    assert [g["outcomes"] for g in row["ranges"]] == [["ok"], ["no_response_returned"]]


@pytest.mark.parametrize(
    ("session", "option"),
    [("gate", "--requirements"), ("bisect", "--good"), ("servers", "--server"), ("matrix", "--fastapi")],
)
def test_each_session_answers_help_with_its_options(session, option):
    out = nox("-s", session, "--", "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: nox -s {session} --") and option in out.stdout
