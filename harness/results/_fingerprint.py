"""Whether stored results are still current, derived from what their run really imported.

A run's verdicts depend on the code its process executed: the harness modules, the catalogue and,
with ``--app``, the user's own modules. Rather than a hand-kept list of "modules that matter", the
run process lists every module it loaded from outside the interpreter's own library and its
installed packages (``loaded_sources``), with a hash of each file; a stored cell is current only
while every one of those files still has that hash (``still_current``). Installed packages are the
environment's business: the cell's pins hash covers them.
"""

from __future__ import annotations

import hashlib
import site
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from harness.defaults import PROJECT_ROOT


def _library_roots() -> tuple[str, ...]:
    """Folders whose modules are the interpreter's or an installed package's, not the user's code."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(sysconfig.get_paths().values())
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user_site, str):
        roots.add(user_site)
    return tuple(str(Path(r).resolve()).rstrip("/") + "/" for r in roots if r)


def file_hash(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def loaded_sources() -> dict[str, str]:
    """``{absolute path: hash}`` of every source file this process imported that is neither the
    standard library nor an installed package: the harness, the catalogue, a user's app."""
    roots = _library_roots()
    out: dict[str, str] = {}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = str(Path(file).resolve())
        if path.startswith(roots):
            continue
        digest = file_hash(path)
        if digest is not None:
            out[_portable(path)] = digest
    return dict(sorted(out.items()))


def _portable(path: str) -> str:
    """Relative to the project root when under it, so a moved checkout keeps its results current."""
    try:
        return Path(path).relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path


def still_current(sources: Mapping[str, str]) -> bool:
    """Every file a stored run imported is unchanged (a run that recorded none is never current)."""
    return bool(sources) and all(file_hash(str(PROJECT_ROOT / path)) == digest for path, digest in sources.items())
