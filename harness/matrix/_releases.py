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

from packaging.version import InvalidVersion, Version

from harness import defaults
from harness.errors import IndexUnavailable
from harness.results import write_atomic

#: The JSON API of the index (PyPI's shape: ``{releases: {version: [{upload_time_iso_8601, yanked}]}}``).
INDEX_URL = os.environ.get("HARNESS_INDEX_URL", "https://pypi.org/pypi")
DEFAULT_CACHE = defaults.CACHE_DIR / "starlette-index.json"


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
    url = f"{INDEX_URL.rstrip('/')}/{package}/json"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: dict[str, object] = json.load(response)
            return data
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise IndexUnavailable(f"cannot read {url} ({e}); pass --offline to use the cached list") from None


def _compact(data: dict[str, object]) -> dict[str, _Entry]:
    """Keep what the matrix needs of each release: upload time, yanked, Requires-Python."""
    out: dict[str, _Entry] = {}
    releases = data.get("releases", {})
    assert isinstance(releases, dict)
    for text, files in releases.items():
        if not files:
            continue
        out[text] = {
            "uploaded": min(f["upload_time_iso_8601"] for f in files),
            "yanked": all(f.get("yanked", False) for f in files),
            "requires_python": next((f["requires_python"] for f in files if f.get("requires_python")), None),
        }
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
