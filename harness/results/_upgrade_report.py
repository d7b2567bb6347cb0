"""The gate's and bisect's report: ``results/upgrade/report.{md,html,json}``.

A gate on a real upgrade changes a hundred cells or more, and a line per cell hides the answer.
The report says it the way a reviewer asks: first the summary of both sides (the matrix report's
own ``summarize``, over just these two releases), then the changed cells grouped by scenario family
and by what moved (the verdict and the observation that got worse or changed), each group with
its cells counted by how they moved and one repro, that of its smallest case (the fewest
middleware layers, then the shortest name), then the two sides as they were resolved (every
installed distribution, from the cell's ``uv pip freeze``), so that a change can be traced to
anyio or trio moving as well as Starlette.

The HTML is an element tree (every name and message escaped by the serializer), static, with no
script and no network.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results._diff import SAME, CellDiff, Group, failing, grouped, title
from harness.results._files import write_atomic


@dataclass
class Side:
    """One side of the comparison as it ran."""

    label: str
    cell_id: str
    #: ``name==version`` of everything installed in the side's environment.
    resolved: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)

    def key_versions(self) -> str:
        """``starlette 0.37.2, anyio 4.6.0, trio 0.27.0, fastapi ...``: what decides the outcome."""
        pins = dict(p.split("==", 1) for p in self.resolved if "==" in p)
        names = ("fastapi", "starlette", "anyio", "trio")
        said = [f"{n} {pins[n]}" for n in names if n in pins]
        py = self.environment.get("python")
        return ", ".join([*said, *([f"python {py}"] if py else [])]) or self.label


@dataclass
class UpgradeReport:
    kind: str  # "gate" or "bisect"
    before: Side
    after: Side
    diffs: list[CellDiff]
    strict: bool = False
    #: What the run found in one line (bisect: where the first change is).
    headline: str = ""
    #: The summary of both sides (``_summary.summarize``), as plain lines.
    summary: list[str] = field(default_factory=list)

    @property
    def groups(self) -> list[Group]:
        return grouped(self.diffs, self.strict)

    @property
    def verdict(self) -> str:
        """The gate's ``FAIL``/``pass``; bisect judges nothing, it says where the change is."""
        if self.kind == "bisect":
            return "first change"
        return "FAIL" if failing(self.diffs, self.strict) else "pass"

    def _head(self) -> str:
        changed = sum(d.verdict != SAME for d in self.diffs)
        bad = len(failing(self.diffs, self.strict))
        n = len(self.groups)
        return f"{len(self.diffs)} cells compared; {changed} changed in {n} group{'s' * (n != 1)}, " + (
            f"{bad} are worse." if self.kind == "bisect" else f"{bad} fail the gate{' (strict)' * self.strict}."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": title(self.before.label, self.after.label),
            "verdict": self.verdict,
            "strict": self.strict,
            "headline": self.headline,
            "summary": self.summary,
            "cells": len(self.diffs),
            "changed": sum(d.verdict != SAME for d in self.diffs),
            "groups": [g.to_json() for g in self.groups],
            "sides": {
                name: {
                    "label": s.label,
                    "cell": s.cell_id,
                    "versions": s.key_versions(),
                    "resolved": s.resolved,
                    "environment": s.environment,
                }
                for name, s in (("before", self.before), ("after", self.after))
            },
        }

    def to_markdown(self) -> str:
        out = [f"# {self.kind}: {title(self.before.label, self.after.label)}: {self.verdict}\n"]
        if self.headline:
            out.append(self.headline + "\n")
        out.append(self._head() + "\n")
        if self.summary:
            out.append("## Summary of both sides\n\n```text\n" + "\n".join(self.summary) + "\n```\n")
        out.append("## Changes, grouped\n")
        if not self.groups:
            out.append("No cell changed.\n")
        for g in self.groups:
            mark = " **fails the gate**" if g.failing and self.kind == "gate" else ""
            why = f" ({g.why})" if g.why else ""
            cells = f"{len(g.cells)} cell{'s' * (len(g.cells) != 1)}"
            out.append(f"### {g.verdict}: `{g.family}`{why}, {cells}{mark}\n")
            out.extend(f"- {m}: {n}" for m, n in g.moves)
            small = g.smallest
            out.append(f"- smallest case: `{small.scenario}` {small.backend}/{small.profile}")
            if small.repro:
                out.append(f"- reproduce (with the after side installed): `{small.repro}`")
            out.append("")
        out.append("## Sides\n")
        out.append("| side | label | versions | resolved |\n|---|---|---|---|")
        for name, s in (("before", self.before), ("after", self.after)):
            out.append(f"| {name} | {s.label} | {s.key_versions()} | {len(s.resolved)} distributions |")
        for name, s in (("before", self.before), ("after", self.after)):
            if s.resolved:
                out.append(f"\n<details><summary>{name}: every distribution</summary>\n\n```text")
                out.extend(s.resolved)
                out.append("```\n</details>")
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        page = ET.Element("html", lang="en")
        head = ET.SubElement(page, "head")
        ET.SubElement(head, "meta", charset="utf-8")
        ET.SubElement(head, "title").text = f"{self.kind}: {title(self.before.label, self.after.label)}"
        ET.SubElement(head, "style").text = (
            "body{font:14px system-ui,sans-serif;margin:1.5em;max-width:80em} code,pre{background:#f4f4f4}"
            " .fail{color:#b00020} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 8px}"
        )
        body = ET.SubElement(page, "body")
        h1 = ET.SubElement(body, "h1")
        h1.text = f"{self.kind}: {title(self.before.label, self.after.label)}: "
        ET.SubElement(h1, "span", {"class": "fail" if self.verdict == "FAIL" else "pass"}).text = self.verdict
        for text in (self.headline, self._head()):
            if text:
                ET.SubElement(body, "p").text = text
        if self.summary:
            ET.SubElement(body, "h2").text = "Summary of both sides"
            ET.SubElement(body, "pre").text = "\n".join(self.summary)
        ET.SubElement(body, "h2").text = "Changes, grouped"
        for g in self.groups:
            section = ET.SubElement(body, "section", {"data-family": g.family, "data-verdict": g.verdict})
            h3 = ET.SubElement(section, "h3", {"class": "fail"} if g.failing else {})
            h3.text = f"{g.verdict}: {g.family}" + (f" ({g.why})" if g.why else "") + f", {len(g.cells)} cells"
            ul = ET.SubElement(section, "ul")
            for m, n in g.moves:
                ET.SubElement(ul, "li").text = f"{m}: {n}"
            small = g.smallest
            ET.SubElement(ul, "li").text = f"smallest case: {small.scenario} {small.backend}/{small.profile}"
            if small.repro:
                ET.SubElement(section, "pre", {"class": "repro"}).text = small.repro
            details = ET.SubElement(section, "details")
            ET.SubElement(details, "summary").text = f"all {len(g.cells)} cells"
            ET.SubElement(details, "pre").text = "\n".join(
                f"{d.scenario} {d.backend}/{d.profile}: {d.before_label} → {d.after_label}" for d in g.cells
            )
        ET.SubElement(body, "h2").text = "Sides"
        table = ET.SubElement(body, "table")
        for name, s in (("before", self.before), ("after", self.after)):
            tr = ET.SubElement(table, "tr")
            for text in (name, s.label, s.key_versions()):
                ET.SubElement(tr, "td").text = text
            td = ET.SubElement(tr, "td")
            details = ET.SubElement(td, "details")
            ET.SubElement(details, "summary").text = f"{len(s.resolved)} distributions"
            ET.SubElement(details, "pre").text = "\n".join(s.resolved)
        return "<!doctype html>\n" + ET.tostring(page, encoding="unicode", method="html") + "\n"

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "report.md", folder / "report.html", folder / "report.json"]
        write_atomic(paths[0], [self.to_markdown()])
        write_atomic(paths[1], [self.to_html()])
        write_atomic(paths[2], [json.dumps(self.to_json(), indent=1, sort_keys=True)])
        return paths


def summary_lines(before: Side, after: Side, records: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The matrix report's summary over the two sides, which it names by their labels (``fastapi
    0.108.0 (starlette 0.32.0.post1)``, not the gate's cell id). Its repro lines are left out: they
    are matrix commands, and a gate's cells are not the matrix's; each group has its own repro."""
    from harness.results._report import CellInfo, build
    from harness.results._summary import summarize

    cells, by_label = [], {}
    for side in (before, after):
        recs = records.get(side.cell_id) or []
        starlette = str(recs[0].get("starlette", side.label)) if recs else side.label
        cells.append(CellInfo(id=side.label, starlette=starlette, status="done"))
        by_label[side.label] = recs
    lines = summarize(build(cells, by_label)).lines(width=100)
    out: list[str] = []
    for line in lines:
        if line.lstrip().startswith("- repro ("):
            out.append("\0")  # the repro and its wrapped lines go
        elif out and out[-1] == "\0" and line.startswith("      "):
            continue
        else:
            out.append(line)
    return [line for line in out if line != "\0"]
