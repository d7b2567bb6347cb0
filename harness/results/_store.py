"""The results store: one results file and one status file per cell, under ``results/cells/``.

A cell is done when its status file says so, its pins and selection hashes match what would run
now, and every source file its run imported is unchanged; anything else is redone. Both files are
written atomically (temporary file, then rename) and the status file last, so a killed matrix
leaves either a finished cell or no cell, never half of one, and two cells running at once never
write the same file. What a killed writer does leave, its hidden temporary files, the next run
of the cell removes (``discard_partial``).
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness import defaults
from harness.results import _index as index
from harness.results._files import read_records, write_atomic
from harness.results._fingerprint import still_current

DEFAULT_ROOT = Path(defaults.RESULTS_DIR)

DONE = "done"
INSTALL_FAILED = "install_failed"
SKIPPED = "skipped"
CRASHED = "crashed"
CELL_STATUSES = (DONE, INSTALL_FAILED, SKIPPED, CRASHED)


class Cell(Protocol):
    """What the store needs to know of a cell (``harness.matrix`` builds them)."""

    @property
    def id(self) -> str: ...

    @property
    def pins_hash(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass
class CellStatus:
    cell: dict[str, Any]
    status: str
    reason: str
    selection_hash: str
    selection: dict[str, Any]
    elapsed_s: float
    runs: int
    finished_at: str
    environment: dict[str, Any]
    #: Source files the cell's run imported, with their hashes (see ``_fingerprint``).
    sources: dict[str, str] = field(default_factory=dict)
    #: What the environment held when the cell ran (``uv pip freeze``), where the caller records it:
    #: the gate's sides, whose app requirements may resolve differently from one day to the next.
    resolved: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    def results_path(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}.jsonl"

    def status_path(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}.status.json"

    def discard_partial(self, cell_id: str) -> None:
        """Remove the cell's hidden working files (``.NAME.*`` beside its results and status files:
        ``write_atomic``'s temporary files, the sources file a cell run writes). A writer that was
        killed leaves them and nothing else would ever remove them; called before the cell runs
        again, or is found current, when no writer of this cell is alive (one matrix per folder)."""
        for path in (self.results_path(cell_id), self.status_path(cell_id)):
            for leftover in path.parent.glob(f".{glob.escape(path.name)}.*"):
                leftover.unlink(missing_ok=True)

    def status(self, cell_id: str) -> CellStatus | None:
        path = self.status_path(cell_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return CellStatus(**data)
        except (OSError, ValueError, TypeError):
            return None

    def is_fresh(self, cell: Cell, selection_hash: str) -> bool:
        """Finished with these pins and this selection, and still current: nothing to redo. A cell
        that crashed, failed to install or was skipped is always tried again (the index, the
        interpreters or the harness may have changed since)."""
        st = self.status(cell.id)
        return (
            st is not None
            and st.status == DONE
            and st.cell.get("pins_hash") == cell.pins_hash
            and st.selection_hash == selection_hash
            and self.results_path(cell.id).exists()
            and still_current(st.sources)
        )

    def record(
        self,
        cell: Cell,
        status: str,
        *,
        reason: str = "",
        selection_hash: str = "",
        selection: dict[str, Any] | None = None,
        elapsed_s: float = 0.0,
        runs: int = 0,
        environment: dict[str, Any] | None = None,
        sources: dict[str, str] | None = None,
        resolved: list[str] | None = None,
    ) -> None:
        """Write the cell's status last; a cell that did not finish keeps no results file. A
        finished cell's records are folded into its index first (what the report reads)."""
        if status != DONE:
            self.results_path(cell.id).unlink(missing_ok=True)
            index.discard(self.results_path(cell.id))
        else:
            index.write_index(self.results_path(cell.id))
        st = CellStatus(
            cell=cell.to_json(),
            status=status,
            reason=reason,
            selection_hash=selection_hash,
            selection=selection or {},
            elapsed_s=round(elapsed_s, 3),
            runs=runs,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            environment=environment or {},
            sources=sources or {},
            resolved=resolved or [],
        )
        write_atomic(self.status_path(cell.id), [json.dumps(st.to_json(), sort_keys=True, indent=1)])

    def folded(self, cell_id: str) -> index.CellFold:
        """The cell's records folded into report rows, from its index when that is current."""
        return index.load(self.results_path(cell_id))

    def records(self, cell_id: str) -> Iterator[dict[str, Any]]:
        path = self.results_path(cell_id)
        if path.exists():
            yield from read_records(path)
