"""The matrix as data: ``matrix.toml`` parsed, checked and expanded into cells.

A cell is one Starlette release in one environment (Python + pinned dependencies); it runs every
selected scenario, backend, profile and repeat in one process. Every mistake in the file is a
one-line ``ConfigError`` naming the file, the key and the fix; nothing here imports Starlette.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import ConfigError, HarnessError
from harness.matrix._releases import Release
from harness.run.backends import BACKENDS
from harness.scenario._profiles import PROFILES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RESOLUTIONS = ("pinned", "newest", "as-released")
#: Starlette moved to anyio in 0.15.0; before that there is nothing to pin and no trio support.
FIRST_ANYIO = Version("0.15.0")

_MATRIX_KEYS = {
    "starlette": "list of versions or PEP 440 specifiers",
    "backends": f"list from {list(BACKENDS)}",
    "profiles": f"list from {list(PROFILES)}",
    "scenarios": "list of scenario names or glob patterns",
    "repeats": "integer >= 1",
    "seed": "integer",
    "resolution": f"one of {list(RESOLUTIONS)}",
    "timeout": "number of virtual seconds > 0",
    "real_timeout": "number of seconds > 0",
    "cell_timeout": "number of seconds > 0",
    "jobs": "integer >= 0 (0: one per core)",
}
_PIN_KEYS = {
    "starlette": "PEP 440 specifier of the releases this table applies to",
    "python": "Python version such as '3.11'",
    "anyio": "PEP 440 specifier, or 'none'",
    "trio": "PEP 440 specifier, or 'none'",
    "extra": "list of extra requirements",
    "tag": "nox tag for these cells",
    "note": "why these pins",
}


@dataclass(frozen=True)
class PinRule:
    starlette: SpecifierSet
    values: dict[str, Any]
    index: int


@dataclass(frozen=True)
class MatrixConfig:
    file: str
    starlette: tuple[str, ...]
    backends: tuple[str, ...]
    profiles: tuple[str, ...]
    scenarios: tuple[str, ...]
    repeats: int
    seed: int
    resolution: str
    timeout: float
    real_timeout: float
    cell_timeout: float
    jobs: int
    pins: tuple[PinRule, ...]


@dataclass(frozen=True)
class Cell:
    """One release in one environment: what to install and how to run it."""

    starlette: str
    python: str
    resolution: str
    requirements: tuple[str, ...]
    exclude_newer: str | None = None
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        return self.starlette if self.resolution == "pinned" else f"{self.starlette}-{self.resolution}"

    @property
    def pins_hash(self) -> str:
        """Changes whenever what gets installed would change: a results file with another hash is stale."""
        blob = json.dumps([self.python, self.requirements, self.exclude_newer], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "starlette": self.starlette,
            "python": self.python,
            "resolution": self.resolution,
            "requirements": list(self.requirements),
            "exclude_newer": self.exclude_newer,
            "pins_hash": self.pins_hash,
            "tags": list(self.tags),
        }


def load(path: Path | str = "matrix.toml") -> MatrixConfig:
    path = Path(path)
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, "-", "file not found; run from the project root or pass --matrix FILE") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, "-", f"not valid TOML ({e}); fix the syntax") from None
    return parse(raw, file)


def parse(raw: dict[str, Any], file: str = "matrix.toml") -> MatrixConfig:
    unknown = set(raw) - {"matrix", "pins", "servers"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(file, key, "unknown table; the file has [matrix], [[pins]] and [servers]")
    m = raw.get("matrix")
    if not isinstance(m, dict):
        raise ConfigError(file, "matrix", "missing [matrix] table")
    for key in m:
        if key not in _MATRIX_KEYS:
            raise ConfigError(file, f"matrix.{key}", f"unknown key; known keys are {', '.join(_MATRIX_KEYS)}")

    def strings(
        key: str, default: Sequence[str] | None = None, allowed: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        value = m.get(key, default)
        if value is None:
            raise ConfigError(file, f"matrix.{key}", f"missing; expected {_MATRIX_KEYS[key]}")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(file, f"matrix.{key}", f"expected {_MATRIX_KEYS[key]}, got {value!r}")
        for v in value:
            if allowed is not None and v not in allowed:
                raise ConfigError(file, f"matrix.{key}", f"unknown {v!r}; choose from {', '.join(allowed)}")
        return tuple(value)

    def number(key: str, default: float, *, integer: bool = False, minimum: float = 0, strict: bool = True) -> Any:
        value = m.get(key, default)
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or value < minimum or (strict and value == minimum):
            raise ConfigError(file, f"matrix.{key}", f"expected {_MATRIX_KEYS[key]}, got {value!r}")
        return value

    starlette = strings("starlette")
    for entry in starlette:
        _version_or_specifier(entry, file, "matrix.starlette")
    resolution = m.get("resolution", "pinned")
    if resolution not in RESOLUTIONS:
        raise ConfigError(file, "matrix.resolution", f"unknown {resolution!r}; choose from {', '.join(RESOLUTIONS)}")
    return MatrixConfig(
        file=file,
        starlette=starlette,
        backends=strings("backends", ["asyncio", "trio"], list(BACKENDS)),
        profiles=strings("profiles", ["uvicorn", "hypercorn"], list(PROFILES)),
        scenarios=strings("scenarios", ["*"]),
        repeats=number("repeats", 5, integer=True, minimum=1, strict=False),
        seed=number("seed", 0, integer=True, minimum=-(2**63), strict=False),
        resolution=resolution,
        timeout=number("timeout", 60.0),
        real_timeout=number("real_timeout", 10.0),
        cell_timeout=number("cell_timeout", 900.0),
        jobs=number("jobs", 0, integer=True, minimum=0, strict=False),
        pins=_parse_pins(raw.get("pins", []), file),
    )


def _version_or_specifier(text: str, file: str, key: str) -> SpecifierSet | Version:
    try:
        return Version(text)
    except InvalidVersion:
        pass
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(file, key, f"{text!r} is neither a version nor a PEP 440 specifier (try '>=0.13')") from None


def _parse_pins(tables: Any, file: str) -> tuple[PinRule, ...]:
    if not isinstance(tables, list):
        raise ConfigError(file, "pins", "expected [[pins]] tables")
    rules = []
    for i, table in enumerate(tables):
        where = f"pins[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(file, where, "expected a table")
        for key in table:
            if key not in _PIN_KEYS:
                raise ConfigError(file, f"{where}.{key}", f"unknown key; known keys are {', '.join(_PIN_KEYS)}")
        spec = table.get("starlette")
        if not isinstance(spec, str):
            raise ConfigError(file, f"{where}.starlette", "missing; say which releases this table pins (e.g. '>=0.31')")
        try:
            specifier = SpecifierSet(spec)
        except InvalidSpecifier:
            raise ConfigError(file, f"{where}.starlette", f"{spec!r} is not a PEP 440 specifier") from None
        for key in ("anyio", "trio"):
            value = table.get(key)
            if value is None or value == "none":
                continue
            if not isinstance(value, str):
                raise ConfigError(file, f"{where}.{key}", f"expected {_PIN_KEYS[key]}")
            try:
                SpecifierSet(value)
            except InvalidSpecifier:
                raise ConfigError(file, f"{where}.{key}", f"{value!r} is not a specifier (try '==4.11.0')") from None
        python = table.get("python")
        if python is not None:
            try:
                Version(python)
            except (InvalidVersion, TypeError):
                raise ConfigError(file, f"{where}.python", f"{python!r} is not a Python version (try '3.11')") from None
        extra = table.get("extra", [])
        if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
            raise ConfigError(file, f"{where}.extra", "expected a list of requirement strings")
        rules.append(PinRule(specifier, dict(table), i))
    return tuple(rules)


def resolve_versions(config: MatrixConfig, releases: Sequence[Release], only: Sequence[str] = ()) -> list[Release]:
    """The releases the matrix covers, oldest first; ``only`` narrows them (versions or specifiers)."""
    by_version = {r.version: r for r in releases}
    chosen: dict[Version, Release] = {}
    for entry in config.starlette:
        parsed = _version_or_specifier(entry, config.file, "matrix.starlette")
        if isinstance(parsed, Version):
            if parsed not in by_version:
                raise ConfigError(
                    config.file, "matrix.starlette", f"Starlette {entry} is not on the index; check the version"
                )
            chosen[parsed] = by_version[parsed]
        else:
            for r in releases:
                if r.version in parsed and not r.version.is_prerelease:
                    chosen[r.version] = r
    result = [chosen[v] for v in sorted(chosen)]
    if only:
        keep = []
        for r in result:
            for entry in only:
                parsed = _version_or_specifier(entry, "--versions", "--versions")
                if (isinstance(parsed, Version) and r.version == parsed) or (
                    isinstance(parsed, SpecifierSet) and r.version in parsed
                ):
                    keep.append(r)
                    break
        if not keep:
            raise HarnessError(f"--versions {' '.join(only)} selects no release of the matrix; see nox -l")
        result = keep
    return result


def _applicable(config: MatrixConfig, version: Version) -> dict[str, Any]:
    merged: dict[str, Any] = {"extra": [], "tag": [], "note": [], "_sources": []}
    for rule in config.pins:
        if version in rule.starlette:
            for key, value in rule.values.items():
                if key in ("extra", "tag", "note"):
                    merged[key] = merged[key] + (value if isinstance(value, list) else [value])
                elif key != "starlette":
                    merged[key] = value
                    merged["_sources"].append((key, rule.index))
    return merged


def make_cell(config: MatrixConfig, release: Release, resolution: str | None = None) -> Cell:
    """The environment for one release under ``resolution`` (default: the file's)."""
    resolution = resolution or config.resolution
    version = release.version
    pins = _applicable(config, version)
    python = pins.get("python")
    if python is None:
        raise ConfigError(config.file, "pins", f"no [[pins]] table gives a python for Starlette {version}")
    if release.requires_python and Version(python) not in SpecifierSet(release.requires_python):
        source = next((i for k, i in reversed(pins["_sources"]) if k == "python"), None)
        raise ConfigError(
            config.file,
            f"pins[{source}].python",
            f"Python {python} cannot run Starlette {version} (Requires-Python {release.requires_python}); "
            "narrow that table's starlette specifier",
        )
    requirements = [f"starlette=={version}"]
    uses_anyio = version >= FIRST_ANYIO
    if resolution == "pinned":
        for package in ("anyio", "trio"):
            spec = pins.get(package)
            if uses_anyio and spec and spec != "none":
                requirements.append(f"{package}{spec}")
    elif uses_anyio:
        # Whatever Starlette's and anyio's own metadata allow: anyio's trio extra carries its bound.
        requirements.append("anyio[trio]")
    requirements.extend(pins["extra"])
    requirements.extend(HARNESS_REQUIREMENTS)
    exclude_newer = _day_after(release.uploaded) if resolution == "as-released" else None
    return Cell(
        starlette=str(version),
        python=python,
        resolution=resolution,
        requirements=tuple(requirements),
        exclude_newer=exclude_newer,
        tags=tuple(dict.fromkeys(pins["tag"])),
        notes=tuple(pins["note"]),
    )


def _day_after(uploaded: str) -> str:
    """What a user could install on the release day: everything uploaded up to a day later (the
    release's own files included; ``--exclude-newer`` at the upload instant would exclude them)."""
    moment = datetime.fromisoformat(uploaded.replace("Z", "+00:00")) + timedelta(days=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dev_cell(config: MatrixConfig, releases: Sequence[Release], target: str) -> Cell:
    """A cell for a development Starlette: a checkout, a wheel or a ``git+`` URL, installed with
    the pins of the newest release (and reinstalled every time, since its source may change)."""
    newest = make_cell(config, releases[-1], "pinned")
    if target.startswith(("git+", "http://", "https://")):
        requirement, label = target, target.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    else:
        path = Path(target).expanduser().resolve()
        if not path.exists():
            raise HarnessError(f"--starlette {target}: no such checkout or wheel")
        requirement, label = str(path), path.name.split("-py")[0] if path.suffix == ".whl" else path.name
    rest = tuple(r for r in newest.requirements if not r.startswith("starlette=="))
    return Cell(
        starlette=label, python=newest.python, resolution="dev", requirements=(requirement, *rest), tags=("dev",)
    )


def is_dev_target(text: str) -> bool:
    """A checkout directory, a wheel or a URL rather than a release number."""
    return (
        text.startswith(("git+", "http://", "https://", "/", ".", "~")) or text.endswith(".whl") or Path(text).exists()
    )


#: What the harness itself needs inside a cell (it runs from the source tree, not installed).
HARNESS_REQUIREMENTS = ("packaging", "rich", "tomli; python_version < '3.11'")
