"""A cell's index: its records folded when the cell finishes, what the report reads instead of them.

The index is a cache: a report built from it is the report built from the records, and an index
that does not belong to the results file beside it (rewritten since, damaged) is never believed.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from pathlib import Path

from harness.matrix import Cell
from harness.results import CRASHED, DONE, CellInfo, Store, build, dumps, report_from_files
from harness.results._index import index_path

VERSIONS = ["0.27.0", "0.28.0", "0.29.0"]


def rec(version, scenario, outcome, backend="asyncio", repeat=0, seed=None, expectations=()):
    return {
        "schema": 1,
        "starlette": version,
        "scenario": scenario,
        "backend": backend,
        "profile": "uvicorn",
        "outcome": outcome,
        "repeat": repeat,
        "seed": seed,
        "detail": f"{outcome} at {version}",
        "resolution": "pinned",
        "python": "3.11",
        "anyio": "4.6.0",
        "trio": "0.27.0",
        "params": {"depth": 4, "endpoint": "slow", "when": "now", "stack": "base*4"},
        "expectations": list(expectations),
    }


def cell_records(version):
    bad = version != "0.27.0"
    name = "depth-sweep[depth=4,endpoint=slow,when=now]"
    unmet = [{"name": "only-start-sent", "met": not bad}]
    return [
        rec(version, name, "no_response_returned" if bad else "ok", expectations=unmet),
        rec(version, name, "ok", repeat=1, expectations=unmet),
        rec(version, name, "no_response_returned" if bad else "ok", "trio", seed=7),
        rec(version, "calm", "ok"),
    ]


def finished_store(tmp_path):
    """Cells written as a matrix writes them: the results file, then ``Store.record``."""
    store = Store(tmp_path)
    store.cells_dir.mkdir(parents=True)
    for v in VERSIONS:
        store.results_path(v).write_text("".join(dumps(r) + "\n" for r in cell_records(v)))
        store.record(Cell(v, "3.11", "pinned", (f"starlette=={v}",)), DONE, runs=4)
    return store


def infos():
    return [CellInfo(id=v, starlette=v, status=DONE, python="3.11") for v in VERSIONS]


def comparable(report):
    data = report.to_json()
    data.pop("generated", None)
    return data, {
        k: (r.cells, r.first_bad, r.detail, r.expectations, r.params, r.sweep) for k, r in report.rows.items()
    }


def from_records(store):
    return build(infos(), {v: list(store.records(v)) for v in VERSIONS})


def from_index(store):
    return build(infos(), {}, records_of=store.records, folds={v: store.folded(v) for v in VERSIONS})


def test_a_finished_cell_leaves_an_index_beside_its_results(tmp_path):
    store = finished_store(tmp_path)
    for v in VERSIONS:
        index = index_path(store.results_path(v))
        assert index.exists()
        assert json.loads(index.read_text())["source"][0] == store.results_path(v).stat().st_size


def test_the_report_from_the_indexes_is_the_report_from_the_records(tmp_path):
    store = finished_store(tmp_path)
    by_records, by_index = from_records(store), from_index(store)
    assert comparable(by_index) == comparable(by_records)
    row = by_index.rows[("depth-sweep[depth=4,endpoint=slow,when=now]", "asyncio", "uvicorn")]
    assert row.cells["0.28.0"] == {"no_response_returned": 1, "ok": 1}
    assert row.first_bad["0.28.0"] == ("no_response_returned", None)
    assert row.expectations["0.28.0"] == {"only-start-sent": [2, 2]}
    assert by_index.rows[("depth-sweep[depth=4,endpoint=slow,when=now]", "trio", "uvicorn")].first_bad["0.29.0"] == (
        "no_response_returned",
        7,
    )


def test_the_report_reads_the_index_and_not_the_records(tmp_path):
    store = finished_store(tmp_path)
    index = index_path(store.results_path("0.28.0"))
    data = json.loads(index.read_text())
    data["rows"][0][4] = {"hang": 9}  # only the index says so: proof of which one was read
    index.write_text(json.dumps(data))
    row = from_index(store).rows[("depth-sweep[depth=4,endpoint=slow,when=now]", "asyncio", "uvicorn")]
    assert row.cells["0.28.0"] == {"hang": 9}


def test_an_index_of_an_older_results_file_is_ignored_and_rebuilt(tmp_path):
    store = finished_store(tmp_path)
    path = store.results_path("0.28.0")
    path.write_text("".join(dumps(r) + "\n" for r in cell_records("0.27.0")[:2]))  # rewritten: now ok
    os.utime(path, ns=(1, 1))  # even a clock that went back: the size and mtime no longer match
    row = from_index(store).rows[("depth-sweep[depth=4,endpoint=slow,when=now]", "asyncio", "uvicorn")]
    assert row.cells["0.28.0"] == {"ok": 2}
    assert json.loads(index_path(path).read_text())["source"][:2] == [path.stat().st_size, 1]


def test_records_swapped_in_with_the_same_size_and_times_are_read_again(tmp_path):
    """A copy that keeps the times (cp -p, rsync -t) of a file of the same size, moved into place:
    only the inode and the status-change time tell; the index must not be taken for it."""
    store = finished_store(tmp_path)
    path = store.results_path("0.28.0")
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if json.loads(line)["outcome"] != "ok")
    bad = json.loads(lines[n])
    lines[n] = dumps(dict(bad, outcome="ok")).ljust(len(lines[n]))  # the same size
    replacement = tmp_path / "replacement.jsonl"
    replacement.write_text("\n".join(lines) + "\n")
    assert replacement.stat().st_size == path.stat().st_size
    st = path.stat()
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, path)
    key = (bad["scenario"], bad["backend"], bad["profile"])
    wanted = Counter(
        json.loads(line)["outcome"]
        for line in lines
        if (json.loads(line)["scenario"], json.loads(line)["backend"], json.loads(line)["profile"]) == key
    )
    assert from_index(store).rows[key].cells["0.28.0"] == wanted


def test_a_damaged_index_is_ignored(tmp_path):
    store = finished_store(tmp_path)
    for v in VERSIONS:
        index_path(store.results_path(v)).write_text('{"version": 1, "source": [0')
    assert comparable(from_index(store)) == comparable(from_records(store))


def test_a_cell_that_did_not_finish_keeps_no_index(tmp_path):
    store = finished_store(tmp_path)
    store.record(Cell("0.28.0", "3.11", "pinned", ("starlette==0.28.0",)), CRASHED, reason="killed")
    assert not index_path(store.results_path("0.28.0")).exists()


def test_the_index_is_hidden_from_cells_star_and_a_merge_of_every_file_passes_over_it(tmp_path):
    store = finished_store(tmp_path)
    listing = sorted(Path(p) for p in glob.glob(str(store.cells_dir / "*")))  # what a shell's cells/* gives
    assert not [p for p in listing if "index" in p.name]
    every = sorted(store.cells_dir.iterdir())
    assert [p for p in every if "index" in p.name]
    report_from_files(every, tmp_path / "merged")
    assert comparable(from_records(store))[1] == comparable(from_index(store))[1]
    assert "0.28.0" in (tmp_path / "merged" / "report.md").read_text()


def test_merging_a_matrixs_cells_reads_their_indexes_not_their_records(tmp_path, monkeypatch):
    """``harness report results/cells/*`` (the CI fan-out's merge) folds each finished cell from its
    index, as the matrix's own report does; the records are read for the one run the sequence
    diagram draws at most."""
    import pytest

    import harness.results._index as index_module
    import harness.results._merge as merge_module

    store = Store(tmp_path)
    store.cells_dir.mkdir(parents=True)
    for v in VERSIONS:
        store.results_path(v).write_text("".join(dumps(r) + "\n" for r in cell_records(v)))
        env = {"starlette": v, "python": "3.11.7", "anyio": None, "trio": None, "fastapi": None}
        store.record(Cell(v, "3.11", "pinned", (f"starlette=={v}",)), DONE, runs=4, environment=env)
    read: list[Path] = []
    real = merge_module.read_records
    monkeypatch.setattr(merge_module, "read_records", lambda p: read.append(p) or real(p))
    monkeypatch.setattr(index_module, "read_records", lambda p: pytest.fail(f"the index of {p} was not used"))
    report_from_files(sorted(Path(p) for p in glob.glob(str(store.cells_dir / "*"))), tmp_path / "merged")
    assert len(read) <= 1
    merged = (tmp_path / "merged" / "report.md").read_text()

    def ranges(markdown: str) -> str:
        return markdown.split("## Outcome ranges", 1)[1].split("\n## Cells", 1)[0]

    assert ranges(merged) == ranges(from_records(store).to_markdown())
