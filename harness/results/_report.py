"""The report: built from the cells' records, written as Markdown, JSON and a page.

``_model`` holds the data and what is derived from it; the views are ``_summary`` (the answer),
``_markdown``, ``_json`` (the contract, ``report.schema.json``), ``_html`` (the heatmap) and
``_charts`` (the pictures). Every cell that is not ``ok`` carries a command that reproduces it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from harness.results._files import write_atomic
from harness.results._index import CellFold, fold
from harness.results._model import (
    CELL_LABELS,
    CellInfo,
    ReportData,
    Row,
    RowKey,
    exact_requirements,
    label,
    outcome_set,
)
from harness.results._summary import Summary, summary_of

__all__ = ["CELL_LABELS", "CellInfo", "Report", "Row", "RowKey", "exact_requirements", "label", "outcome_set"]


@dataclass
class Report(ReportData):
    """A report and its outputs."""

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report, as ``report.schema.json`` documents it (``_json``): the
        summary, the cells, and per row its ranges and every cell that is not ok, each with ready
        repro commands."""
        from harness.results._json import report_json

        return report_json(self)

    def summary(self) -> Summary:
        """The answer in a few lines, derived from the range table (``_summary``); ``.text()`` for
        a terminal."""
        return summary_of(self)

    def to_markdown(self, folder: Path | None = None) -> str:
        """The answer first, then every table folded (``_markdown``); ``folder`` is where the
        report goes, so the charts already there are shown."""
        from harness.results._markdown import markdown

        return markdown(self, folder)

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
