"""Which Starlette releases exist, and when each was uploaded: the package index, cached.

A matrix written as a specifier (``>=0.13``) is resolved here when the matrix runs, so a new
release joins without an edit. The answer is cached on disk; ``--offline`` reads only the cache.
Upload dates feed the ``as-released`` resolution (uv's ``--exclude-newer``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from harness import defaults
from harness.errors import IndexUnavailable
from harness.results import write_atomic


#: The PEP 691 JSON simple API of the index: this project's variable, else the installers' own
#: (uv's, pip's), so a company mirror is honoured; PyPI otherwise.
def index_url() -> str:
    for var in ("HARNESS_INDEX_URL", "UV_INDEX_URL", "PIP_INDEX_URL"):
        value = os.environ.get(var)
        if value:
            return value.rstrip("/")
    return "https://pypi.org/simple"


DEFAULT_CACHE = defaults.CACHE_DIR / "starlette-index.json"
_ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Release:
    version: Version
    uploaded: str  # ISO 8601, UTC
    yanked: bool = False
    requires_python: str | None = None


class _Entry(TypedDict):
    """One release in the cache file: what ``_compact`` keeps of the index's answer."""

    uploaded: str
    yanked: bool
    requires_python: str | None


def _fetch(package: str, timeout: float) -> dict[str, object]:
    url = f"{index_url()}/{package}/"
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get("Content-Type", "")
            if _ACCEPT not in kind:
                raise IndexUnavailable(
                    f"{url} answered {kind or 'no content type'}, not the JSON simple API (PEP 691); "
                    "point HARNESS_INDEX_URL at an index that speaks it"
                )
            data: dict[str, object] = json.load(response)
            return data
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise IndexUnavailable(
            f"cannot read {url} ({e}); pass -- --offline to nox (--offline to python -m harness) to use the cached list"
        ) from None


def _version_of(filename: str) -> str | None:
    """The release a distribution file belongs to, from its name (wheel or sdist)."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _compact(data: dict[str, object]) -> dict[str, _Entry]:
    """Keep what the matrix needs of each release: first upload, yanked (every file yanked), and
    Requires-Python, from the files the index lists (PEP 691, with PEP 700's upload-time)."""
    out: dict[str, _Entry] = {}
    files = data.get("files", [])
    assert isinstance(files, list)
    for f in files:
        version = _version_of(str(f.get("filename", "")))
        if version is None:
            continue
        uploaded = str(f.get("upload-time") or "")
        yanked = bool(f.get("yanked", False))
        entry = out.get(version)
        if entry is None:
            out[version] = {"uploaded": uploaded, "yanked": yanked, "requires_python": f.get("requires-python")}
            continue
        entry["uploaded"] = (
            min(entry["uploaded"], uploaded) if entry["uploaded"] and uploaded else entry["uploaded"] or uploaded
        )
        entry["yanked"] = entry["yanked"] and yanked
        entry["requires_python"] = entry["requires_python"] or f.get("requires-python")
    return out


def _parse(compact: dict[str, _Entry]) -> list[Release]:
    out = []
    for text, info in compact.items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        out.append(Release(version, str(info["uploaded"]), bool(info["yanked"]), info.get("requires_python")))
    return sorted(out, key=lambda r: r.version)


def releases(
    package: str = "starlette", *, offline: bool = False, cache: Path = DEFAULT_CACHE, timeout: float = 15.0
) -> list[Release]:
    """All non-yanked releases, oldest first; online unless ``offline``, refreshing the cache."""
    if offline:
        if not cache.exists():
            raise IndexUnavailable(f"{cache}: no cached release list; run once without --offline")
        compact = json.loads(cache.read_text(encoding="utf-8"))
    else:
        compact = _compact(_fetch(package, timeout))
        write_atomic(cache, [json.dumps(compact, sort_keys=True, indent=0)])
    return [r for r in _parse(compact) if not r.yanked]
