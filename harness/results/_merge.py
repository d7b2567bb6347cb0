"""Merging result files from many places (CI shards, several machines) into one report.

Files are accepted only if they can belong to one matrix: the same schema, and for each cell (a
Starlette version and resolution) one environment (Python, anyio, trio). A run that appears twice
is refused too: merging the same shard twice would double its counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results._files import read_records
from harness.results._report import CellInfo, build, exact_requirements, merge_records

_ENV = ("python", "anyio", "trio")


def load_files(paths: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    by_cell: dict[str, list[dict[str, Any]]] = {}
    env_of: dict[str, tuple[tuple[Any, ...], Path]] = {}
    seen: dict[tuple[Any, ...], Path] = {}
    for path in paths:
        for cell_id, records in merge_records([read_records(path)]).items():
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
    by_cell = load_files(paths)
    cells = []
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
                requirements=exact_requirements(first["starlette"], first.get("anyio"), first.get("trio")),
                runs=len(records),
                elapsed_s=round(sum(r.get("elapsed_s", 0.0) for r in records), 3),
            )
        )
    return build(cells, by_cell).write(out)
