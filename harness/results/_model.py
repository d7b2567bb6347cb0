"""The report's data: rows of outcome counts per release, and what every view derives from them.

Rows are (scenario, backend, profile); columns are Starlette releases in order. A cell of the
report is the set of outcomes of its repeats: one outcome is stable, several are flaky and shown
with their counts (``no_response_returned 3/5, ok 2/5``), never reduced to a majority. Consecutive
releases with the same outcome set merge into a range. The views (``_summary``, ``_markdown``,
``_html``, ``_json``, ``_charts``) read this module only; ``_report`` builds it and writes them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.results._counts import format_counts, ordered
from harness.results._repro import nox_command_template, seed_suffix
from harness.results._store import CRASHED, INSTALL_FAILED, SKIPPED

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
class ReportData:
    """The rows and cells of a report and the ranges, transitions and repro lines derived from
    them; ``_report.Report`` adds the outputs."""

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


def span(first: str, last: str) -> str:
    return first if first == last else f"{first} – {last}"  # noqa: RUF001 - the en dash of a range
