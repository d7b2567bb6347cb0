"""Cells: one Starlette release in one environment, built from the matrix's pins.

A cell says what to install (Starlette, the pinned anyio and trio, the harness's own needs) on
which Python, and under which resolution; ``pins_hash`` changes whenever that would change, so
stored results of another environment are never taken for current ones. Nothing here installs or
imports Starlette.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import ConfigError, HarnessError
from harness.matrix._config import MatrixConfig, version_or_specifier
from harness.matrix._releases import Release

#: Starlette moved to anyio in 0.15.0; before that there is nothing to pin and no trio support.
FIRST_ANYIO = Version("0.15.0")
#: The trio each anyio release declares for its ``trio`` extra (its own Requires-Dist: 3.7.1, 4.0.0,
#: 4.4.0, 4.6.0, 4.11.0), newest bound first. Outside it trio runs fail on the environment, not on
#: Starlette (anyio 4 on trio 0.21: ``open_nursery() got an unexpected keyword argument``).
ANYIO_NEEDS_TRIO: tuple[tuple[SpecifierSet, SpecifierSet], ...] = (
    (SpecifierSet(">=4.11"), SpecifierSet(">=0.31.0")),
    (SpecifierSet(">=4.6"), SpecifierSet(">=0.26.1")),
    (SpecifierSet(">=4.4"), SpecifierSet(">=0.23")),
    (SpecifierSet(">=4.0"), SpecifierSet(">=0.22")),
    (SpecifierSet("<4"), SpecifierSet("<0.22")),
)
#: What the harness itself needs inside a cell (it runs from the source tree, not installed).
HARNESS_REQUIREMENTS = ("packaging", "rich", "tomli; python_version < '3.11'")


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
    #: The FastAPI release of a FastAPI side (its Starlette is ``starlette``), or None.
    fastapi: str | None = None
    #: A digest of the files the requirements name (``-r FILE``), so editing one is a new environment.
    inputs_hash: str = ""
    #: Why this cell cannot run with the matrix's pins (a new release the pins do not cover), with
    #: the ``[[pins]]`` table to add: the cell is recorded as skipped and the matrix goes on.
    skip_reason: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        base = f"fastapi-{self.fastapi}" if self.fastapi else self.starlette
        if self.inputs_hash:  # the app's own requirements: a cell (and environment) of its own
            base += f"-app-{self.inputs_hash[:6]}"
        return base if self.resolution == "pinned" else f"{base}-{self.resolution}"

    @property
    def label(self) -> str:
        """How tables and repro lines name the side: ``fastapi 0.108.0 (starlette 0.32.0.post1)``."""
        return f"fastapi {self.fastapi} (starlette {self.starlette})" if self.fastapi else self.starlette

    @property
    def pins_hash(self) -> str:
        """Changes whenever what gets installed would change: a results file with another hash is stale."""
        what = [self.python, self.requirements, self.exclude_newer]
        if self.fastapi or self.inputs_hash:
            what += [self.fastapi, self.inputs_hash]
        blob = json.dumps(what, sort_keys=True)
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
            "fastapi": self.fastapi,
        }


def resolve_versions(config: MatrixConfig, releases: Sequence[Release], only: Sequence[str] = ()) -> list[Release]:
    """The releases the matrix covers, oldest first; ``only`` narrows them (versions or specifiers)."""
    by_version = {r.version: r for r in releases}
    chosen: dict[Version, Release] = {}
    for entry in config.starlette:
        parsed = version_or_specifier(entry, config.file, "matrix.starlette")
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
    if not only:
        return result
    wanted = [version_or_specifier(entry, "--versions", "--versions") for entry in only]
    keep = [r for r in result if any(_matches(r.version, w) for w in wanted)]
    if not keep:
        raise HarnessError(f"--versions {' '.join(only)} selects no release of the matrix; see nox -l")
    return keep


def _matches(version: Version, wanted: Version | SpecifierSet) -> bool:
    return version == wanted if isinstance(wanted, Version) else version in wanted


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


def _check_pair(config: MatrixConfig, version: Version, pins: dict[str, Any]) -> None:
    """Refuse an exact anyio and trio pair that anyio itself rules out, naming the tables that gave
    each: overlapping ``[[pins]]`` merge key by key, so two tables that are each right can together
    pin a pair that fails every trio run."""
    anyio, trio = pins.get("anyio"), pins.get("trio")
    if not (isinstance(anyio, str) and isinstance(trio, str) and anyio.startswith("==") and trio.startswith("==")):
        return
    try:
        anyio_v, trio_v = Version(anyio[2:]), Version(trio[2:])
    except InvalidVersion:
        return  # a wildcard (==4.*) or an arbitrary-equality pin: the installer decides

    needs = next((t for a, t in ANYIO_NEEDS_TRIO if anyio_v in a), None)
    if needs is None or trio_v in needs:
        return
    source = dict(pins["_sources"])
    raise ConfigError(
        config.file,
        f"pins[{source.get('anyio')}].anyio and pins[{source.get('trio')}].trio",
        f"Starlette {version} gets anyio{anyio} with trio{trio}, but anyio {anyio_v} needs trio{needs}; "
        "make the tables not overlap, or pin a matching pair",
    )


def make_cell(config: MatrixConfig, release: Release, resolution: str | None = None) -> Cell:
    """The environment for one release under ``resolution`` (default: the file's)."""
    resolution = resolution or config.resolution
    version = release.version
    pins = _applicable(config, version)
    python = pins.get("python")
    if python is None:
        raise ConfigError(config.file, "pins", f"no [[pins]] table gives a python for Starlette {version}")
    skip = ""
    if release.requires_python and Version(python) not in SpecifierSet(release.requires_python):
        source = next((i for k, i in reversed(pins["_sources"]) if k == "python"), None)
        wanted = _python_for(release.requires_python)
        skip = (
            f"pins[{source}].python: Python {python} cannot run Starlette {version} (Requires-Python "
            f'{release.requires_python}); add to {config.file}: [[pins]] starlette = ">={version}" '
            f'python = "{wanted}"'
        )
    requirements = [f"starlette=={version}"]
    uses_anyio = version >= FIRST_ANYIO
    if resolution == "pinned":
        if uses_anyio:
            _check_pair(config, version, pins)
        for package in ("anyio", "trio"):
            spec = pins.get(package)
            if uses_anyio and spec and spec != "none":
                requirements.append(f"{package}{spec}")
    elif uses_anyio:
        # Whatever Starlette's and anyio's own metadata allow: anyio's trio extra carries its bound.
        requirements.append("anyio[trio]")
    requirements.extend(pins["extra"])
    requirements.extend(HARNESS_REQUIREMENTS)
    exclude_newer = None
    if resolution == "as-released":
        if release.uploaded:
            exclude_newer = _day_after(release.uploaded)
        else:  # a mirror without PEP 700's upload-time: "as released" has no date to go by
            skip = skip or (
                f"resolution as-released: the index gives no upload time for Starlette {version} (PEP 700); "
                "use an index that lists upload-time, or --resolution pinned"
            )
    return Cell(
        starlette=str(version),
        python=python,
        resolution=resolution,
        requirements=tuple(requirements),
        exclude_newer=exclude_newer,
        tags=tuple(dict.fromkeys(pins["tag"])),
        notes=tuple(pins["note"]),
        skip_reason=skip,
    )


def _python_for(requires_python: str) -> str:
    """The oldest CPython 3 minor that ``requires_python`` admits (what a new pin should say)."""
    spec = SpecifierSet(requires_python)
    return next((f"3.{m}" for m in range(8, 30) if Version(f"3.{m}") in spec), "3")


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
