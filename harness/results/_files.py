"""The results file: one JSON object per run, one line each (JSONL).

This is the contract between a cell and everything downstream (report, baseline, gate). Writes go
to a temporary file that is renamed into place, so a results file is either complete or absent,
even when the process is killed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run import SCHEMA_VERSION, RunRecord

#: Fields every line has; see README "Results schema".
REQUIRED_FIELDS = (
    "scenario",
    "params",
    "starlette",
    "anyio",
    "trio",
    "python",
    "backend",
    "profile",
    "seed",
    "repeat",
    "outcome",
    "detail",
    "sent",
    "receive_calls",
    "elapsed_s",
)


def dumps(record: RunRecord | dict[str, Any]) -> str:
    data = record.to_json() if isinstance(record, RunRecord) else record
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def write_atomic(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results file; a line of another schema is a one-line error naming the file."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read results file ({e.strerror})") from None
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                raise HarnessError(
                    f"{path}:{n}: not a JSON line; results files hold one JSON object per line"
                ) from None
            if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
                raise HarnessError(
                    f"{path}:{n}: schema {data.get('schema') if isinstance(data, dict) else None!r}, "
                    f"expected {SCHEMA_VERSION}; re-run the cell that wrote it"
                )
            yield data
