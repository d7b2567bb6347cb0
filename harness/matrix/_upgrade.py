"""Upgrade questions: ``nox -s gate`` (is B worse than A?) and ``nox -s bisect`` (where did it change?).

Either side can be a release (installed with the matrix's pins for it) or a development version: a
checkout directory, a wheel, or a ``git+`` URL, installed with the pins of the newest release.
Every probe is a cell like the matrix's: one environment, one harness process, results on disk.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from harness import options
from harness.errors import HarnessError
from harness.matrix import _cellrun as cellrun
from harness.matrix import _releases as index
from harness.matrix._cells import Cell, dev_cell, is_dev_target, make_cell
from harness.matrix._config import MatrixConfig, load
from harness.matrix._envs import ensure_env
from harness.matrix._fastapi import fastapi_releases, resolve_starlette
from harness.results import DONE, Store, format_counts, nox_command, outcome_set
from harness.scenario import load_catalogue, select

if TYPE_CHECKING:
    import nox


def gate_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s gate --", options.GATE, help=False)


def bisect_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s bisect --", options.BISECT, help=False)


@dataclass
class UpgradeRunner:
    """Builds and runs cells for the gate and bisect, counting environments and time."""

    options: argparse.Namespace
    config: MatrixConfig = field(init=False)
    releases: list[index.Release] = field(init=False)
    store: Store = field(init=False)
    selection: cellrun.Selection = field(init=False)
    envs_built: int = 0
    started: float = field(default_factory=time.perf_counter)
    _fastapi: list[index.Release] | None = None

    def __post_init__(self) -> None:
        o = self.options
        self.config = load(o.matrix)
        self.releases = index.releases(offline=o.offline)
        self.store = Store(Path(o.results))
        extra: list[str] = []
        scenarios = list(o.scenario)
        if o.app:
            extra = [
                "--app",
                o.app,
                "--app-dir",
                str(Path(o.app_dir).resolve()),
                "--path",
                o.path,
                "--method",
                o.method,
            ]
            if o.body:
                extra += ["--body", o.body if not o.body.startswith("@") else "@" + str(Path(o.body[1:]).resolve())]
            if o.real_time:
                extra += ["--real-clock"]
        else:
            select(load_catalogue(), scenarios or list(self.config.scenarios))  # one line for a bad pattern
        if o.repeat < 1:
            raise HarnessError(f"--repeat {o.repeat}: must be at least 1")
        self.selection = cellrun.Selection.build(
            self.config,
            scenarios=scenarios or (["app*"] if o.app else []),
            backends=options.csv_values(o.backend),
            profiles=options.csv_values(o.profile),
            repeats=o.repeat,
            extra=extra,
        )

    def release(self, text: str, option: str) -> index.Release:
        try:
            version = Version(text)
        except InvalidVersion:
            raise HarnessError(
                f"{option} {text}: not a version, starlette==X, fastapi==X, a checkout, a wheel or a git+ URL"
            ) from None
        for r in self.releases:
            if r.version == version:
                return r
        raise HarnessError(
            f"{option} {text}: Starlette {text} is not on the package index; see pip index versions starlette"
        )

    def cell(self, text: str, option: str) -> Cell:
        """A side: a Starlette release (``0.37.2``, ``starlette==0.37.2``), a FastAPI release
        (``fastapi==0.108.0``) or a development Starlette, with the app's own requirements."""
        if is_dev_target(text):
            return self.with_app(self.dev_cell(text))
        package, version = parse_side(text, option)
        if package == "fastapi":
            return self.fastapi_cell(version, option)
        return self.with_app(make_cell(self.config, self.release(str(version), option), "pinned"))

    def fastapi_cell(self, version: Version, option: str) -> Cell:
        if not any(r.version == version for r in self.fastapi_releases()):
            raise HarnessError(f"{option} fastapi=={version}: FastAPI {version} is not on the package index")
        python = make_cell(self.config, self.releases[-1], "pinned").python
        lowest = self.options.resolution == "lowest"
        starlette = resolve_starlette(str(version), python, lowest=lowest, extra=self.app_requirements())
        cell = make_cell(self.config, self.release(str(starlette), option), "pinned")
        return self.with_app(
            dataclasses.replace(
                cell,
                fastapi=str(version),
                requirements=(f"fastapi=={version}", *cell.requirements),
                resolution="pinned" if not lowest else "lowest",
            )
        )

    def fastapi_releases(self) -> list[index.Release]:
        if self._fastapi is None:
            self._fastapi = fastapi_releases(offline=self.options.offline)
        return self._fastapi

    def app_requirements(self) -> tuple[str, ...]:
        """What the app needs besides the side, as installer arguments (files and the project made
        absolute, since the installer runs elsewhere)."""
        o = self.options
        out: list[str] = []
        for f in o.requirements or ():
            if not Path(f).is_file():
                raise HarnessError(f"--requirements {f}: no such file; give the path of a pip requirements file")
            out += ["-r", str(Path(f).resolve())]
        out += list(o.with_ or ())
        if o.project is not None:
            if not (Path(o.project) / "pyproject.toml").is_file() and not (Path(o.project) / "setup.py").is_file():
                raise HarnessError(f"--project {o.project}: no pyproject.toml or setup.py; give the project's root")
            out += ["-e", str(Path(o.project).resolve())]
        for req in o.with_ or ():
            try:
                Requirement(req)
            except InvalidRequirement as e:
                raise HarnessError(f"--with {req!r}: not a requirement ({e}); write e.g. --with 'pyyaml>=6'") from None
        return tuple(out)

    def app_args(self) -> list[str]:
        """The options that rebuild the app's environment, for a repro line."""
        o = self.options
        args = [a for f in o.requirements or () for a in ("--requirements", str(Path(f).resolve()))]
        args += [a for req in o.with_ or () for a in ("--with", req)]
        return args + (["--project", str(Path(o.project).resolve())] if o.project is not None else [])

    def with_app(self, cell: Cell) -> Cell:
        """The side with the app's requirements resolved together with its pins, in one install, so
        the side's Starlette, anyio and trio stay what it asks for (or the install names the conflict)."""
        extra = self.app_requirements()
        if not extra:
            return cell
        digest = hashlib.sha256()
        for f in self.options.requirements or ():
            digest.update(Path(f).read_bytes())
        return dataclasses.replace(cell, requirements=(*cell.requirements, *extra), inputs_hash=digest.hexdigest()[:12])

    def dev_cell(self, target: str) -> Cell:
        return dev_cell(self.config, self.releases, target)

    def run(self, cell: Cell) -> list[dict[str, Any]]:
        """Run the selection on ``cell`` (reusing fresh results) and return its records."""
        if cell.resolution == "dev" or self.options.fresh or not self.store.is_fresh(cell, self.selection.hash):
            python = ensure_env(cell, name=f"{cell.id}-{cell.pins_hash}" if cell.inputs_hash else None)
            self.envs_built += 1
            ok, reason = cellrun.install(cell, python)
            if not ok:
                cellrun.record_install_failure(cell, self.selection, self.store, reason)
                raise HarnessError(f"{cell.label} did not install: {reason}")
            status = cellrun.run(cell, python, self.selection, self.store, self.config.cell_timeout)
            if status != DONE:
                st = self.store.status(cell.id)
                raise HarnessError(f"{cell.label}: the harness run failed: {st.reason if st else status}")
        return list(self.store.records(cell.id))


def parse_side(text: str, option: str) -> tuple[str, Version]:
    """``0.37.2`` / ``starlette==0.37.2`` -> starlette; ``fastapi==0.108.0`` -> fastapi."""
    try:
        return "starlette", Version(text)
    except InvalidVersion:
        pass
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise HarnessError(
            f"{option} {text}: not a version, starlette==X, fastapi==X, a checkout, a wheel or a git+ URL"
        ) from None
    pinned = [s for s in req.specifier if s.operator == "=="]
    if req.name.lower() not in ("starlette", "fastapi") or len(pinned) != 1 or len(req.specifier) != 1:
        raise HarnessError(f"{option} {text}: a side is one release: write starlette==X or fastapi==X")
    try:
        return req.name.lower(), Version(pinned[0].version)
    except InvalidVersion:
        raise HarnessError(f"{option} {text}: {pinned[0].version!r} is not a version") from None


def gate_session(session: nox.Session) -> None:
    from harness.results import compare, publish

    try:
        o = gate_parser().parse_args(session.posargs)
        probe = UpgradeRunner(o)
        old, new = probe.cell(o.old, "--from"), probe.cell(o.new, "--to")
        _check_order(old, new, f"--from {o.old}", f"--to {o.new}")
        before = probe.run(old)
        after = probe.run(new)
        diffs, b, a = compare(before, after)
    except HarnessError as e:
        session.error(str(e))
    code = publish(diffs, o.strict, b, a, o.junit)
    session.log(f"{probe.envs_built} environments used, {time.perf_counter() - probe.started:.1f} s")
    if code:
        session.error(f"the gate fails: cells got worse from {old.label} to {new.label} (see the table above)")


def _check_order(old: Cell, new: Cell, old_text: str, new_text: str) -> None:
    """Both sides the same kind (two FastAPI or two Starlette releases), the older one first."""
    if "dev" in (old.resolution, new.resolution):
        return
    if bool(old.fastapi) != bool(new.fastapi):
        raise HarnessError(
            f"{old_text} and {new_text}: one is a FastAPI release, the other a Starlette one; "
            "give two of one kind (fastapi==X for both to ask about a FastAPI upgrade)"
        )
    if Version(old.fastapi or old.starlette) > Version(new.fastapi or new.starlette):
        raise HarnessError(f"{old_text} is newer than {new_text}; swap them to ask about an upgrade")


def _bisect_range(probe: UpgradeRunner, good_text: str, bad_text: str) -> tuple[str, list[Version]]:
    """The kind of the bounds (starlette or fastapi) and every release from one to the other."""
    (kind, good), (bad_kind, bad) = parse_side(good_text, "--good"), parse_side(bad_text, "--bad")
    if kind != bad_kind:
        raise HarnessError(
            f"--good {good_text} and --bad {bad_text}: one is a FastAPI release, the other a Starlette one; "
            "bisect between two of one kind"
        )
    if good >= bad:
        raise HarnessError(f"--good {good_text} must be older than --bad {bad_text}")
    pool = probe.fastapi_releases() if kind == "fastapi" else probe.releases
    between = [r.version for r in pool if good <= r.version <= bad and not r.version.is_prerelease]
    if not between or between[0] != good or between[-1] != bad:
        raise HarnessError(f"--good {good_text} / --bad {bad_text}: both must be {kind} releases on the package index")
    return kind, between


def bisect_session(session: nox.Session) -> None:
    try:
        o = bisect_parser().parse_args(session.posargs)
        if not o.scenario and not o.app:
            raise HarnessError("nox -s bisect --: give --scenario NAME (or --app) to bisect on")
        probe = UpgradeRunner(o)
        kind, between = _bisect_range(probe, o.good, o.bad)
        seen: dict[int, tuple[Cell, Counter[str]]] = {}

        def outcomes(i: int) -> tuple[str, ...]:
            cell = probe.cell(f"{kind}=={between[i]}", "--good" if i == 0 else "--bad")
            counts = Counter(r["outcome"] for r in probe.run(cell))
            seen[i] = (cell, counts)
            session.log(f"probe {cell.label}: {format_counts(counts, fractions=False)}")
            return outcome_set(counts)

        lo, hi = 0, len(between) - 1
        good_set, bad_set = outcomes(lo), outcomes(hi)
        if good_set == bad_set:
            raise HarnessError(
                f"{o.good} and {o.bad} give the same outcomes ({', '.join(good_set)}) for this "
                "selection; nothing to bisect"
            )
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if outcomes(mid) == good_set:
                lo = mid
            else:
                hi = mid
    except HarnessError as e:
        session.error(str(e))
    (last_good, _), (first_bad, bad_counts) = seen[lo], seen[hi]
    session.log(
        f"first change: {last_good.label} -> {first_bad.label} "
        f"({'/'.join(good_set)} -> {'/'.join(outcome_set(bad_counts))}); "
        f"{probe.envs_built} environments, {len(seen)} probes of {o.repeat} repeats, "
        f"{time.perf_counter() - probe.started:.1f} s"
    )
    args = [arg for s in probe.selection.scenarios for arg in ("--scenario", s)]
    args += ["--backend", ",".join(probe.selection.backends), "--repeat", str(o.repeat)]
    if kind == "fastapi":
        gate = f"nox -s gate -- --from fastapi=={between[lo]} --to fastapi=={between[hi]} "
        extra = [*args, *probe.selection.extra, *probe.app_args()]
        session.log("reproduce: " + gate + " ".join(shlex.quote(a) for a in extra))
        return
    for cell in (last_good, first_bad):
        session.log(f"reproduce {cell.label}: {nox_command(cell.starlette, args)}")
