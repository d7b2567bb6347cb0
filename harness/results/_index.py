"""A cell's records folded into the report's rows, and kept beside them as ``.<cell>.index.json``.

The report needs, per (scenario, backend, profile) row and cell, only the outcome counts, the
first run that was not ``ok`` (outcome, seed, detail), the expectation tallies and the row's
parameters; a full matrix holds ~343,000 records (~400 MB of JSON lines) to get them. Parsing
those is most of the time a report takes, so a cell's fold is written once, when the cell finishes
(``Store.record``), a few hundred kilobytes, and the report reads that instead.

The index is a cache, never the truth: it names the size and modification time of the results
file it was folded from, and one that does not match (a results file rewritten, merged by hand,
an index of another version) is ignored and rebuilt from the records. The report built from an
index is the report built from the records, by construction: both go through ``fold``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results._files import read_records, write_atomic

INDEX_VERSION = 2
_QUIET = ("ok", "not_applicable")

RowKey = tuple[str, str, str]


@dataclass
class RowFold:
    """One row's runs in one cell."""

    counts: dict[str, int] = field(default_factory=dict)
    #: (outcome, seed) of the first run that was not ok, and its detail.
    first_bad: tuple[str, int | None] | None = None
    detail: str = ""
    #: expectation name -> [runs where it was not met, runs]
    expectations: dict[str, list[int]] = field(default_factory=dict)
    #: The ``params`` of the row's first record in this cell.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CellFold:
    """Every row of one cell, in the order their first records came."""

    rows: dict[RowKey, RowFold] = field(default_factory=dict)


def fold(records: Iterable[dict[str, Any]]) -> CellFold:
    """The rows of one cell's records: the one place records become report rows."""
    out = CellFold()
    rows = out.rows
    for rec in records:
        key = (rec["scenario"], rec["backend"], rec["profile"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = RowFold(params=rec.get("params") or {})
        outcome = rec["outcome"]
        row.counts[outcome] = row.counts.get(outcome, 0) + 1
        for e in rec.get("expectations") or ():
            tally = row.expectations.setdefault(e["name"], [0, 0])
            tally[0] += 0 if e.get("met") else 1
            tally[1] += 1
        if outcome not in _QUIET and row.first_bad is None:
            row.first_bad = (outcome, rec.get("seed"))
            row.detail = rec.get("detail", "")
    return out


def index_path(results: Path) -> Path:
    """``cells/.<cell>.index.json``: hidden, so ``cells/*`` (what a merge is given) never names it."""
    return results.with_name("." + results.name.removesuffix(".jsonl") + ".index.json")


def is_index(path: Path) -> bool:
    """An index file (a merge given every file of ``cells/`` passes over it: it holds no runs)."""
    return path.name.startswith(".") and path.name.endswith(".index.json")


def _stamp(results: Path) -> list[int]:
    """What changes whenever the file's content may have: size and modification time, and the
    inode and status-change time, which no copy that keeps the times (``cp -p``, ``rsync -t``,
    ``touch -r``) and no ``os.replace`` can keep."""
    st = results.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def to_json(cell: CellFold, stamp: list[int]) -> dict[str, Any]:
    """Compact: scenario names and parameter sets once each, rows as short lists."""
    scenarios: dict[str, int] = {}
    params: dict[str, int] = {}
    rows = []
    for (scenario, backend, profile), r in cell.rows.items():
        si = scenarios.setdefault(scenario, len(scenarios))
        pi = params.setdefault(json.dumps(r.params, sort_keys=True), len(params))
        bad = list(r.first_bad) if r.first_bad else None
        rows.append([si, backend, profile, pi, r.counts, bad, r.detail, r.expectations or None])
    return {
        "version": INDEX_VERSION,
        "source": stamp,
        "scenarios": list(scenarios),
        "params": [json.loads(p) for p in params],
        "rows": rows,
    }


def from_json(data: dict[str, Any]) -> CellFold:
    scenarios, params = data["scenarios"], data["params"]
    out = CellFold()
    for si, backend, profile, pi, counts, bad, detail, expectations in data["rows"]:
        out.rows[(scenarios[si], backend, profile)] = RowFold(
            counts=counts,
            first_bad=(bad[0], bad[1]) if bad else None,
            detail=detail,
            expectations=expectations or {},
            params=params[pi],
        )
    return out


def write_index(results: Path) -> Path | None:
    """Fold a finished cell's results file and write its index beside it. None, and no index, when
    there are no results or they cannot be read: the index is a cache, and the report that reads
    the records instead says what is wrong with them."""
    path = index_path(results)
    try:
        stamp = _stamp(results)
        write_atomic(path, [json.dumps(to_json(fold(read_records(results)), stamp), separators=(",", ":"))])
    except (OSError, HarnessError, KeyError, TypeError):
        discard(results)
        return None
    return path


def current(results: Path) -> CellFold | None:
    """The cell's fold from its index, when that index was folded from this very results file;
    None when it is missing, stale or damaged (then only the records say)."""
    try:
        stamp = _stamp(results)
        data = json.loads(index_path(results).read_text(encoding="utf-8"))
        if data.get("version") == INDEX_VERSION and data.get("source") == stamp:
            return from_json(data)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        pass
    return None


def load(results: Path) -> CellFold:
    """The cell's fold: from its index when that index was folded from this very results file,
    else from the records (and the index rewritten, where the folder can be written)."""
    try:
        stamp = _stamp(results)
    except OSError:
        return CellFold()  # no results file: a cell that did not finish has no rows
    indexed = current(results)
    if indexed is not None:
        return indexed
    cell = fold(read_records(results))
    try:
        if _stamp(results) == stamp:  # not rewritten while it was read
            write_atomic(index_path(results), [json.dumps(to_json(cell, stamp), separators=(",", ":"))])
    except OSError:
        pass  # a read-only results folder: the report is still right, only slower next time
    return cell


def discard(results: Path) -> None:
    """Remove a cell's index (its results are being redone or were removed)."""
    try:
        os.unlink(index_path(results))
    except FileNotFoundError:
        pass
