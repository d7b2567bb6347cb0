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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise HarnessError(f"{path}: cannot write here ({e.strerror}); choose another path") from None
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


#: The fields a downstream step reads of every record: a line without them is not a run.
_KEYS = ("scenario", "starlette", "backend", "profile", "outcome", "repeat")


def check_output(path: Path, option: str, *, directory: bool = False) -> None:
    """Refuse an output path before any work is done: only a regular file or a new path (a folder
    for ``directory``), in a folder that exists and can be written; never a symlink, FIFO or device,
    which writing would replace with a regular file."""
    if path.is_symlink():
        raise HarnessError(f"{option} {path}: a symlink; give the real path (it would be replaced by a file)")
    if path.exists():
        if directory and not path.is_dir():
            raise HarnessError(f"{option} {path}: exists and is not a folder; give a folder for the report files")
        if not directory and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file (a FIFO or a device)"
            raise HarnessError(f"{option} {path}: {kind}; give a file path")
    parent = path if directory and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:  # a real probe: permission bits do not tell (root, read-only mounts, /sys)
        fd, probe = tempfile.mkstemp(prefix=".harness-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise HarnessError(f"{option} {path}: {parent} cannot be written ({e.strerror}); choose another path") from None


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results file; a line of another schema is a one-line error naming the file."""
    from harness.run import OUTCOMES

    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read results file ({e.strerror})") from None
    with handle:
        for n, line in _lines(handle, path):
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
            missing = [k for k in _KEYS if k not in data]
            if missing:
                raise HarnessError(f"{path}:{n}: a record without {', '.join(missing)}; not a harness results line")
            if data["outcome"] not in OUTCOMES:
                raise HarnessError(
                    f"{path}:{n}: unknown outcome {data['outcome']!r}; outcomes are {', '.join(OUTCOMES)}"
                )
            yield data


def _lines(handle: Any, path: Path) -> Iterator[tuple[int, str]]:
    n = 0
    try:
        for n, line in enumerate(handle, 1):
            yield n, line
    except UnicodeDecodeError:
        raise HarnessError(f"{path}:{n + 1}: not text (binary data); results files are UTF-8 JSON lines") from None
