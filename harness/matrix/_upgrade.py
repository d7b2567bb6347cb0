"""Upgrade questions: ``nox -s gate`` (is B worse than A?) and ``nox -s bisect`` (where did it change?).

Either side can be a release (installed with the matrix's pins for it) or a development version: a
checkout directory, a wheel, or a ``git+`` URL, installed with the pins of the newest release.
Every probe is a cell like the matrix's: one environment, one harness process, results on disk.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from harness import options
from harness.errors import HarnessError
from harness.matrix import _cellrun as cellrun
from harness.matrix import _releases as index
from harness.matrix._cells import Cell, dev_cell, is_dev_target, make_cell
from harness.matrix._config import MatrixConfig, load
from harness.matrix._envs import ensure_env
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
            raise HarnessError(f"{option} {text}: not a version, a checkout directory, a wheel or a git+ URL") from None
        for r in self.releases:
            if r.version == version:
                return r
        raise HarnessError(
            f"{option} {text}: Starlette {text} is not on the package index; see pip index versions starlette"
        )

    def cell(self, text: str, option: str) -> Cell:
        if is_dev_target(text):
            return self.dev_cell(text)
        return make_cell(self.config, self.release(text, option), "pinned")

    def dev_cell(self, target: str) -> Cell:
        return dev_cell(self.config, self.releases, target)

    def run(self, cell: Cell) -> list[dict[str, Any]]:
        """Run the selection on ``cell`` (reusing fresh results) and return its records."""
        if cell.resolution == "dev" or not self.store.is_fresh(cell, self.selection.hash):
            python = ensure_env(cell)
            self.envs_built += 1
            ok, reason = cellrun.install(cell, python)
            if not ok:
                cellrun.record_install_failure(cell, self.selection, self.store, reason)
                raise HarnessError(f"Starlette {cell.id} did not install: {reason}")
            status = cellrun.run(cell, python, self.selection, self.store, self.config.cell_timeout)
            if status != DONE:
                st = self.store.status(cell.id)
                raise HarnessError(f"Starlette {cell.id}: the harness run failed: {st.reason if st else status}")
        return list(self.store.records(cell.id))


def gate_session(session: nox.Session) -> None:
    from harness.results import compare, publish

    try:
        o = gate_parser().parse_args(session.posargs)
        probe = UpgradeRunner(o)
        old, new = probe.cell(o.old, "--from"), probe.cell(o.new, "--to")
        if old.resolution != "dev" and new.resolution != "dev" and Version(old.starlette) > Version(new.starlette):
            raise HarnessError(f"--from {o.old} is newer than --to {o.new}; swap them to ask about an upgrade")
        before = probe.run(old)
        after = probe.run(new)
        diffs, b, a = compare(before, after)
    except HarnessError as e:
        session.error(str(e))
    code = publish(diffs, o.strict, b, a, o.junit)
    session.log(f"{probe.envs_built} environments used, {time.perf_counter() - probe.started:.1f} s")
    if code:
        session.error(f"the gate fails: cells got worse from {o.old} to {o.new} (see the table above)")


def bisect_session(session: nox.Session) -> None:
    try:
        o = bisect_parser().parse_args(session.posargs)
        if not o.scenario and not o.app:
            raise HarnessError("nox -s bisect --: give --scenario NAME (or --app) to bisect on")
        probe = UpgradeRunner(o)
        good, bad = probe.release(o.good, "--good"), probe.release(o.bad, "--bad")
        if good.version >= bad.version:
            raise HarnessError(f"--good {o.good} must be older than --bad {o.bad}")
        between = [
            r for r in probe.releases if good.version <= r.version <= bad.version and not r.version.is_prerelease
        ]
        seen: dict[str, Counter[str]] = {}

        def outcomes(i: int) -> tuple[str, ...]:
            cell = make_cell(probe.config, between[i], "pinned")
            records = probe.run(cell)
            seen[cell.id] = Counter(r["outcome"] for r in records)
            session.log(f"probe {cell.id}: {format_counts(seen[cell.id], fractions=False)}")
            return outcome_set(seen[cell.id])

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
    first_bad, last_good = between[hi], between[lo]
    session.log(
        f"first change: {last_good.version} -> {first_bad.version} "
        f"({'/'.join(good_set)} -> {'/'.join(outcome_set(seen[str(first_bad.version)]))}); "
        f"{probe.envs_built} environments, {len(seen)} probes of {o.repeat} repeats, "
        f"{time.perf_counter() - probe.started:.1f} s"
    )
    args = [arg for s in probe.selection.scenarios for arg in ("--scenario", s)]
    args += ["--backend", ",".join(probe.selection.backends), "--repeat", str(o.repeat)]
    for r in (last_good, first_bad):
        session.log(f"reproduce {r.version}: {nox_command(str(r.version), args)}")
