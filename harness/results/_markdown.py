"""``report.md``: the answer first (``_summary``), then every table folded in ``<details>``.

GitHub, a step summary and most Markdown viewers render ``<details>`` folded, so a reader sees the
few lines that answer the question and opens the 3,000 lines of ranges only when they want them.
Table cells are made safe for a Markdown table (``|`` escaped, newlines folded), so a scenario name
or a detail cannot break a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.results._mdsafe import md_code, md_text
from harness.results._model import label, span
from harness.results._summary import Summary, summary_of

if TYPE_CHECKING:
    from harness.results._model import ReportData as Report

TITLE = "# Starlette BaseHTTPMiddleware under client disconnects"


def cell(text: object) -> str:
    """One Markdown table cell or list item of outside text: no row or column break, nothing live."""
    return md_text(text)


def name(text: object) -> str:
    """A scenario name in a table, as code that nothing in it can end."""
    return md_code(text, in_table=True)


def markdown(report: Report, folder: Path | None = None, summary: Summary | None = None) -> str:
    summary = summary or summary_of(report)
    interesting = report.interesting()
    out = [
        f"{TITLE}\n\nGenerated {report.generated}: {len(report.cells)} releases, {len(report.rows)} rows "
        f"(scenario x backend x profile), {len(interesting)} not `ok` somewhere.\n",
        "## The answer\n",
        summary.to_markdown(),
        "\nThe heatmap is `report.html`; `report.json` has a ready command for every cell that is not `ok`.\n",
    ]
    for picture, alt in (("steps.svg", "smallest failing depth per release"), ("sequence.svg", "one run")):
        if folder is not None and (folder / picture).exists():
            out.append(f"![{alt}]({picture})\n")
    out.append(
        "<details><summary>Details: every condition, outcome ranges, transitions, expectations, "
        "flaky cells, repro commands, cells</summary>\n"
    )
    for era in summary.eras:
        out.append(f"\n## {era.outcome} {span(era.first, era.last)}: every condition\n")
        out.extend(f"- {cell(t)}" for t in era.conditions())
    out += _ranges(report)
    out.append(expectations_md(report))
    flaky = [(r, cid, c) for r in report.rows.values() for cid, c in r.cells.items() if len(c) > 1]
    out.append(f"\n## Flaky cells\n\n{len(flaky)} cells gave more than one outcome across their repeats.\n")
    if flaky:
        out.append("| scenario | backend | profile | release | outcomes |\n|---|---|---|---|---|")
        for r, cid, c in flaky:
            out.append(f"| {name(r.scenario)} | {cell(r.backend)} | {cell(r.profile)} | {cell(cid)} | {label(c)} |")
    out += _reproduce(report)
    out.append("\n" + cells_md(report))
    out.append("\n</details>")
    return "\n".join(out) + "\n"


def _ranges(report: Report) -> list[str]:
    """Each row that is not ok everywhere: its outcome ranges, then its transitions."""
    interesting = report.interesting()
    quiet = len(report.rows) - len(interesting)
    out: list[str] = []
    out.append(
        f"\n## Outcome ranges\n\n{len(interesting)} of {len(report.rows)} (scenario, backend, profile) rows are "
        f"not `ok` on every release; the other {quiet} are `ok` (or not applicable) everywhere.\n"
    )
    out.append("| scenario | backend | profile | releases | outcome |\n|---|---|---|---|---|")
    for r in interesting:
        for a, b, k, t in report.ranges(r):
            out.append(
                f"| {name(r.scenario)} | {cell(r.backend)} | {cell(r.profile)} | {cell(span(a, b))} | "
                f"{label(t) if len(k) > 1 else k[0]} |"
            )
    out.append("\n## Transitions\n\nWhere a row's outcome changes between consecutive releases.\n")
    out.append("| scenario | backend | profile | between | was | now |\n|---|---|---|---|---|---|")
    for r in interesting:
        for a, b, x, y in report.transitions(r):
            out.append(
                f"| {name(r.scenario)} | {cell(r.backend)} | {cell(r.profile)} | {cell(a)} → {cell(b)} | {x} | {y} |"
            )
    return out


def _reproduce(report: Report) -> list[str]:
    """One command per range that is not ok."""
    interesting = report.interesting()
    out: list[str] = []
    out.append(
        "\n## Reproduce\n\nOne command per range that is not `ok` (its first release; "
        "`report.json` has one for every cell, and a `pip install` + `python -m harness run` variant).\n"
    )
    for r in interesting:
        for a, _b, k, _t in report.ranges(r):
            if set(k) - {"ok", "not_applicable"}:
                where = f"{cell(r.backend)} {cell(r.profile)} @ {cell(a)}"
                out.append(f"- {md_code(r.scenario)} {where}: {md_code(report.repro(r, a))}")
    return out


def expectations_md(report: Report) -> str:
    """Where a scenario's own expectations do not hold: apart from the outcome, which says what
    the app did (a seed that sends the whole response is ``ok``, its "only the start" not met)."""
    lines = [
        "\n## Scenario expectations\n\nWhere a scenario's own expectations (its Starlette test's "
        "assertions) are not met; every other expectation is met on every release.\n",
        "| scenario | backend | profile | expectation | not met on | met on |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.rows.values():
        for expectation, spans in report.expectation_ranges(r).items():
            unmet = [span(a, b) + ("" if st == "not met" else f" ({st[8:]})") for a, b, st in spans if st != "met"]
            if unmet:
                met = ", ".join(span(a, b) for a, b, st in spans if st == "met") or "-"
                where = f"{name(r.scenario)} | {cell(r.backend)} | {cell(r.profile)} | {cell(expectation)}"
                lines.append(f"| {where} | {cell(', '.join(unmet))} | {cell(met)} |")
    return "\n".join(lines)


def cells_md(report: Report) -> str:
    lines = [
        "## Cells\n",
        "| release | status | python | anyio | trio | resolution | runs | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report.cells:
        status = cell(c.status if not c.reason else f"{c.status}: {c.reason}")
        release = cell(f"{c.id} (starlette {c.starlette})" if c.id.startswith("fastapi-") else c.id)
        lines.append(
            f"| {release} | {status} | {c.python or '-'} | {c.anyio or '-'} | {c.trio or '-'} | {c.resolution} "
            f"| {c.runs} | {c.elapsed_s:.1f} |"
        )
    return "\n".join(lines)
