"""The report: where each outcome appears, as version ranges, transitions and a heatmap.

Rows are (scenario, backend, profile); columns are Starlette releases in order. A cell of the
report is the set of outcomes of its repeats: one outcome is stable, several are flaky and shown
with their counts (``no_response_returned 3/5, ok 2/5``), never reduced to a majority. Consecutive
releases with the same outcome set merge into a range. Every cell that is not ``ok`` carries a
command that reproduces it.
"""

from __future__ import annotations

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
from harness.results._index import CellFold, fold
from harness.results._repro import nox_command_template, seed_suffix
from harness.results._store import CRASHED, INSTALL_FAILED, SKIPPED
from harness.results._summary import Summary, summarize

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
        #: id(row) -> (row, its ranges): every output asks for them, a full matrix has ~5,000 rows.
        self._ranges: dict[int, tuple[Row, list[tuple[str, str, tuple[str, ...], Counter[str]]]]] = {}

    @property
    def versions(self) -> list[str]:
        return [c.id for c in self.cells]

    # --- derived views --------------------------------------------------------------------------

    def ranges(self, row: Row) -> list[tuple[str, str, tuple[str, ...], Counter[str]]]:
        """(first, last, outcome set, summed counts) over consecutive releases with one outcome set.
        Computed once per row (a report's rows do not change once built)."""
        hit = self._ranges.get(id(row))
        if hit is not None and hit[0] is row:
            return list(hit[1])
        out: list[tuple[str, str, tuple[str, ...], Counter[str]]] = []
        for cid in self.versions:
            counts = row.cells.get(cid)
            if counts is None:
                continue
            key = outcome_set(counts)
            if out and out[-1][2] == key:
                first, _, k, total = out[-1]
                total.update(counts)
                out[-1] = (first, cid, k, total)
            else:
                out.append((cid, cid, key, Counter(counts)))
        self._ranges[id(row)] = (row, out)
        return list(out)

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
        """Machine-readable report, as ``report.schema.json`` documents it (``_json``): the
        summary, the cells, and per row its ranges and every cell that is not ok, each with ready
        repro commands."""
        from harness.results._json import report_json

        return report_json(self)

    def summary(self) -> Summary:
        """The answer in a few lines, derived from the range table (``_summary``); ``.text()`` for
        a terminal. Derived once for the Markdown, the page and the JSON alike (again when a cell or
        a row is added)."""
        key = (tuple(map(id, self.cells)), len(self.rows), sum(len(r.cells) for r in self.rows.values()))
        cached = self.__dict__.get("_summary")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_summary"] = (key, summarize(self))
        return cached[1]

    def to_markdown(self, folder: Path | None = None) -> str:
        """The answer first, then every table folded (``_markdown``); ``folder`` is where the
        report goes, so the charts already there are shown."""
        from harness.results._markdown import markdown

        return markdown(self, folder)

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

    def to_html(self, agreement: dict[str, Any] | None = None, folder: Path | None = None) -> str:
        """The page (``_html``): the answer, the heatmap, the details folded; the charts in
        ``folder`` are shown when they are there."""
        from harness.results._html import page

        return page(self, agreement, folder)

    def write(self, folder: Path) -> list[Path]:
        from harness.results._charts import write_charts

        paths = [folder / "report.md", folder / "report.json", folder / "report.html"]
        charts = write_charts(self, folder)  # first: the Markdown and the page show the charts there are
        write_atomic(paths[0], [self.to_markdown(folder)])
        write_atomic(paths[1], [json.dumps(self.to_json(), indent=1, sort_keys=True)])
        write_atomic(paths[2], [self.to_html(load_agreement(folder), folder)])
        return paths + charts


def load_agreement(folder: Path) -> dict[str, Any] | None:
    """``nox -s servers``'s summary, when it has been run into the same results folder."""
    try:
        agreement: dict[str, Any] = json.loads((folder / "agreement.json").read_text())  # written by nox -s servers
        return agreement
    except (OSError, ValueError):
        return None


def agreement_html(agreement: dict[str, Any] | None) -> str:
    """The real-server section of the page (``_html.agreement_section``), or nothing."""
    if not agreement:
        return ""
    from harness.results._html import agreement_section, render

    return render(agreement_section(agreement))


def build(
    cells: Sequence[CellInfo],
    records_by_cell: Mapping[str, Iterable[dict[str, Any]]],
    matrix_args: Sequence[str] | None = None,
    records_of: Callable[[str], Iterable[dict[str, Any]]] | None = None,
    folds: Mapping[str, CellFold] | None = None,
) -> Report:
    """Fold records into rows; a cell that did not run marks every row it would have had.
    ``matrix_args`` default to what the cells themselves say (``--fastapi`` over their releases).
    ``folds`` are cells already folded (their ``index.json``, see ``_index``), in place of their
    records; ``records_of`` reads a cell's records again for the sequence diagram (by default from
    ``records_by_cell``, which must then be re-iterable)."""
    ordered = sorted(cells, key=_cell_order)
    rows: dict[RowKey, Row] = {}
    for cell in ordered:
        folded = (folds or {}).get(cell.id)
        if folded is None:
            folded = fold(records_by_cell.get(cell.id, ()))
        _add_cell(rows, cell.id, folded)
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


def _add_cell(rows: dict[RowKey, Row], cell_id: str, folded: CellFold) -> None:
    """One cell's folded rows into the report's rows (a row's parameters come from its first cell)."""
    for key, f in folded.rows.items():
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(*key)
            row.params = {k: v for k, v in f.params.items() if k in _APP_KEYS}
            row.sweep = dict(f.params)
        row.cells[cell_id] = Counter(f.counts)
        if f.expectations:
            row.expectations[cell_id] = {name: list(t) for name, t in f.expectations.items()}
        if f.first_bad is not None:
            row.first_bad[cell_id] = f.first_bad
            row.detail[cell_id] = f.detail


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
