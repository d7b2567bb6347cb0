"""FastAPI as a side: a FastAPI release decides which Starlette a team can have.

FastAPI pins a Starlette range in every release (``fastapi 0.108.0`` wants ``>=0.29.0,<0.33.0``), so
"does upgrading FastAPI lose our responses?" is a question about the Starlette that release
resolves to. uv resolves it, as it would for the team (the newest Starlette the release allows, or
with ``--resolution lowest`` the oldest); the side is then that Starlette's cell (its pins of
Python, anyio and trio) with the FastAPI release added, and every label names both.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.errors import HarnessError
from harness.matrix import _releases as index
from harness.matrix._cellrun import uv_binary

FASTAPI_CACHE = Path(".cache") / "fastapi-index.json"


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
