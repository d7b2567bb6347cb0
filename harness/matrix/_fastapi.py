"""FastAPI as a side: a FastAPI release decides which Starlette a team can have.

FastAPI pins a Starlette range in every release (``fastapi 0.108.0`` wants ``>=0.29.0,<0.33.0``), so
"does upgrading FastAPI lose our responses?" is a question about the Starlette that release
resolves to. uv resolves it, as it would for the team (the newest Starlette the release allows, or
with ``--resolution lowest`` the oldest); the side is then that Starlette's cell (its pins of
Python, anyio and trio) with the FastAPI release added, and every label names both.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness import defaults
from harness.errors import HarnessError, UsageError
from harness.matrix import _releases as index
from harness.matrix._cellrun import uv_binary
from harness.matrix._cells import Cell, make_cell
from harness.matrix._config import MatrixConfig
from harness.results import write_atomic

FASTAPI_CACHE = defaults.CACHE_DIR / "fastapi-index.json"
#: "fastapi version|python" -> the newest Starlette uv resolved it to (stable: each FastAPI
#: release pins its range; a new Starlette inside a range joins after ``rm`` of this file).
RESOLVED_CACHE = defaults.CACHE_DIR / "fastapi-starlette.json"


def fastapi_releases(*, offline: bool = False) -> list[index.Release]:
    return index.releases("fastapi", offline=offline, cache=FASTAPI_CACHE)


def resolve_starlette(fastapi: str, python: str, *, lowest: bool = False, extra: tuple[str, ...] = ()) -> Version:
    """The Starlette release ``fastapi==<fastapi>`` installs on ``python`` (with the app's own
    requirements ``extra``, which may narrow it); a conflict is one line naming what conflicts."""
    uv = uv_binary()
    if uv is None:
        raise HarnessError("a FastAPI side needs uv to resolve its Starlette (pip install uv)")
    cmd = [uv, "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate", "--python-version", python]
    if lowest:
        cmd += ["--resolution", "lowest-direct"]
    wanted = "\n".join([f"fastapi=={fastapi}", "starlette", *extra]) + "\n"
    try:
        out = subprocess.run(cmd, input=wanted, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError(f"fastapi=={fastapi}: resolving its Starlette failed ({e})") from None
    if out.returncode != 0:
        raise HarnessError(f"fastapi=={fastapi}: {conflict_line(out.stderr)}")
    match = re.search(r"(?im)^starlette==(\S+)", out.stdout)
    if match is None:
        raise HarnessError(f"fastapi=={fastapi}: the resolution has no Starlette ({out.stdout.strip()[:200]})")
    try:
        return Version(match.group(1))
    except InvalidVersion:
        raise HarnessError(f"fastapi=={fastapi}: resolved to Starlette {match.group(1)!r}, not a version") from None


def conflict_line(stderr: str) -> str:
    """The sentence of uv's answer that names the requirements in conflict, on one line."""
    text = " ".join(stderr.split())
    because = re.search(r"Because .*?(?:unsatisfiable|incompatible|cannot be used)\.", text)
    if because:
        return because.group(0)
    for marker in ("No solution found", "not found in the package registry", "error:"):
        if marker in text:
            return text[text.index(marker) :][:400]
    return text[-400:] or "the resolver failed"


def fastapi_cells(
    config: MatrixConfig, releases: Sequence[index.Release], specs: Sequence[str], *, offline: bool = False
) -> list[Cell]:
    """One matrix cell per FastAPI release matching any of ``specs``: the Starlette it resolves
    to, with that Starlette's pins, and the FastAPI release beside it."""
    wanted = []
    for text in specs:
        try:
            wanted.append(SpecifierSet(text))
        except InvalidSpecifier:
            raise UsageError(f"--fastapi {text!r}: not a version specifier; write e.g. --fastapi '>=0.100'") from None
    chosen = [
        r.version for r in fastapi_releases(offline=offline)
        if not r.version.is_prerelease and any(r.version in w for w in wanted)
    ]  # fmt: skip
    if not chosen:
        raise UsageError(f"--fastapi {' '.join(specs)}: no FastAPI release matches; see pip index versions fastapi")
    python = make_cell(config, releases[-1], "pinned").python
    resolved = _resolved(chosen, python)
    by_version = {r.version: r for r in releases}
    cells = []
    for version in chosen:
        starlette = Version(resolved[str(version)])
        if starlette not in by_version:
            raise HarnessError(f"fastapi=={version} resolves to Starlette {starlette}, which the index does not list")
        cells.append(fastapi_cell(config, by_version[starlette], str(version), tags=("fastapi",)))
    return cells


def fastapi_cell(
    config: MatrixConfig,
    starlette: index.Release,
    fastapi: str,
    *,
    resolution: str = "pinned",
    tags: tuple[str, ...] = (),
) -> Cell:
    """The cell of one FastAPI release: its Starlette's pins with ``fastapi==`` beside them (the
    matrix and the gate's FastAPI sides build theirs here)."""
    cell = make_cell(config, starlette, "pinned")
    requirements = (f"fastapi=={fastapi}", *cell.requirements)
    return dataclasses.replace(
        cell, fastapi=fastapi, requirements=requirements, resolution=resolution, tags=tags or cell.tags
    )


def _resolved(versions: Sequence[Version], python: str) -> dict[str, str]:
    """``{fastapi version: starlette version}``, from the cache or resolved now, four at a time."""
    try:
        cache: dict[str, str] = json.loads(RESOLVED_CACHE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    missing = [v for v in versions if f"{v}|{python}" not in cache]
    uv_binary()  # found once, here: sysconfig's first use is not thread-safe
    with ThreadPoolExecutor(max_workers=4) as pool:
        for v, starlette in zip(missing, pool.map(lambda v: resolve_starlette(str(v), python), missing), strict=True):
            cache[f"{v}|{python}"] = str(starlette)
    if missing:
        write_atomic(RESOLVED_CACHE, [json.dumps(cache, sort_keys=True, indent=0)])
    return {str(v): cache[f"{v}|{python}"] for v in versions}
