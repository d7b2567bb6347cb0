"""``report.json``: the report as a documented contract (``report.schema.json`` beside this module).

What a tool reads: the summary (the same derivation the page and the Markdown show), every cell's
environment, and per row its ranges, transitions, expectations and every cell that is not ``ok``,
each with a ready command (``repro``: ``nox`` builds the cell's environment and runs it; a range
that is not ok also has ``pip_repro``: its first release's exact pins, then ``python -m harness
run``; per cell that would double a file of thousands of cells). No command is a template to fill.
``format`` is bumped when a field changes meaning; fields are only ever added otherwise.
"""

from __future__ import annotations

import shlex
from importlib import resources
from typing import TYPE_CHECKING, Any

from harness.results._repro import run_args, seed_suffix
from harness.results._summary import Summary, summary_of

if TYPE_CHECKING:
    from harness.results._model import ReportData as Report
    from harness.results._model import Row

#: 1 held templates (``{version}``, ``{seed}``) in ``repro``; 2 holds ready commands.
FORMAT = 2
SCHEMA_FILE = "report.schema.json"


def schema() -> dict[str, Any]:
    """The JSON Schema of ``report.json``, shipped with the package."""
    import json

    text = resources.files("harness.results").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def pip_repro(report: Report, row: Row, cell_id: str) -> str:
    """Install the cell's exact pins, then run the row's case (with the seed of its first bad run)."""
    info = next((c for c in report.cells if c.id == cell_id), None)
    seed = row.first_bad.get(cell_id, ("", None))[1]
    run = shlex.join(
        [
            "python",
            "-m",
            "harness",
            "run",
            *run_args(row.scenario, row.backend, row.profile, seed=seed, params=row.params),
        ]
    )
    requirements = list(info.requirements) if info is not None and info.requirements else []
    if not requirements:
        return run
    return shlex.join(["python", "-m", "pip", "install", *requirements]) + " && " + run


def report_json(report: Report, summary: Summary | None = None) -> dict[str, Any]:
    summary = summary or summary_of(report)
    quiet = {"ok", "not_applicable"}
    rows = []
    for r in report.rows.values():
        template = report._template(r)  # what report.repro fills, built once per row

        def repro(cid: str, row: Row = r, template: str = template) -> str:
            return template.format(version=cid, seed=seed_suffix(row.first_bad.get(cid, ("", None))[1]))

        ranges = []
        first_bad = None
        for a, b, k, t in report.ranges(r):
            entry: dict[str, Any] = {
                "from": a,
                "to": b,
                "outcomes": list(k),
                "counts": dict(t),
                "detail": r.detail.get(a, ""),
            }
            if set(k) - quiet:
                entry["repro"] = repro(a)
                entry["pip_repro"] = pip_repro(report, r, a)
                first_bad = first_bad or entry["repro"]
            ranges.append(entry)
        rows.append(
            {
                "scenario": r.scenario,
                "backend": r.backend,
                "profile": r.profile,
                "ranges": ranges,
                "transitions": [{"before": a, "after": b, "was": x, "now": y} for a, b, x, y in report.transitions(r)],
                "repro": first_bad,
                "expectations": {
                    name: [{"from": a, "to": b, "state": st} for a, b, st in spans]
                    for name, spans in report.expectation_ranges(r).items()
                },
                "not_ok": {
                    cid: {
                        "outcomes": dict(c),
                        "seed": r.first_bad.get(cid, ("", None))[1],
                        "detail": r.detail.get(cid, ""),
                        "repro": repro(cid),
                    }
                    for cid, c in r.cells.items()
                    if set(c) - quiet
                },
            }
        )
    return {
        "format": FORMAT,
        "generated": report.generated,
        "summary": summary.to_json(),
        "cells": [dict(c.__dict__) for c in report.cells],
        "rows": rows,
    }
