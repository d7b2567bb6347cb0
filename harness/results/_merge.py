"""Merging result files from many places (CI shards, several machines) into one report.

Files are accepted only if they can belong to one matrix: the same schema, and for each cell (a
Starlette version and resolution) one environment (Python, anyio, trio). A run that appears twice
is refused too: merging the same shard twice would double its counts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results._files import read_records
from harness.results._index import CellFold, is_index, load
from harness.results._report import CellInfo, build, exact_requirements, merge_records

_ENV = ("python", "anyio", "trio")


def _status_of(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".status.json")


def _named_cell(path: Path) -> str | None:
    """The cell id a records file's sibling status file gives (``cells/<id>.status.json``)."""
    try:
        return str(json.loads(_status_of(path).read_text(encoding="utf-8"))["cell"]["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_files(paths: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    by_cell: dict[str, list[dict[str, Any]]] = {}
    env_of: dict[str, tuple[tuple[Any, ...], Path]] = {}
    seen: dict[tuple[Any, ...], Path] = {}
    for path in paths:
        for cell_id, records in merge_records([read_records(path)], _named_cell(path)).items():
            for r in records:
                env = tuple(r.get(k) for k in _ENV)
                known = env_of.setdefault(cell_id, (env, path))
                if known[0] != env:
                    raise HarnessError(
                        f"{path} and {known[1]} both hold Starlette {cell_id} but with different environments "
                        f"({dict(zip(_ENV, env, strict=True))} vs {dict(zip(_ENV, known[0], strict=True))}); "
                        "merge results of one matrix only"
                    )
                run = (cell_id, r["scenario"], r["backend"], r["profile"], r["repeat"])
                if run in seen and seen[run] != path:
                    raise HarnessError(
                        f"{path} repeats runs already in {seen[run]} (e.g. {run[1]} on {cell_id}); pass each shard once"
                    )
                seen[run] = path
            by_cell.setdefault(cell_id, []).extend(records)
    return by_cell


def report_from_files(paths: Sequence[Path], out: Path) -> list[Path]:
    """One report from result files and cell status files (``cells/*``): a cell that crashed,
    failed to install or was skipped has a status file and no records, and is kept, with its
    reason, exactly as the matrix's own report shows it. A records file's sibling status file is
    read too."""
    seen_paths: set[Path] = set()
    for p in paths:
        resolved = Path(p).resolve()
        if resolved in seen_paths:
            raise HarnessError(f"{p} is given twice; pass each file once (its runs would count twice)")
        seen_paths.add(resolved)
    status_paths = [p for p in paths if p.name.endswith(".status.json")]
    record_paths = [p for p in paths if not p.name.endswith(".status.json") and not is_index(p)]
    for p in record_paths:
        sibling = _status_of(p)
        if sibling.exists() and sibling.resolve() not in seen_paths:
            status_paths.append(sibling)
    indexed = _indexed_cells(record_paths)
    by_cell = load_files([p for p in record_paths if p not in {path for path, _, _ in indexed.values()}])
    for cell_id in by_cell.keys() & indexed.keys():
        raise HarnessError(f"{indexed[cell_id][0]} and another file both hold cell {cell_id}; pass each shard once")
    statuses = {cell_id: info for cell_id, info in (_status_cell(p) for p in status_paths)}
    cells = [info for _, info, _ in indexed.values()]
    for cell_id, records in by_cell.items():
        first = records[0]
        cells.append(
            CellInfo(
                id=cell_id,
                starlette=first["starlette"],
                status="done",
                python=first.get("python"),
                anyio=first.get("anyio"),
                trio=first.get("trio"),
                resolution=first.get("resolution") or "pinned",
                requirements=exact_requirements(
                    first["starlette"], first.get("anyio"), first.get("trio"), first.get("fastapi")
                ),
                runs=len(records),
                elapsed_s=round(sum(r.get("elapsed_s", 0.0) for r in records), 3),
                fastapi=first.get("fastapi"),
            )
        )
    cells += [info for cell_id, info in statuses.items() if cell_id not in by_cell and info.status != "done"]
    if not cells:
        raise HarnessError("no runs and no cell statuses in the files given; pass results/cells/* of a matrix")
    folds = {cell_id: folded for cell_id, (_, _, folded) in indexed.items()}

    def records_of(cell_id: str) -> Any:
        return read_records(indexed[cell_id][0]) if cell_id in indexed else by_cell.get(cell_id, ())

    return build(cells, by_cell, records_of=records_of, folds=folds).write(out)


def _indexed_cells(paths: Sequence[Path]) -> dict[str, tuple[Path, CellInfo, CellFold]]:
    """Cells whose records need not be read: a matrix cell's results file whose status says
    ``done``, folded by its index (``_index``, rebuilt once when stale). Its environment comes
    from the status, which the cell wrote from its own records; one file per cell, so a second
    file of the same cell is a shard given twice."""
    found: dict[str, tuple[Path, CellInfo, CellFold]] = {}
    for path in paths:
        try:
            data = json.loads(_status_of(path).read_text(encoding="utf-8"))
            cell, env = data["cell"], data.get("environment") or {}
            if data.get("status") != "done" or not env.get("starlette"):
                continue
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            continue
        folded = load(path)  # the index, or the records folded once and the index written for next time
        info = CellInfo(
            id=str(cell["id"]),
            starlette=str(env["starlette"]),
            status="done",
            python=env.get("python"),
            anyio=env.get("anyio"),
            trio=env.get("trio"),
            resolution=str(cell.get("resolution") or "pinned"),
            requirements=exact_requirements(env["starlette"], env.get("anyio"), env.get("trio"), env.get("fastapi")),
            runs=int(data.get("runs") or 0),
            elapsed_s=float(data.get("elapsed_s") or 0.0),
            fastapi=env.get("fastapi"),
        )
        if info.id in found:
            raise HarnessError(f"{path} and {found[info.id][0]} both hold cell {info.id}; pass each shard once")
        found[info.id] = (path, info, folded)
    return found


def _status_cell(path: Path) -> tuple[str, CellInfo]:
    """A cell status file (``cells/<id>.status.json``) as the report's cell."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cell = data["cell"]
        info = CellInfo(
            id=str(cell["id"]),
            starlette=str(cell["starlette"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            python=cell.get("python"),
            resolution=str(cell.get("resolution") or "pinned"),
            requirements=list(cell.get("requirements") or []),
            elapsed_s=float(data.get("elapsed_s") or 0.0),
            fastapi=cell.get("fastapi"),
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(
            f"{path}: not a cell status file ({type(e).__name__}: {e}); pass the matrix's cells/*"
        ) from None
    return info.id, info
