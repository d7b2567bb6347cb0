"""The report: where each outcome appears, as version ranges, transitions and a heatmap.

Rows are (scenario, backend, profile); columns are Starlette releases in order. A cell of the
report is the set of outcomes of its repeats: one outcome is stable, several are flaky and shown
with their counts (``no_response_returned 3/5, ok 2/5``), never reduced to a majority. Consecutive
releases with the same outcome set merge into a range. Every cell that is not ``ok`` carries a
command that reproduces it.
"""

from __future__ import annotations

import html
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from harness.results._counts import format_counts, ordered
from harness.results._files import write_atomic
from harness.results._repro import nox_command_template, run_command_template, seed_suffix
from harness.results._store import CRASHED, INSTALL_FAILED, SKIPPED

_CSS = """
body{font:13px system-ui,sans-serif;margin:1em} table{border-collapse:collapse}
td{width:9px;height:14px;border:1px solid #fff}
th.n{text-align:right;font-weight:normal;white-space:nowrap;padding-right:6px}
th.v{writing-mode:vertical-rl;font-weight:normal;font-size:11px}
.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}
td{cursor:pointer} table.t td{width:auto;height:auto;cursor:auto;padding:0 8px} table.t{margin-top:1em}
"""

#: Cell statuses that stand in for outcomes when a whole cell did not run.
CELL_LABELS = (INSTALL_FAILED, SKIPPED, CRASHED)


@dataclass
class CellInfo:
    """One release's environment and status, as the report shows it."""

    id: str
    starlette: str
    status: str
    reason: str = ""
    python: str | None = None
    anyio: str | None = None
    trio: str | None = None
    resolution: str = "pinned"
    requirements: list[str] = field(default_factory=list)
    exclude_newer: str | None = None
    runs: int = 0
    elapsed_s: float = 0.0
    #: The FastAPI release of a FastAPI cell (its Starlette is ``starlette``).
    fastapi: str | None = None


RowKey = tuple[str, str, str]


def exact_requirements(starlette: str, anyio: str | None, trio: str | None, fastapi: str | None = None) -> list[str]:
    """The pins a repro needs: exactly what ran (not the matrix's ranges)."""
    reqs = [f"fastapi=={fastapi}"] if fastapi else []
    reqs += [f"starlette=={starlette}"]
    reqs += [f"anyio=={anyio}"] if anyio else []
    reqs += [f"trio=={trio}"] if trio else []
    return [*reqs, "packaging", "rich"]


@dataclass
class Row:
    scenario: str
    backend: str
    profile: str
    #: cell id -> outcome counts
    cells: dict[str, Counter[str]] = field(default_factory=dict)
    #: cell id -> (outcome, seed) of the first non-ok run, for the repro line
    first_bad: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)
    #: cell id -> expectation name -> [runs where it was not met, runs]
    expectations: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    #: A user app's options (target, path, method, body), from the row's first record, for repros.
    params: dict[str, Any] = field(default_factory=dict)
    #: The row's record ``params`` as they are (a sweep's ``depth``, ``endpoint``, ``when``), for the
    #: pictures that read a sweep's parameters (``_charts``).
    sweep: dict[str, Any] = field(default_factory=dict)


def label(counts: Counter[str]) -> str:
    """``ok`` / ``no_response_returned`` for a stable cell; ``a 3/5, b 2/5`` for a flaky one."""
    return format_counts(counts, bare_single=True)


def outcome_set(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(ordered(counts))


@dataclass
class Report:
    cells: list[CellInfo]
    rows: dict[RowKey, Row]
    #: What a ``nox -s matrix`` needs besides the row to know its cells (``--fastapi``, the app's
    #: requirements), so every repro line is complete.
    matrix_args: tuple[str, ...] = ()
    generated: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    #: A cell's records again, for the one run the sequence diagram draws (None: no diagram).
    records_of: Callable[[str], Iterable[dict[str, Any]]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id = {c.id: c for c in self.cells}

    @property
    def versions(self) -> list[str]:
        return [c.id for c in self.cells]

    # --- derived views --------------------------------------------------------------------------

    def ranges(self, row: Row) -> list[tuple[str, str, tuple[str, ...], Counter[str]]]:
        """(first, last, outcome set, summed counts) over consecutive releases with one outcome set."""
        out: list[tuple[str, str, tuple[str, ...], Counter[str]]] = []
        for cid in self.versions:
            counts = row.cells.get(cid)
            if counts is None:
                continue
            key = outcome_set(counts)
            if out and out[-1][2] == key:
                first, _, k, total = out[-1]
                out[-1] = (first, cid, k, total + counts)
            else:
                out.append((cid, cid, key, Counter(counts)))
        return out

    def transitions(self, row: Row) -> list[tuple[str, str, str, str]]:
        """(before version, after version, before label, after label) wherever the outcome set changes."""
        out = []
        prev: tuple[str, Counter[str]] | None = None
        for cid in self.versions:
            counts = row.cells.get(cid)
            if counts is None:
                continue
            if prev is not None and outcome_set(prev[1]) != outcome_set(counts):
                out.append((prev[0], cid, label(prev[1]), label(counts)))
            prev = (cid, counts)
        return out

    def expectation_ranges(self, row: Row) -> dict[str, list[tuple[str, str, str]]]:
        """Per expectation of the row's scenario: (first, last, ``met`` / ``not met`` / ``not met
        k/n``) over consecutive releases in the same state; kept apart from the outcome ranges."""
        out: dict[str, list[tuple[str, str, str]]] = {}
        for cid in self.versions:
            for name, (unmet, runs) in row.expectations.get(cid, {}).items():
                state = "met" if unmet == 0 else "not met" if unmet == runs else f"not met {unmet}/{runs}"
                spans = out.setdefault(name, [])
                if spans and spans[-1][2] == state:
                    spans[-1] = (spans[-1][0], cid, state)
                else:
                    spans.append((cid, cid, state))
        return out

    def interesting(self) -> list[Row]:
        """Rows that are not ``ok`` (or not applicable) everywhere."""
        quiet = {"ok", "not_applicable"}
        return [r for r in self.rows.values() if any(set(c) - quiet for c in r.cells.values())]

    def _template(self, row: Row) -> str:
        """The repro command of any release of ``row``: fill in ``{version}`` and ``{seed}``."""
        return nox_command_template(
            row.scenario, row.backend, row.profile, params=row.params, matrix_args=self.matrix_args
        )

    def _seed(self, row: Row, cell_id: str) -> str:
        return seed_suffix(row.first_bad.get(cell_id, ("", None))[1])

    def repro(self, row: Row, cell_id: str) -> str:
        return self._template(row).format(version=cell_id, seed=self._seed(row, cell_id))

    # --- outputs --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report. Per row: ranges (with the detail of their first release),
        transitions, and every cell that is not ok with its outcome counts and trio seed; its repro
        command is ``repro`` with ``{version}`` and ``{seed}`` filled in (``pip_repro`` likewise, with
        the cell's exact pins from ``cells``)."""
        rows = []
        for r in self.rows.values():
            rows.append(
                {
                    "scenario": r.scenario,
                    "backend": r.backend,
                    "profile": r.profile,
                    "ranges": [
                        {"from": a, "to": b, "outcomes": list(k), "counts": dict(t), "detail": r.detail.get(a, "")}
                        for a, b, k, t in self.ranges(r)
                    ],
                    "transitions": [
                        {"before": a, "after": b, "was": x, "now": y} for a, b, x, y in self.transitions(r)
                    ],
                    "repro": self._template(r),
                    "pip_repro": run_command_template(r.scenario, r.backend, r.profile, params=r.params),
                    "expectations": {
                        name: [{"from": a, "to": b, "state": st} for a, b, st in spans]
                        for name, spans in self.expectation_ranges(r).items()
                    },
                    "not_ok": {
                        cid: {"outcomes": dict(c), "seed": r.first_bad.get(cid, ("", None))[1]}
                        for cid, c in r.cells.items()
                        if set(c) - {"ok", "not_applicable"}
                    },
                }
            )
        return {"generated": self.generated, "cells": [c.__dict__ for c in self.cells], "rows": rows}

    def to_markdown(self) -> str:
        out = [f"# Starlette BaseHTTPMiddleware under client disconnects\n\nGenerated {self.generated}.\n"]
        out.append(self._cells_md())
        interesting = self.interesting()
        quiet = len(self.rows) - len(interesting)
        out.append(
            f"\n## Outcome ranges\n\n{len(interesting)} of {len(self.rows)} (scenario, backend, profile) rows are "
            f"not `ok` on every release; the other {quiet} are `ok` (or not applicable) everywhere.\n"
        )
        out.append("| scenario | backend | profile | releases | outcome |\n|---|---|---|---|---|")
        for r in interesting:
            for a, b, k, t in self.ranges(r):
                span = a if a == b else f"{a} – {b}"  # noqa: RUF001 - the en dash of a range
                out.append(
                    f"| `{r.scenario}` | {r.backend} | {r.profile} | {span} | {label(t) if len(k) > 1 else k[0]} |"
                )
        out.append("\n## Transitions\n\nWhere a row's outcome changes between consecutive releases.\n")
        out.append("| scenario | backend | profile | between | was | now |\n|---|---|---|---|---|---|")
        for r in interesting:
            for a, b, x, y in self.transitions(r):
                out.append(f"| `{r.scenario}` | {r.backend} | {r.profile} | {a} → {b} | {x} | {y} |")
        out.append(self._expectations_md())
        flaky = [(r, cid, c) for r in self.rows.values() for cid, c in r.cells.items() if len(c) > 1]
        out.append(f"\n## Flaky cells\n\n{len(flaky)} cells gave more than one outcome across their repeats.\n")
        if flaky:
            out.append("| scenario | backend | profile | release | outcomes |\n|---|---|---|---|---|")
            for r, cid, c in flaky:
                out.append(f"| `{r.scenario}` | {r.backend} | {r.profile} | {cid} | {label(c)} |")
        out.append(
            "\n## Reproduce\n\nOne command per range that is not `ok` (its first release; "
            "`report.json` has one for every cell, and a plain `uv pip` + `python -m harness run` variant).\n"
        )
        for r in interesting:
            for a, _b, k, _t in self.ranges(r):
                if set(k) - {"ok", "not_applicable"}:
                    out.append(f"- `{r.scenario}` {r.backend} {r.profile} @ {a}: `{self.repro(r, a)}`")
        return "\n".join(out) + "\n"

    def _expectations_md(self) -> str:
        """Where a scenario's own expectations do not hold: apart from the outcome, which says what
        the app did (a seed that sends the whole response is ``ok``, its "only the start" not met)."""
        lines = [
            "\n## Scenario expectations\n\nWhere a scenario's own expectations (its Starlette test's "
            "assertions) are not met; every other expectation is met on every release.\n",
            "| scenario | backend | profile | expectation | not met on | met on |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows.values():
            for name, spans in self.expectation_ranges(r).items():
                unmet = [_span(a, b) + ("" if st == "not met" else f" ({st[8:]})") for a, b, st in spans if st != "met"]
                if unmet:
                    met = ", ".join(_span(a, b) for a, b, st in spans if st == "met") or "-"
                    lines.append(
                        f"| `{r.scenario}` | {r.backend} | {r.profile} | {name} | {', '.join(unmet)} | {met} |"
                    )
        return "\n".join(lines)

    def _cells_md(self) -> str:
        lines = [
            "## Cells\n",
            "| release | status | python | anyio | trio | resolution | runs | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in self.cells:
            status = c.status if not c.reason else f"{c.status}: {c.reason}"
            release = f"{c.id} (starlette {c.starlette})" if c.id.startswith("fastapi-") else c.id
            lines.append(
                f"| {release} | {status} | {c.python or '-'} | {c.anyio or '-'} | {c.trio or '-'} | {c.resolution} "
                f"| {c.runs} | {c.elapsed_s:.1f} |"
            )
        return "\n".join(lines)

    def to_html(self, agreement: dict[str, Any] | None = None) -> str:
        """A self-contained page: the heatmap is drawn by a few lines of script from compact data
        (one character per cell), so 400 rows x 100 releases stay a few hundred kilobytes."""
        codes = {
            "ok": "o",
            "no_response_returned": "n",
            "exception": "e",
            "hang": "h",
            "protocol_error": "p",
            "not_applicable": "a",
            "install_failed": "i",
            "skipped": "s",
            "crashed": "c",
        }
        colours = {
            "o": "#3a9d5d",
            "n": "#d7263d",
            "e": "#f18f01",
            "h": "#7b2cbf",
            "p": "#2e86ab",
            "a": "#d0d0d0",
            "i": "#555",
            "s": "#999",
            "c": "#000",
            "f": "#f6c90e",
        }
        names = {v: k for k, v in codes.items()} | {"f": "flaky"}
        rows = []
        for r in self.interesting():
            line, labels, seeds = [], {}, {}
            for k, c in enumerate(self.cells):
                counts = r.cells.get(c.id)
                if counts is None:
                    line.append(" ")
                    continue
                line.append("f" if len(counts) > 1 else codes.get(next(iter(counts)), "?"))
                if len(counts) > 1:
                    labels[k] = label(counts)
                seed = r.first_bad.get(c.id, ("", None))[1]
                if seed is not None:
                    seeds[k] = seed
            rows.append([r.scenario, r.backend, r.profile, "".join(line), labels, seeds, self._template(r)])
        data = json.dumps({"versions": self.versions, "rows": rows, "colours": colours, "names": names})
        transitions = "".join(
            f"<tr><td>{html.escape(r.scenario)}</td><td>{r.backend}</td><td>{r.profile}</td>"
            f"<td>{html.escape(a)} → {html.escape(b)}</td><td>{html.escape(x)}</td><td>{html.escape(y)}</td></tr>"
            for r in self.interesting()
            for a, b, x, y in self.transitions(r)
        )
        legend = "".join(
            f'<span class="sw" style="background:{c}"></span>{html.escape(names[k])} ' for k, c in colours.items()
        )
        return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Starlette disconnect matrix</title><style>{_CSS}</style></head><body>
<h1>Starlette BaseHTTPMiddleware under client disconnects</h1><p>Generated {html.escape(self.generated)}.
Rows that are <code>ok</code> everywhere are left out.
Click a cell for its outcomes and a command that reproduces it.</p>
<p>{legend}</p><pre id="pick">(click a cell)</pre><table id="heat"></table>
<h2>Transitions</h2><table class="t"><tr><th>scenario</th><th>backend</th><th>profile</th><th>between</th>
<th>was</th><th>now</th></tr>{transitions}</table>{agreement_html(agreement)}
<script>
const D = {data};
const t = document.getElementById("heat");
let head = "<tr><th></th>" + D.versions.map(v => '<th class="v">' + v + "</th>").join("") + "</tr>";
t.insertAdjacentHTML("beforeend", head);
D.rows.forEach((r, i) => {{
  const cells = [...r[3]].map((c, k) =>
    '<td data-r="' + i + '" data-k="' + k + '" style="background:' + (D.colours[c] || "#fff") + '"></td>').join("");
  const name = r[0] + " · " + r[1] + " · " + r[2];
  t.insertAdjacentHTML("beforeend", '<tr><th class="n">' + name + "</th>" + cells + "</tr>");
}});
t.addEventListener("click", e => {{
  const d = e.target.dataset; if (d.r === undefined) return;
  const r = D.rows[+d.r], k = +d.k, v = D.versions[k], c = r[3][k];
  let text = r[0] + " " + r[1] + " " + r[2] + " @ " + v + ": " + (r[4][k] || D.names[c] || "no result");
  if (c !== "o" && c !== "a" && c !== " ") {{
    const seed = r[5][k] !== undefined ? " --seed " + r[5][k] : "";
    text += "\\n" + r[6].split("{{version}}").join(v).split("{{seed}}").join(seed);
  }}
  document.getElementById("pick").textContent = text;
}});
</script></body></html>"""

    def write(self, folder: Path) -> list[Path]:
        paths = [folder / "report.md", folder / "report.json", folder / "report.html"]
        write_atomic(paths[0], [self.to_markdown()])
        write_atomic(paths[1], [json.dumps(self.to_json(), indent=1, sort_keys=True)])
        write_atomic(paths[2], [self.to_html(load_agreement(folder))])
        from harness.results._charts import write_charts

        return paths + write_charts(self, folder)


def load_agreement(folder: Path) -> dict[str, Any] | None:
    """``nox -s servers``'s summary, when it has been run into the same results folder."""
    try:
        agreement: dict[str, Any] = json.loads((folder / "agreement.json").read_text())  # written by nox -s servers
        return agreement
    except (OSError, ValueError):
        return None


def agreement_html(agreement: dict[str, Any] | None) -> str:
    """The real-server section of the page: verdict counts, the rows that are not plain agreement
    first, then the probes. Full detail stays in agreement.md."""
    if not agreement:
        return ""
    from harness.results._agreement import AGREE

    cells = agreement.get("cells") or []
    tally = Counter(c.get("verdict") for c in cells)
    ordered = sorted(cells, key=lambda c: (c.get("verdict") == AGREE, c.get("starlette"), c.get("scenario")))
    rows = "".join(
        f"<tr><td>{html.escape(str(c.get('starlette')))}</td><td>{html.escape(c.get('scenario', ''))}</td>"
        f"<td>{html.escape(c.get('server', ''))} {html.escape(str(c.get('server_version') or ''))}</td>"
        f"<td>{html.escape(str(c.get('profile') or '-'))}</td>"
        f"<td>{html.escape(format_counts(c.get('real') or {}))}</td>"
        f"<td>{html.escape(format_counts(c.get('scripted') or {}))}</td>"
        f"<td><b>{html.escape(str(c.get('verdict')))}</b></td>"
        f"<td><code>{html.escape(c.get('repro', ''))}</code></td></tr>"
        for c in ordered
    )
    probes = "".join(
        f"<tr><td>{html.escape(p.get('server', ''))} {html.escape(str(p.get('server_version') or ''))}</td>"
        f"<td>{html.escape(str(p.get('profile') or '-'))}</td><td>"
        + html.escape("matches" if p.get("matches") else "; ".join(p.get("mismatches") or [p.get("reason", "")]))
        + "</td></tr>"
        for p in agreement.get("probes") or []
    )
    summary = ", ".join(f"{v} {n}" for v, n in sorted(tally.items(), key=lambda kv: str(kv[0])))
    return f"""
<h2>Real servers vs the scripted driver</h2><p>{len(cells)} cells: {html.escape(summary)}
(tolerance {agreement.get("tolerance")}; details in agreement.md).</p>
<table class="t"><tr><th>starlette</th><th>scenario</th><th>server</th><th>profile</th><th>real</th><th>scripted</th>
<th>verdict</th><th>repro</th></tr>{rows}</table>
<h3>Profile probes</h3><table class="t"><tr><th>server</th><th>profile</th><th>result</th></tr>{probes}</table>"""


def build(
    cells: Sequence[CellInfo],
    records_by_cell: Mapping[str, Iterable[dict[str, Any]]],
    matrix_args: Sequence[str] | None = None,
    records_of: Callable[[str], Iterable[dict[str, Any]]] | None = None,
) -> Report:
    """Fold records into rows; a cell that did not run marks every row it would have had.
    ``matrix_args`` default to what the cells themselves say (``--fastapi`` over their releases).
    ``records_of`` reads a cell's records again for the sequence diagram (by default from
    ``records_by_cell``, which must then be re-iterable)."""
    ordered = sorted(cells, key=_cell_order)
    rows: dict[RowKey, Row] = {}
    for cell in ordered:
        for rec in records_by_cell.get(cell.id, ()):
            key = (rec["scenario"], rec["backend"], rec["profile"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(*key)
                row.params = {k: v for k, v in (rec.get("params") or {}).items() if k in _APP_KEYS}
                row.sweep = dict(rec.get("params") or {})
            row.cells.setdefault(cell.id, Counter())[rec["outcome"]] += 1
            for e in rec.get("expectations") or ():
                tally = row.expectations.setdefault(cell.id, {}).setdefault(e["name"], [0, 0])
                tally[0] += 0 if e.get("met") else 1
                tally[1] += 1
            if rec["outcome"] not in ("ok", "not_applicable") and cell.id not in row.first_bad:
                row.first_bad[cell.id] = (rec["outcome"], rec.get("seed"))
                row.detail[cell.id] = rec.get("detail", "")
    for cell in ordered:
        if cell.status in CELL_LABELS:
            for row in rows.values():
                row.cells[cell.id] = Counter({cell.status: 1})
    if matrix_args is None:
        matrix_args = fastapi_args([c.fastapi for c in ordered if c.fastapi])
    rows = dict(sorted(rows.items(), key=lambda kv: _row_order(kv[0])))
    return Report(
        list(ordered),
        rows,
        matrix_args=tuple(matrix_args),
        records_of=records_of or (lambda cid: records_by_cell.get(cid, ())),
    )


#: The ``params`` of a user app's record that its repro lines need.
_APP_KEYS = ("app", "path", "method", "app_dir", "body")


def fastapi_args(releases: Sequence[str]) -> list[str]:
    """``--fastapi`` covering these FastAPI releases (a matrix of FastAPI cells needs it to have
    them), or nothing for a Starlette matrix."""
    if not releases:
        return []
    ordered = sorted(set(releases), key=Version)
    spec = f"=={ordered[0]}" if len(ordered) == 1 else f">={ordered[0]},<={ordered[-1]}"
    return ["--fastapi", spec]


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first} – {last}"  # noqa: RUF001 - the en dash of a range


def _cell_order(cell: CellInfo) -> tuple[Any, ...]:
    """Releases in version order, development cells (named by their checkout) after them."""
    try:
        return (0, Version(cell.starlette), cell.resolution)
    except InvalidVersion:
        return (1, Version("0"), cell.starlette)


def _row_order(key: RowKey) -> tuple[Any, ...]:
    return (key[0].split("[", 1)[0], key[0], key[1], key[2])


def merge_records(
    groups: Iterable[Iterable[dict[str, Any]]], cell_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by the cell they came from: ``cell_id`` when the caller knows it (a cell's
    status file names it), else what the record says (``derived_cell_id``)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in groups:
        for rec in group:
            out[cell_id or derived_cell_id(rec)].append(rec)
    return out


def derived_cell_id(rec: dict[str, Any]) -> str:
    """The matrix's cell id from a record: the FastAPI release for a FastAPI cell, else the
    Starlette release, and the resolution when not pinned. (A cell with an app's own requirements
    also carries a digest of them, which only its status file knows.)"""
    resolution = rec.get("resolution") or "pinned"
    base = f"fastapi-{rec['fastapi']}" if rec.get("fastapi") else str(rec["starlette"])
    return base if resolution == "pinned" else f"{base}-{resolution}"
