"""``nox -s servers``: which real-server checks to run, where, and the agreement table they give.

The ``[servers]`` table of ``matrix.toml`` lists the checks (a Starlette release and its scenarios),
the servers and the number of requests per cell; ``[[servers.pins]]`` replaces a server's
requirements for a range of releases (hypercorn's trio worker needs trio >= 0.22 from 0.14.4 on,
while the anyio 3 cells pin trio 0.21). Each check gets one environment per distinct set of
requirements, built like a matrix cell's, and one ``harness serve-check`` process per environment.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from harness import options
from harness.errors import HarnessError
from harness.matrix import _cellrun as cellrun
from harness.matrix import _releases as index
from harness.matrix._cells import Cell, make_cell, resolve_versions
from harness.matrix._config import Check, MatrixConfig, ServersConfig, load, load_servers
from harness.matrix._envs import ensure_env
from harness.matrix._releases import Release
from harness.results import DISAGREE, NO_DATA, TOLERANCE, agreement_markdown, write_atomic
from harness.scenario import load_catalogue, select
from harness.servers import get_server, server_requirements


def options_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s servers --", options.SERVERS, help=False)


@dataclass(frozen=True)
class _Env:
    """One environment of one check: a cell plus the requirements of some of its servers."""

    cell: Cell
    servers: tuple[str, ...]
    requirements: tuple[str, ...]

    @property
    def id(self) -> str:
        digest = hashlib.sha256("\0".join(self.requirements).encode()).hexdigest()[:6]
        return f"{self.cell.id}-servers-{digest}"


def plan_envs(config: ServersConfig, cell: Cell, servers: Sequence[str]) -> list[_Env]:
    """One environment for every server installed the default way, one per distinct pinned set."""
    groups: dict[tuple[str, ...] | None, list[str]] = {}
    for s in servers:
        groups.setdefault(config.pinned(s, Version(cell.starlette)), []).append(s)
    return [
        _Env(cell, tuple(names), reqs if reqs is not None else tuple(server_requirements(names)))
        for reqs, names in groups.items()
    ]


@dataclass(frozen=True)
class _Plan:
    """What one ``nox -s servers`` run does, checked before anything is installed."""

    options: argparse.Namespace
    matrix: MatrixConfig
    config: ServersConfig
    servers: tuple[str, ...]
    repeat: int
    targets: list[tuple[Check, Release]]

    def scenarios(self, check: Check) -> list[str]:
        return list(self.options.scenario) or list(check.scenarios)


def _plan(argv: Sequence[str]) -> _Plan:
    o = options_parser().parse_args(list(argv))
    matrix = load(o.matrix)
    config = matrix.servers or load_servers(o.matrix)  # the latter names the missing table
    releases = index.releases(offline=o.offline)
    servers = tuple(options.csv_values(o.server)) or config.servers
    for s in servers:
        get_server(s)
    repeat = config.repeat if o.repeat is None else o.repeat
    if repeat < 1:
        raise HarnessError(f"--repeat {repeat}: must be at least 1")
    by_version = {c.starlette: c for c in config.checks}
    checks = [by_version.get(v, Check(v, ())) for v in o.versions] if o.versions else list(config.checks)
    catalogue = load_catalogue()
    for c in checks:
        select(catalogue, list(o.scenario) or list(c.scenarios) or ["*"])  # one line for a bad pattern
        if not (o.scenario or c.scenarios):
            raise HarnessError(f"--versions {c.starlette}: not a check in {o.matrix}; add --scenario")
    known = resolve_versions(matrix, releases)
    return _Plan(o, matrix, config, servers, repeat, [(c, _release(known, c.starlette)) for c in checks])


def servers_session(session: Any, argv: Sequence[str]) -> None:
    try:
        plan = _plan(argv)
    except HarnessError as e:
        session.error(str(e))
    out_dir = Path(plan.options.results)
    started = time.perf_counter()
    cells: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    probed: set[tuple[str, tuple[str, ...]]] = set()
    for check, release in plan.targets:
        cell = make_cell(plan.matrix, release, "pinned")
        for env in plan_envs(plan.config, cell, plan.servers):
            # The same requirements on the same Python install the same servers: probe them once.
            key = (cell.python, env.requirements)
            found = _check_env(plan, env, plan.scenarios(check), out_dir / "servers", session, probe=key not in probed)
            probed.add(key)
            cells += found["cells"]
            probes += found["probes"]
    _publish(plan, out_dir, cells, probes, started, session)


def _check_env(
    plan: _Plan, env: _Env, scenarios: list[str], parts: Path, session: Any, *, probe: bool
) -> dict[str, Any]:
    """Install one environment of a check and run its serve-check; a failure is recorded per cell."""
    cell = env.cell
    label = f"Starlette {cell.starlette} with {', '.join(env.servers)}"
    python = ensure_env(cell, Path(".nox") / "servers", name=env.id)
    installed = dataclasses.replace(cell, requirements=cell.requirements + env.requirements)
    ok, reason = cellrun.install(installed, python)
    if not ok:
        session.warn(f"{label}: install failed: {reason}")
        failed = [_failed(cell, s, sc, "install-failed", reason) for s in env.servers for sc in scenarios]
        return {"cells": failed, "probes": []}
    session.log(f"{label}: {len(scenarios)} scenario pattern(s) x {plan.repeat} requests")
    result = _run_env(python, env, scenarios, plan.repeat, plan.config, parts, session, probe=probe)
    if result is None:
        failed = [
            _failed(cell, s, sc, "crashed", "serve-check did not finish") for s in env.servers for sc in scenarios
        ]
        return {"cells": failed, "probes": []}
    return result


def _publish(
    plan: _Plan,
    out_dir: Path,
    cells: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    started: float,
    session: Any,
) -> None:
    payload = {"tolerance": TOLERANCE, "cells": cells, "probes": probes}
    write_atomic(out_dir / "agreement.json", [json.dumps(_without_runs(payload), indent=1, default=str)])
    write_atomic(out_dir / "agreement.md", [agreement_markdown(cells, probes)])
    _refresh_html(out_dir)
    bad = [c for c in cells if c["verdict"] in (DISAGREE, NO_DATA)]
    failed_probes = [p for p in probes if not p.get("matches")]
    session.log(
        f"{len(cells)} cells ({len(bad)} disagree or no data), {len(probes)} probes ({len(failed_probes)} failed) "
        f"in {time.perf_counter() - started:.0f} s: {out_dir / 'agreement.md'}"
    )
    if plan.options.strict and (bad or failed_probes):
        session.error("real servers disagree with the scripted profiles; see agreement.md")


def _release(known: Sequence[Release], text: str) -> Release:
    """A check's release among those the matrix covers (``newest``: the last of them)."""
    if text == "newest":
        return known[-1]
    for r in known:
        if str(r.version) == text:
            return r
    raise HarnessError(f"Starlette {text} is not a release of the matrix (see pip index versions starlette)")


def _run_env(
    python: str,
    env: _Env,
    scenarios: Sequence[str],
    repeat: int,
    config: ServersConfig,
    parts: Path,
    session: Any,
    *,
    probe: bool,
) -> dict[str, Any] | None:
    out = parts / f"{env.id}.json"
    cmd = [python, "-m", "harness", "serve-check", "--repeat", str(repeat), *(["--probe"] if probe else [])]
    cmd += ["--time-scale", str(config.time_scale), "--app-timeout", str(config.app_timeout)]
    cmd += ["--server", ",".join(env.servers), "--out", str(out.resolve()), "--logs", str((parts / "logs").resolve())]
    for s in scenarios:
        cmd += ["--scenario", s]
    # Bound: each request may take the client's and the record's waits in full (2 x app timeout + 8 s),
    # plus a probe and a startup per server; generous but finite.
    n = len(select(load_catalogue(), list(scenarios)))
    budget = 60 + len(env.servers) * (60 + n * repeat * (2 * config.app_timeout + 8))
    errors = parts / f"{env.id}.stderr"
    parts.mkdir(parents=True, exist_ok=True)
    # Lines are passed on as they come (one per cell and probe): a long check shows its progress.
    with open(errors, "w") as err:
        proc = subprocess.Popen(
            cmd, cwd=cellrun.ROOT, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
    assert proc.stdout is not None
    timer = threading.Timer(budget, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in proc.stdout:
            session.log(line.rstrip())
        proc.wait()
    finally:
        timer.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind; its servers stop themselves
        proc.stdout.close()
    if proc.returncode == -signal.SIGKILL:
        session.warn(f"{env.id}: serve-check did not finish within {budget:g} s")
        return None
    if proc.returncode != 0 or not out.exists():
        lines = errors.read_text(errors="replace").strip().splitlines() or ["no output"]
        session.warn(f"{env.id}: serve-check failed: {lines[-1]}")
        return None
    result: dict[str, Any] = json.loads(out.read_text())  # serve-check's --out: {"cells": [...], "probes": [...]}
    return result


def _failed(cell: Cell, server: str, scenario: str, status: str, reason: str) -> dict[str, Any]:
    return {
        "starlette": cell.starlette,
        "scenario": scenario,
        "server": server,
        "server_version": None,
        "profile": None,
        "real": {},
        "scripted": {},
        "status": status,
        "reason": reason,
        "verdict": NO_DATA,
    }


def _without_runs(payload: dict[str, Any]) -> dict[str, Any]:
    """The summary file keeps counts and evidence; the per-request records stay in servers/*.json."""
    cells = [{k: v for k, v in c.items() if k != "records"} for c in payload["cells"]]
    return {**payload, "cells": cells}


def _refresh_html(out_dir: Path) -> None:
    """Rebuild report.html so it shows the new agreement summary, if a matrix report is there."""
    if not (out_dir / "report.json").exists():
        return
    from harness.matrix._sessions import MatrixRun, write_report

    run = MatrixRun.from_argv(["nox", "--", "--offline", "--results", str(out_dir)], fetch_index=False)
    if run.error is None and run.cells:
        write_report(run)
