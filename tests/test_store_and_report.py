"""The results store (resumable, atomic) and the report built from it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import get_args

from harness.matrix import Cell
from harness.results import (
    CRASHED,
    DONE,
    Baseline,
    CellInfo,
    Store,
    baseline_from_report,
    build,
    file_hash,
    label,
    loaded_sources,
    write_atomic,
    write_baseline,
)
from harness.results._html import heatmap_data, join_repro
from harness.run import OUTCOMES, Outcome
from tests.conftest import minimal_record

ROOT = Path(__file__).resolve().parent.parent


def make_cell(version: str, python: str = "3.11") -> Cell:
    return Cell(version, python, "pinned", (f"starlette=={version}", "packaging"))


def test_the_outcome_literal_names_every_outcome_class_in_order():
    assert get_args(Outcome) == OUTCOMES


def test_a_cell_is_fresh_only_with_the_same_pins_and_selection(tmp_path):
    store = Store(tmp_path)
    cell = make_cell("0.28.0")
    code = tmp_path / "module.py"
    code.write_text("x = 1\n")
    write_atomic(store.results_path(cell.id), ["{}"])
    store.record(cell, DONE, selection_hash="s1", runs=1, sources={str(code): file_hash(str(code)) or ""})
    assert store.is_fresh(cell, "s1")
    assert not store.is_fresh(cell, "s2"), "another selection must be redone"
    assert not store.is_fresh(make_cell("0.28.0", python="3.12"), "s1"), "other pins must be redone"


def test_a_cell_is_stale_once_a_source_file_its_run_imported_changes(tmp_path):
    store = Store(tmp_path)
    cell = make_cell("0.28.0")
    code = tmp_path / "app.py"
    code.write_text("x = 1\n")
    write_atomic(store.results_path(cell.id), ["{}"])
    store.record(cell, DONE, selection_hash="s1", runs=1, sources={str(code): file_hash(str(code)) or ""})
    assert store.is_fresh(cell, "s1")
    code.write_text("x = 2\n")
    assert not store.is_fresh(cell, "s1"), "an edited module must make the results stale"
    code.unlink()
    assert not store.is_fresh(cell, "s1"), "a deleted module must make the results stale"
    store.record(cell, DONE, selection_hash="s1", runs=1)
    assert not store.is_fresh(cell, "s1"), "a run that recorded no sources is never current"


def test_a_run_lists_the_harness_and_catalogue_modules_it_imported_and_no_installed_package():
    import packaging

    import harness.scenario

    harness.scenario.load_catalogue()
    sources = loaded_sources()
    names = set(sources)  # the project's own files are named relative to its root
    assert {"harness/scenario/_spec.py", "scenarios/__init__.py", "scenarios/depth.py"} <= names
    assert all(not p.startswith(str(Path(packaging.__file__).parent)) for p in sources)


def test_a_crashed_cell_keeps_no_results_and_is_redone(tmp_path):
    store = Store(tmp_path)
    cell = make_cell("0.28.0")
    write_atomic(store.results_path(cell.id), ["{}"])
    store.record(cell, CRASHED, reason="boom", selection_hash="s1")
    assert not store.results_path(cell.id).exists()
    assert not store.is_fresh(cell, "s1")


def test_an_interrupted_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "cells" / "x.jsonl"
    write_atomic(path, ["old"])

    def lines():
        yield "new"
        raise KeyboardInterrupt

    try:
        write_atomic(path, lines())
    except KeyboardInterrupt:
        pass
    assert path.read_text() == "old\n"
    assert not list(path.parent.glob(".*.tmp"))


rec = minimal_record


def sample_report():
    versions = ["0.14.2", "0.15.0", "0.20.4", "0.21.0", "0.28.0"]
    cells = [CellInfo(id=v, starlette=v, status=DONE, python="3.11") for v in versions]
    records = {
        "0.14.2": [rec("0.14.2", "seed", "ok"), rec("0.14.2", "calm", "ok")],
        "0.15.0": [rec("0.15.0", "seed", "no_response_returned"), rec("0.15.0", "calm", "ok")],
        "0.20.4": [rec("0.20.4", "seed", "no_response_returned"), rec("0.20.4", "calm", "ok")],
        "0.21.0": [rec("0.21.0", "seed", "ok"), rec("0.21.0", "calm", "ok")],
        "0.28.0": [
            rec("0.28.0", "seed", "ok", "trio", 0),
            rec("0.28.0", "seed", "no_response_returned", "trio", 1),
            rec("0.28.0", "calm", "ok"),
        ],
    }
    return build(cells, records)


def test_consecutive_releases_with_one_outcome_merge_into_ranges():
    report = sample_report()
    row = report.rows[("seed", "asyncio", "uvicorn")]
    assert [(a, b, k) for a, b, k, _ in report.ranges(row)] == [
        ("0.14.2", "0.14.2", ("ok",)),
        ("0.15.0", "0.20.4", ("no_response_returned",)),
        ("0.21.0", "0.21.0", ("ok",)),
    ]
    assert report.transitions(row) == [
        ("0.14.2", "0.15.0", "ok", "no_response_returned"),
        ("0.20.4", "0.21.0", "no_response_returned", "ok"),
    ]


def test_flaky_cells_keep_their_rates_and_are_not_reduced_to_a_majority():
    report = sample_report()
    row = report.rows[("seed", "trio", "uvicorn")]
    assert label(row.cells["0.28.0"]) == "ok 1/2, no_response_returned 1/2"
    assert "ok 1/2, no_response_returned 1/2" in report.to_markdown()
    assert label(Counter({"no_response_returned": 3, "ok": 2})) == "ok 2/5, no_response_returned 3/5"


def test_every_bad_cell_has_a_repro_command_and_quiet_rows_are_left_out():
    report = sample_report()
    assert [r.scenario for r in report.interesting()] == ["seed", "seed"]
    row = report.rows[("seed", "trio", "uvicorn")]
    assert report.repro(row, "0.28.0") == (
        "nox -s \"matrix(starlette='0.28.0')\" -- --scenario seed --backend trio --profile uvicorn --repeat 1 --seed 1"
    )
    data = report.to_json()
    trio = next(r for r in data["rows"] if r["backend"] == "trio")
    cell = trio["not_ok"]["0.28.0"]
    assert (cell["outcomes"], cell["seed"]) == ({"ok": 1, "no_response_returned": 1}, 1)
    assert cell["repro"] == report.repro(row, "0.28.0"), "report.json holds the ready command, not a template"
    (bad_range,) = [g for g in trio["ranges"] if g.get("pip_repro")]
    assert bad_range["pip_repro"].endswith(
        "python -m harness run --scenario seed --backend trio --profile uvicorn --seed 1"
    )
    assert trio["repro"] == cell["repro"], "a row's own repro is its first range that is not ok"
    page = report.to_html()
    assert '<table id="heat">' in page
    heat = heatmap_data(report)
    assert [(c["first"], c["last"]) for c in heat["columns"]] == [
        ("0.14.2", "0.14.2"),
        ("0.15.0", "0.20.4"),
        ("0.21.0", "0.21.0"),
        ("0.28.0", "0.28.0"),
    ], "0.15.0 and 0.20.4 show the same outcome in every row: one column"
    (heat_row,) = [r for r in heat["rows"] if r["backend"] == "trio"]
    assert (heat_row["cells"], heat_row["flaky"], heat_row["seeds"]) == (
        "---n",
        {"3": "ok 1/2, no_response_returned 1/2"},
        {"3": 1},
    )
    assert join_repro(heat_row["repro"], "0.28.0", 1) == report.repro(row, "0.28.0")


def test_a_cell_that_did_not_run_shows_as_such_in_every_row():
    cells = [
        CellInfo(id="0.14.2", starlette="0.14.2", status=DONE),
        CellInfo(id="0.15.0", starlette="0.15.0", status="install_failed", reason="no wheel"),
    ]
    report = build(cells, {"0.14.2": [rec("0.14.2", "seed", "ok")]})
    assert report.rows[("seed", "asyncio", "uvicorn")].cells["0.15.0"] == Counter({"install_failed": 1})


def test_the_baseline_round_trips_as_ranges_and_answers_for_unknown_versions(tmp_path):
    report = sample_report()
    data = baseline_from_report(report, resolution="pinned")
    assert data["rows"]["seed | asyncio | uvicorn"] == "0.14.2 ok; 0.15.0..0.20.4 no_response_returned; 0.21.0 ok"
    path = tmp_path / "baseline.json"
    write_baseline(data, path)
    assert json.loads(path.read_text()) == data
    baseline = Baseline.load(path)
    assert baseline.expected("seed", "asyncio", "uvicorn", "0.20.4") == {"no_response_returned"}
    assert baseline.expected("seed", "trio", "uvicorn", "0.28.0") == {"ok", "no_response_returned"}
    assert baseline.reference_version("9.0.0.dev0") == "0.28.0"
    assert baseline.expected("nope", "asyncio", "uvicorn", "0.28.0") is None


def test_merging_shards_keeps_every_cell_with_its_status_and_refuses_a_file_given_twice(tmp_path):
    import pytest

    from harness.errors import HarnessError
    from harness.results import report_from_files

    store = Store(tmp_path)
    done, crashed = make_cell("0.28.0"), make_cell("0.29.0")
    line = {
        **rec("0.28.0", "pr1634-seed", "ok"),
        "schema": 1,
        "repeat": 0,
        "python": "3.11",
        "anyio": None,
        "trio": None,
    }
    write_atomic(store.results_path(done.id), [json.dumps(line)])
    store.record(done, DONE, runs=1, selection_hash="s1")
    store.record(crashed, CRASHED, reason="cell process did not finish within 0.01 s", selection_hash="s1")
    files = sorted((tmp_path / "cells").iterdir())
    report_from_files(files, tmp_path / "merged")
    cells = {c["id"]: c for c in json.loads((tmp_path / "merged" / "report.json").read_text())["cells"]}
    assert cells["0.28.0"]["status"] == "done"
    assert cells["0.29.0"]["status"] == "crashed" and "0.01 s" in cells["0.29.0"]["reason"]
    report_from_files([store.results_path(done.id)], tmp_path / "one")  # the sibling status is read too
    with pytest.raises(HarnessError, match="is given twice"):
        report_from_files([store.results_path(done.id), store.results_path(done.id)], tmp_path / "twice")


def test_fastapi_and_app_cells_merge_apart_and_their_repros_name_the_app_and_the_fastapi_release(tmp_path):
    import dataclasses
    import shlex

    from harness.results import report_from_files

    store = Store(tmp_path)
    params = {"app": "svc:app", "path": "/items", "method": "POST", "app_dir": "/srv/svc", "body": "@/srv/b.json"}
    # Two FastAPI releases that resolve to one Starlette, and an app cell with its own requirements.
    cells = [
        dataclasses.replace(make_cell("0.32.0.post1"), fastapi="0.108.0"),
        dataclasses.replace(make_cell("0.32.0.post1"), fastapi="0.109.0"),
        dataclasses.replace(make_cell("0.32.0.post1"), fastapi="0.109.0", inputs_hash="abcdef123456"),
    ]
    for n, cell in enumerate(cells):
        line = {
            **rec("0.32.0.post1", "app[disconnect-now]", "no_response_returned", "trio", 7),
            "fastapi": cell.fastapi,
            "params": {**params, "receive": "request,disconnect"},
            "schema": 1,
            "repeat": n,
            "python": "3.11",
            "anyio": "4.4.0",
            "trio": "0.26.0",
        }
        write_atomic(store.results_path(cell.id), [json.dumps(line)])
        store.record(cell, DONE, runs=1, selection_hash="s1")
    report_from_files(sorted((tmp_path / "cells").iterdir()), tmp_path / "merged")
    data = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert sorted(c["id"] for c in data["cells"]) == [
        "fastapi-0.108.0",
        "fastapi-0.109.0",
        "fastapi-0.109.0-app-abcdef",
    ], "one Starlette, three cells: none is folded into another"
    assert {tuple(c["requirements"][:2]) for c in data["cells"]} >= {("fastapi==0.108.0", "starlette==0.32.0.post1")}
    (row,) = data["rows"]
    command = shlex.split(row["not_ok"]["fastapi-0.108.0"]["repro"])
    assert command[:3] == ["nox", "-s", "matrix(starlette='fastapi-0.108.0')"]
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert options["--fastapi"] == ">=0.108.0,<=0.109.0", "the matrix must know the FastAPI cells"
    assert (options["--app"], options["--app-dir"], options["--path"]) == ("svc:app", "/srv/svc", "/items")
    assert (options["--method"], options["--body"], options["--seed"]) == ("POST", "@/srv/b.json", "7")
    pip = shlex.split(row["ranges"][0]["pip_repro"])
    assert pip[:5] == ["python", "-m", "pip", "install", "fastapi==0.108.0"], "the cell's exact pins first"
    assert pip[pip.index("--app") + 1] == "svc:app" and pip[pip.index("--body") + 1] == "@/srv/b.json"
