"""Environments for cells that nox does not create itself (the gate's two sides, bisect probes).

Each lives under ``.nox/cells/<cell id>`` and is reused; ``uv pip install`` makes an unchanged one a
no-op. A development checkout is reinstalled every time, since its source may have changed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.matrix._cellrun import uv_binary
from harness.matrix._cells import Cell
from harness.matrix._interpreters import find_python

DEFAULT_ROOT = Path(".nox") / "cells"


def ensure_env(cell: Cell, root: Path = DEFAULT_ROOT, name: str | None = None) -> str:
    """The path of a Python in an environment for ``cell`` (created if missing, not yet installed)."""
    interpreter = find_python(cell.python)
    if interpreter is None:
        raise HarnessError(f"Starlette {cell.id} needs Python {cell.python}, which is not installed (try pyenv)")
    location = root / (name or cell.id).replace("/", "_")
    python = location / "bin" / "python"
    if not python.exists():
        uv = uv_binary()
        cmd = (
            [uv, "venv", "--quiet", "-p", interpreter, str(location)]
            if uv
            else [interpreter, "-m", "venv", str(location)]
        )
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"creating an environment for {cell.id} took over 300 s; check uv and the disk"
            ) from None
        if out.returncode != 0:
            raise HarnessError(f"cannot create an environment for {cell.id}: {out.stderr.strip()[-300:]}")
    return str(python)
