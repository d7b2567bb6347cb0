"""Finding a Python interpreter for a cell without downloading one.

Old Starlette needs an older Python (0.13.3-0.13.8 fail on 3.11), which on a developer machine is
usually a pyenv install that is not on PATH. A cell whose interpreter cannot be found is recorded
as ``skipped`` with this module's reason, and the matrix goes on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from packaging.version import InvalidVersion, Version


@cache
def find_python(version: str) -> str | None:
    """An absolute path to a ``python{version}`` (e.g. "3.10"), or None."""
    found = shutil.which(f"python{version}")
    if found and _works(found):
        return found
    pyenv_root = os.environ.get("PYENV_ROOT") or _pyenv_root()
    if pyenv_root:
        candidates = sorted(
            Path(pyenv_root, "versions").glob(f"{version}.*/bin/python{version}"),
            key=lambda p: _version_key(p.parent.parent.name),
            reverse=True,
        )  # newest patch first, compared as versions (3.10.14 before 3.10.9)
        for c in candidates:
            if _works(str(c)):
                return str(c)
    uv = shutil.which("uv")
    if uv:
        found = _output([uv, "python", "find", "--no-python-downloads", version])
        if found:
            return found
    return None


def _version_key(name: str) -> tuple[int, Version]:
    """pyenv's folder names as versions; anything else (``3.10-dev``) sorts before every release."""
    try:
        return (1, Version(name))
    except InvalidVersion:
        return (0, Version("0"))


def _output(cmd: list[str]) -> str | None:
    """A command's stdout, or None when it fails or does not answer within 30 s."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _pyenv_root() -> str | None:
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return None
    return _output([pyenv, "root"])


def _works(path: str) -> bool:
    try:
        return subprocess.run([path, "-c", "pass"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
