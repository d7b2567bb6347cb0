"""The gate's and bisect's report (results/upgrade/report.{md,html,json}): changes grouped by family
and by what moved, one repro per group (its smallest case), both sides as they were resolved."""

from __future__ import annotations

import io
import json
from collections import Counter
from contextlib import redirect_stdout
from html.parser import HTMLParser
from types import SimpleNamespace

from harness.matrix import Cell
from harness.matrix._upgrade import write_upgrade_report
from harness.results import DONE, WORSE, CellDiff, Store, compare
from harness.results._diff import grouped, print_table
from harness.results._upgrade_report import Side, UpgradeReport

HOSTILE = "evil</pre><script>alert(1)</script>"


def rec(version, scenario, outcome, backend="asyncio", profile="uvicorn"):
    return {
        "schema": 1,
        "starlette": version,
        "scenario": scenario,
        "backend": backend,
        "profile": profile,
        "outcome": outcome,
        "repeat": 0,
        "seed": None,
        "params": {},
        "python": "3.11.7",
        "anyio": "3.7.1",
        "trio": "0.22.0",
        "resolution": "pinned",
        "detail": "",
    }


def sides():
    """0.27.0 -> 0.28.0: the depth sweep loses the response from depth 3 on asyncio and 4 on trio,
    over 2 profiles (10 cells); a hostile family gets worse too; a body family gets better."""
    before, after = [], []
    for depth in range(1, 7):
        name = f"depth-sweep[depth={depth},endpoint=slow,when=now]"
        for backend, threshold in (("asyncio", 3), ("trio", 4)):
            for profile in ("uvicorn", "hypercorn"):
                before.append(rec("0.27.0", name, "ok", backend, profile))
                after.append(
                    rec("0.28.0", name, "no_response_returned" if depth >= threshold else "ok", backend, profile)
                )
    before.append(rec("0.27.0", HOSTILE, "ok"))
    after.append(rec("0.28.0", HOSTILE, "exception"))
    before.append(rec("0.27.0", "body-read[stack=base*2]", "exception"))
    after.append(rec("0.28.0", "body-read[stack=base*2]", "ok"))
    return before, after


def report():
    before, after = sides()
    diffs, _, _ = compare(before, after)
    old = Side("0.27.0", "0.27.0", ["anyio==3.7.1", "starlette==0.27.0", "trio==0.22.0"], {"python": "3.11.7"})
    new = Side("0.28.0", "0.28.0", ["anyio==3.7.1", "starlette==0.28.0", "trio==0.22.0"], {"python": "3.11.7"})
    return UpgradeReport("gate", old, new, diffs, summary=["0.28.0: no_response_returned from depth 3"])


def test_changed_cells_are_grouped_by_family_and_what_moved_with_the_smallest_case_as_repro():
    groups = grouped(report().diffs, strict=False)
    assert [(g.verdict, g.family, len(g.cells), g.failing) for g in groups] == [
        (WORSE, "depth-sweep", 14, True),
        (WORSE, HOSTILE, 1, True),
        ("better", "body-read", 1, False),
    ]
    sweep = groups[0]
    assert sweep.moves == [("ok → no_response_returned", 14)]
    assert sweep.smallest.scenario == "depth-sweep[depth=3,endpoint=slow,when=now]"
    assert sweep.smallest.backend == "asyncio"
    assert "--scenario 'depth-sweep[depth=3,endpoint=slow,when=now]'" in sweep.smallest.repro


def test_the_markdown_has_a_section_per_group_not_a_line_per_cell_and_both_sides_resolved():
    md = report().to_markdown()
    assert md.startswith("# gate: Starlette 0.27.0 → 0.28.0: FAIL")
    assert md.count("\n### ") == 3
    assert "### worse: `depth-sweep` (was ok), 14 cells **fails the gate**" in md
    assert "- ok → no_response_returned: 14" in md
    assert "- smallest case: `depth-sweep[depth=3,endpoint=slow,when=now]` asyncio/hypercorn" in md
    assert md.count("reproduce (with the after side installed)") == 3
    assert "| after | 0.28.0 | starlette 0.28.0, anyio 3.7.1, trio 0.22.0, python 3.11.7 |" in md
    assert "0.28.0: no_response_returned from depth 3" in md  # the summary comes first


def test_the_json_holds_the_groups_and_the_sides(tmp_path):
    paths = report().write(tmp_path)
    assert sorted(p.name for p in paths) == ["report.html", "report.json", "report.md"]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verdict"] == "FAIL" and data["changed"] == 16
    assert [g["cells"] for g in data["groups"]] == [14, 1, 1]
    assert data["groups"][0]["smallest"] == {
        "scenario": "depth-sweep[depth=3,endpoint=slow,when=now]",
        "backend": "asyncio",
        "profile": "hypercorn",
    }
    assert data["sides"]["before"]["resolved"] == ["anyio==3.7.1", "starlette==0.27.0", "trio==0.22.0"]


def test_the_html_is_static_and_keeps_names_as_text(tmp_path):
    report().write(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page
    assert "evil&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    families = []

    class Sections(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "section":
                families.append(dict(attrs)["data-family"])
            assert tag != "script"

    Sections().feed(page)
    assert families == ["depth-sweep", HOSTILE, "body-read"]


def test_the_gate_writes_its_report_with_the_sides_as_their_status_files_recorded_them(tmp_path):
    store = Store(tmp_path / "upgrade")
    store.cells_dir.mkdir(parents=True)
    before, after = sides()
    cells = []
    for version, pins in (
        ("0.27.0", ["anyio==3.7.1", "starlette==0.27.0"]),
        ("0.28.0", ["anyio==4.0.0", "starlette==0.28.0"]),
    ):
        cell = Cell(version, "3.11", "pinned", (f"starlette=={version}",))
        store.record(cell, DONE, environment={"python": "3.11.7"}, resolved=pins)
        cells.append(cell)
    diffs, _, _ = compare(before, after)
    probe = SimpleNamespace(store=store)
    paths = write_upgrade_report(probe, "gate", (cells[0], before), (cells[1], after), diffs, strict=False)
    assert paths[0] == tmp_path / "upgrade" / "report.md"
    md = paths[0].read_text()
    assert "starlette 0.28.0, anyio 4.0.0, python 3.11.7" in md  # anyio moved too: the report says so
    summary = md.split("## Summary of both sides")[1].split("## Changes")[0]
    assert summary.lstrip().startswith("```text\n0.28.0")  # the side's label, not a cell id
    assert "no_response_returned" in summary
    assert "repro (" not in summary and "matrix(" not in summary  # no matrix command for gate cells
    assert "in 3 groups" in md


def test_the_terminal_table_fits_its_columns_wrapping_names_not_rows(monkeypatch):
    before, after = sides()
    long = "a-scenario-with-a-very-long-name[depth=3,endpoint=slow,when=now,stack=asgi,base*2,gzip]"
    before.append(rec("0.27.0", long, "ok"))
    after.append(rec("0.28.0", long, "hang"))
    diffs, b, a = compare(before, after)
    widths = {}
    for columns in ("80", "120"):
        monkeypatch.setenv("COLUMNS", columns)
        out = io.StringIO()
        with redirect_stdout(out):
            print_table(diffs, False, b, a)
        lines = out.getvalue().splitlines()
        widths[columns] = max(len(line) for line in lines)
        assert widths[columns] <= int(columns), lines
        assert sum("WORSE" in line for line in lines) == 3  # a group's head is one row
    assert widths["120"] > 80


def test_cells_that_moved_the_same_way_by_different_amounts_are_one_group():
    def diff(depth, why):
        return CellDiff(
            f"depth-sweep[depth={depth}]", "asyncio", "uvicorn", Counter(ok=1), Counter(no_response_returned=1),
            WORSE, why, "python -m harness run ...",
        )  # fmt: skip

    diffs = [
        diff(4, "was ok; layers skipped 0 -> 2; response partial -> none"),
        diff(6, "was ok; layers skipped 0 -> 4; response partial -> none"),
        diff(5, "was ok; layers skipped 0 -> 0/3; response complete -> none"),
    ]
    groups = grouped(diffs, strict=False)
    assert [(g.why, len(g.cells)) for g in groups] == [
        ("was ok; layers skipped (more); response partial -> none", 2),
        ("was ok; layers skipped (more); response complete -> none", 1),
    ]
    assert groups[0].smallest.scenario == "depth-sweep[depth=4]"


def test_bisect_reports_where_the_change_is_not_a_gate_verdict():
    r = report()
    r.kind, r.headline = "bisect", "first change: 0.27.0 -> 0.28.0"
    md = r.to_markdown()
    assert md.startswith("# bisect: Starlette 0.27.0 → 0.28.0: first change\n\nfirst change: 0.27.0 -> 0.28.0")
    assert "fails the gate" not in md and "15 are worse." in md
