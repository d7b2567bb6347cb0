"""Upgrade questions: ``nox -s gate`` (is B worse than A?) and ``nox -s bisect`` (where did it change?).

Either side can be a release (installed with the matrix's pins for it) or a development version: a
checkout directory, a wheel, or a ``git+`` URL, installed with the pins of the newest release.
Every probe is a cell like the matrix's: one environment, one harness process, results on disk.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from harness import options
from harness.errors import HarnessError
from harness.matrix import _appenv as appenv
from harness.matrix import _cellrun as cellrun
from harness.matrix import _releases as index
from harness.matrix._cells import Cell, dev_cell, is_dev_target, make_cell
from harness.matrix._config import MatrixConfig, load
from harness.matrix._envs import ensure_env
from harness.matrix._fastapi import fastapi_cell, fastapi_releases, resolve_starlette
from harness.results import DONE, CellDiff, Store, check_output, compare, format_counts, nox_command, outcome_set
from harness.scenario import load_catalogue, select

if TYPE_CHECKING:
    import nox


#: Bisect's probes run a cell that draws nothing from its seed twice; more only if the two disagree.
BISECT_SETTLE = 2


def gate_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s gate --", options.GATE, help=False)


def bisect_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s bisect --", options.BISECT, help=False)


@dataclass
class UpgradeRunner:
    """Builds and runs cells for the gate and bisect, counting environments and time."""

    options: argparse.Namespace
    #: ``harness run --settle``: deterministic cells stop after this many agreeing runs (0: never).
    settle: int = 0
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
        extra = appenv.run_args(o)
        scenarios = list(o.scenario)
        if not o.app:
            select(load_catalogue(), scenarios or list(self.config.scenarios))  # one line for a bad pattern
        if o.repeat < 1:
            raise HarnessError(f"--repeat {o.repeat}: must be at least 1")
        self.selection = cellrun.Selection.build(
            self.config,
            scenarios=scenarios or (["app*"] if o.app else []),
            backends=options.csv_values(o.backend),
            profiles=options.csv_values(o.profile),
            repeats=o.repeat,
            extra=[*extra, *(["--settle", str(self.settle)] if self.settle else [])],
        ).validate()

    def narrow(self, cells: list[tuple[str, str, str]]) -> None:
        """Probe only these (scenario, backend, profile) cells from now on (bisect, after its bounds)."""
        self.selection = dataclasses.replace(
            self.selection,
            scenarios=tuple(sorted({c[0] for c in cells})),
            backends=tuple(sorted({c[1] for c in cells})),
            profiles=tuple(sorted({c[2] for c in cells})),
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
        release = self.release(str(starlette), option)
        cell = fastapi_cell(self.config, release, str(version), resolution="lowest" if lowest else "pinned")
        return self.with_app(cell)

    def fastapi_releases(self) -> list[index.Release]:
        if self._fastapi is None:
            self._fastapi = fastapi_releases(offline=self.options.offline)
        return self._fastapi

    def app_requirements(self) -> tuple[str, ...]:
        return appenv.requirements(self.options)

    def app_args(self) -> list[str]:
        return appenv.options_args(self.options)

    def with_app(self, cell: Cell) -> Cell:
        return appenv.with_app(cell, self.options)

    def is_current(self, cell: Cell) -> bool:
        """Stored results still stand: same pins and selection, the same imported sources, and the
        same resolution of the requirements on the index today (an app requirement such as
        ``pyyaml>=6`` may resolve to a newer release than the stored run had)."""
        if not self.store.is_fresh(cell, self.selection.hash):
            return False
        st = self.store.status(cell.id)
        return st is not None and bool(st.resolved) and cellrun.resolution(cell) == st.resolved

    def python_of(self, cell: Cell) -> str:
        return ensure_env(cell, name=f"{cell.id}-{cell.pins_hash}" if cell.inputs_hash else None)

    def shrink_on(self, cell: Cell) -> None:
        """``python -m harness shrink`` for the app in ``cell``'s environment, its answer printed."""
        o = self.options
        args = [a for a in self.selection.extra if a != "--real-clock"]
        cmd = [self.python_of(cell), "-m", "harness", "shrink", *args, *(["--real-clock"] if o.real_time else [])]
        cmd += ["--backend", ",".join(self.selection.backends), "--profile", ",".join(self.selection.profiles)]
        cmd += [a for s in self.selection.scenarios for a in ("--scenario", s)]
        cmd += ["--repeat", str(self.selection.repeats)]
        print(f"shrinking the app's middleware on {cell.label}:", flush=True)
        try:
            subprocess.run(cmd, cwd=cellrun.ROOT, check=False, timeout=self.config.cell_timeout)
        except subprocess.TimeoutExpired:
            print(
                f"shrinking did not finish within the cell timeout ({self.config.cell_timeout:g} s); "
                "run python -m harness shrink yourself with fewer --scenario",
                flush=True,
            )

    def dev_cell(self, target: str) -> Cell:
        return dev_cell(self.config, self.releases, target)

    def run(self, cell: Cell) -> list[dict[str, Any]]:
        """Run the selection on ``cell`` (reusing fresh results) and return its records."""
        if cell.resolution == "dev" or self.options.fresh or not self.is_current(cell):
            python = self.python_of(cell)
            self.envs_built += 1
            ok, reason = cellrun.install(cell, python)
            if not ok:
                cellrun.record_install_failure(cell, self.selection, self.store, reason)
                raise HarnessError(f"{cell.label} did not install: {reason}")
            resolved = cellrun.resolution(cell)
            status = cellrun.run(cell, python, self.selection, self.store, self.config.cell_timeout, resolved)
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
    from harness.results import publish

    try:
        o = gate_parser().parse_args(session.posargs)
        if o.junit is not None:
            check_output(o.junit, "--junit")  # now, not after the verdict is printed
        probe = UpgradeRunner(o)
        old, new = probe.cell(o.old, "--from"), probe.cell(o.new, "--to")
        _check_order(old, new, f"--from {o.old}", f"--to {o.new}")
        before = probe.run(old)
        after = probe.run(new)
        diffs, b, a = compare(before, after)
    except HarnessError as e:
        session.error(str(e))
    code = publish(diffs, o.strict, b, a, o.junit)
    paths = write_upgrade_report(probe, "gate", (old, before), (new, after), diffs, o.strict)
    session.log("report: " + ", ".join(str(p) for p in paths))
    session.log(f"{probe.envs_built} environments used, {time.perf_counter() - probe.started:.1f} s")
    if code and o.shrink and o.app:
        probe.shrink_on(new)
    if code:
        session.error(f"the gate fails: cells got worse from {old.label} to {new.label} (see the table above)")


def write_upgrade_report(
    probe: UpgradeRunner,
    kind: str,
    old: tuple[Cell, list[dict[str, Any]]],
    new: tuple[Cell, list[dict[str, Any]]],
    diffs: list[CellDiff],
    strict: bool,
    headline: str = "",
) -> list[Path]:
    """``report.{md,html,json}`` in the upgrade results folder: the summary, the changes grouped,
    a repro per group and both sides as they were resolved (from their status files)."""
    from harness.results import UpgradeReport, UpgradeSide, upgrade_summary

    sides = []
    for cell, _ in (old, new):
        st = probe.store.status(cell.id)
        resolved, env = (list(st.resolved), dict(st.environment)) if st else ([], {})
        sides.append(UpgradeSide(cell.label, cell.id, resolved, env))
    summary = upgrade_summary(sides[0], sides[1], {old[0].id: old[1], new[0].id: new[1]})
    report = UpgradeReport(kind, sides[0], sides[1], diffs, strict, headline, summary)
    return report.write(probe.store.root)


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


def _outcome_sets(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    counts: dict[tuple[str, str, str], Counter[str]] = {}
    for r in records:
        counts.setdefault((r["scenario"], r["backend"], r["profile"]), Counter())[r["outcome"]] += 1
    return {k: outcome_set(c) for k, c in counts.items()}


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
        probe = UpgradeRunner(o, settle=BISECT_SETTLE)
        kind, between = _bisect_range(probe, o.good, o.bad)
        seen: dict[int, tuple[Cell, Counter[str]]] = {}
        by_cell: dict[int, dict[tuple[str, str, str], tuple[str, ...]]] = {}
        records_at: dict[int, list[dict[str, Any]]] = {}

        def probe_at(i: int) -> dict[tuple[str, str, str], tuple[str, ...]]:
            cell = probe.cell(f"{kind}=={between[i]}", "--good" if i == 0 else "--bad")
            records = records_at[i] = probe.run(cell)
            seen[i] = (cell, Counter(r["outcome"] for r in records))
            session.log(f"probe {cell.label}: {format_counts(seen[i][1], fractions=False)}")
            by_cell[i] = _outcome_sets(records)
            return by_cell[i]

        lo, hi = 0, len(between) - 1
        good_cells, bad_cells = probe_at(lo), probe_at(hi)
        differing = sorted(k for k in good_cells.keys() | bad_cells.keys() if good_cells.get(k) != bad_cells.get(k))
        if not differing:
            raise HarnessError(
                f"{o.good} and {o.bad} give the same outcomes cell by cell for this selection; nothing to bisect"
            )
        probe.narrow(differing)
        session.log(f"{len(differing)} of {len(good_cells)} cells differ between the bounds; probing only those")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            got = probe_at(mid)
            if all(got.get(k) == good_cells.get(k) for k in differing):
                lo = mid
            else:
                hi = mid
        moved = [k for k in differing if by_cell[lo].get(k) != by_cell[hi].get(k)]
    except HarnessError as e:
        session.error(str(e))
    last_good, first_bad = seen[lo][0], seen[hi][0]
    example = ", ".join(
        f"{k[0]} {k[1]}/{k[2]}: {'/'.join(by_cell[lo].get(k, ('-',)))} -> {'/'.join(by_cell[hi].get(k, ('-',)))}"
        for k in moved[:2]
    )
    headline = f"first change: {last_good.label} -> {first_bad.label} ({len(moved)} cells, e.g. {example})"
    session.log(
        f"{headline}; {probe.envs_built} environments, {len(seen)} probes of {o.repeat} repeats, "
        f"{time.perf_counter() - probe.started:.1f} s"
    )
    # The cells that differ between the bounds, on the last good and the first bad release.
    sides = [
        (seen[i][0], [r for r in records_at[i] if (r["scenario"], r["backend"], r["profile"]) in set(differing)])
        for i in (lo, hi)
    ]
    diffs = compare(sides[0][1], sides[1][1])[0]
    paths = write_upgrade_report(probe, "bisect", sides[0], sides[1], diffs, strict=False, headline=headline)
    session.log("report: " + ", ".join(str(p) for p in paths))
    args = [arg for s in probe.selection.scenarios for arg in ("--scenario", s)]
    args += ["--backend", ",".join(probe.selection.backends), "--repeat", str(o.repeat)]
    if kind == "fastapi" or o.app:  # a gate between the last good and first bad release reruns it all
        gate = f"nox -s gate -- --from {kind}=={between[lo]} --to {kind}=={between[hi]} "
        app = list(probe.selection.extra)[: -2 if probe.settle else None]  # without --settle N
        extra = [*args, *app, *probe.app_args()]
        session.log("reproduce: " + gate + " ".join(shlex.quote(a) for a in extra))
        return
    for cell in (last_good, first_bad):
        session.log(f"reproduce {cell.label}: {nox_command(cell.starlette, args)}")
