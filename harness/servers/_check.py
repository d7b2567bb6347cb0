"""One agreement cell: a scenario under a real server, N times, beside the scripted driver, N times.

This runs in an environment with the Starlette release and the server installed (``nox -s servers``
builds those). The real side starts the server once for the cell and sends N requests one after
another, each waiting for the app to finish before the next; the scripted side runs the same
scenario with the server's profile on the worker's backend, in this process.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from harness import defaults, options
from harness.errors import ServerStartError, UsageError
from harness.results import DISAGREE, NO_DATA, format_counts, serve_check_command, verdict
from harness.run import (
    NOT_APPLICABLE,
    SCHEMA_VERSION,
    Environment,
    Job,
    RunConfig,
    base_fields,
    environment,
    plan,
    run_jobs,
)
from harness.scenario import Scenario, dist_version, get_profile
from harness.servers._fit import MAX_DELAY
from harness.servers._process import ServerProcess, server_errors
from harness.servers._rawclient import play
from harness.servers._registry import SERVERS, get_server

#: Real seconds between the last record and stopping the server, so its log of that request is whole.
LOG_SETTLE_S = 0.3


@dataclasses.dataclass(frozen=True)
class CheckConfig:
    repeat: int = defaults.SERVER_REPEATS
    time_scale: float = defaults.TIME_SCALE
    app_timeout: float = defaults.APP_TIMEOUT
    #: Real seconds the client pauses for ``wait:idle`` / ``wait:receive``.
    settle: float = 0.05
    logs: Path = Path(defaults.SERVER_LOGS_DIR)


def scripted_twin(scenario: Scenario) -> Scenario:
    """The scenario as a server would play it: the PR #1634 generator profiles and ``send_gen``'s
    allowed messages belong to that test, not to any server, so the server's profile replaces them."""
    return dataclasses.replace(scenario, profiles=None)


def check_cell(scenario: Scenario, server_name: str, config: CheckConfig = CheckConfig()) -> dict[str, Any]:
    """Run one cell and return its row (counts, verdict, evidence); never raises for a server that
    fails to start or dies: that is the cell's status."""
    server = get_server(server_name)
    env = environment()
    server_version = dist_version(server.dist)
    row: dict[str, Any] = {
        "starlette": env["starlette"],
        "scenario": scenario.name,
        "server": server.name,
        "server_version": server_version,
        "backend": server.backend,
        "profile": None,
        "repeat": config.repeat,
        "environment": env,
        "real": {},
        "scripted": {},
        "records": [],
        "status": "done",
    }
    if server_version is None:
        return _finish(row, "not-installed", f"{server.dist} is not installed here")
    profile = server.profile_for(server_version)
    row["profile"] = profile
    twin = scripted_twin(scenario)
    scripted = run_jobs(plan([twin], backends=[server.backend], profiles=[profile], repeats=config.repeat))
    row["scripted"] = dict(Counter(r.outcome for r in scripted))
    row["scripted_detail"] = _first_details(r.to_json() for r in scripted)
    row["scripted_delays"] = dict(Counter(str(r.receive_delay) for r in scripted if r.receive_delay is not None))
    if _has_delay(profile):
        row["scripted_by_delay"] = scripted_by_delay(twin, server.backend, profile)
    started = time.perf_counter()
    try:
        records = _real_runs(scenario, server.name, profile, server_version, env, config)
    except ServerStartError as e:
        return _finish(row, "server-failed", str(e))
    finally:
        row["real_elapsed_s"] = round(time.perf_counter() - started, 2)
    row["records"] = records["runs"]
    row["real"] = dict(Counter(r["outcome"] for r in records["runs"]))
    row["real_detail"] = _first_details(records["runs"])
    row["closed_at"] = dict(Counter(r["client"]["closed_at"] for r in records["runs"]))
    row["server_errors"] = records["errors"]
    row["log"] = records["log"]
    if records["crashed"]:
        row["status"] = "crashed"
        row["reason"] = records["crashed"]
    return _finish(row, row["status"], row.get("reason", ""))


def _has_delay(profile: str) -> bool:
    p = get_profile(profile)
    return bool(p.receive_delay or p.receive_delay_weights)


def scripted_by_delay(scenario: Scenario, backend: str, profile: str) -> list[str]:
    """The scripted outcome at each fixed delay ``0..MAX_DELAY``: deterministic on asyncio, and what
    ``python -m harness fit-delay`` mixes to match the real server's rates."""
    jobs = [Job(scenario, backend, profile, 0, None, receive_delay=k) for k in range(MAX_DELAY + 1)]
    return [r.outcome for r in run_jobs(jobs)]


def _finish(row: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
    row["status"] = status
    if reason:
        row["reason"] = reason
    found, row["max_rate_gap"] = verdict(row["real"], row["scripted"])
    row["verdict"] = found if status == "done" else NO_DATA  # partial counts of a crashed cell say nothing
    row["repro"] = repro_command(row)
    return row


def _first_details(records: Any) -> dict[str, str]:
    """One example detail per outcome class (the evidence a reader checks first)."""
    out: dict[str, str] = {}
    for r in records:
        out.setdefault(r["outcome"], r["detail"])
    return out


def _real_runs(
    scenario: Scenario,
    server: str,
    profile: str,
    server_version: str,
    env: Environment,
    config: CheckConfig,
) -> dict[str, Any]:
    script = scenario.parsed_script()
    job = Job(scenario, get_server(server).backend, profile, repeat=0, seed=None)
    base = {
        **base_fields(job, RunConfig(), env),
        "server": server,
        "server_version": server_version,
        "loop_errors": [],
        "leaked_tasks": 0,
        "schema": SCHEMA_VERSION,
    }
    spec = {
        "mode": "scenario",
        "scenario": scenario.name,
        "time_scale": config.time_scale,
        "app_timeout": config.app_timeout,
        "base": base,
    }
    log_path = config.logs / f"{env['starlette']}--{server}--{_slug(scenario.name)}.log"
    runs: list[dict[str, Any]] = []
    crashed = ""
    with ServerProcess(server, spec, log_path=log_path) as proc:
        for i in range(config.repeat):
            client = play(
                proc.port,
                script,
                run=i,
                method=scenario.method,
                settle=config.settle,
                timeout=config.app_timeout + 5.0,
            )
            record = _record_for(proc, i, config.app_timeout + 3.0)
            if record is None:
                if not proc.alive:
                    crashed = f"the server exited during run {i}: {proc.log_tail()}"
                    break
                record = dict(
                    base,
                    repeat=i,
                    outcome=NOT_APPLICABLE,
                    detail="the server never called the app for this request",
                )
            record["client"] = client.to_json()
            runs.append(record)
        time.sleep(LOG_SETTLE_S)  # the server logs the last request's error after the recorder's line
    log = proc.log_text()
    return {"runs": runs, "errors": server_errors(log), "log": str(log_path), "crashed": crashed}


def _record_for(proc: ServerProcess, run: int, timeout: float) -> dict[str, Any] | None:
    """The recorder's line for request ``run`` (skipping late lines of earlier requests)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        record = proc.next_record(remaining)
        if record is None:
            return None
        if record.get("repeat") == run:
            return record
    return None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in text)


def repro_command(row: dict[str, Any]) -> str:
    """A command a user can paste to rerun this cell alone: versions, scenario and server."""
    server = get_server(row["server"])
    packages = [f"starlette=={row['starlette']}"]
    env = row.get("environment") or {}
    for name in ("anyio", "trio"):
        if env.get(name):
            packages.append(f"{name}=={env[name]}")
    for requirement in server.requirements:
        req = Requirement(requirement)
        if req.name == server.dist and row.get("server_version"):
            req.specifier = SpecifierSet(f"=={row['server_version']}")
        packages.append(str(req))
    return serve_check_command(packages, row["scenario"], row["server"], row["repeat"])


def installed_servers() -> list[str]:
    return [name for name, spec in SERVERS.items() if dist_version(spec.dist) is not None]


def main(args: Any) -> int:
    """``python -m harness serve-check`` and ``python -m harness probe``."""
    from harness.results import write_atomic
    from harness.servers._probes import run_probe
    from harness.servers._process import stop_on_sigterm

    stop_on_sigterm()
    servers = options.csv_values(args.server) or installed_servers()
    for name in servers:
        get_server(name)
    if not servers:
        raise UsageError(f"no server installed here; install one of {', '.join(SERVERS)} (or pass --server)")
    cells = _check_cells(args, servers) if args.command == "serve-check" else []
    probes: list[dict[str, Any]] = []
    if args.command == "probe" or args.probe:
        for name in servers:
            row = run_probe(name, logs=args.logs)
            probes.append(row)
            _print_probe(row)
    if args.out is not None:
        write_atomic(args.out, [json.dumps({"cells": cells, "probes": probes}, indent=1, default=str)])
    bad_probe = any(not p["matches"] for p in probes)
    if args.command == "probe":
        return 1 if bad_probe else 0
    bad_cell = any(c["verdict"] in (DISAGREE, NO_DATA) for c in cells)
    return 1 if args.strict and (bad_cell or bad_probe) else 0


def _check_cells(args: Any, servers: list[str]) -> list[dict[str, Any]]:
    """Every selected scenario under every server, printed as each cell finishes."""
    from harness.scenario import load_catalogue, select

    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1")
    if args.time_scale <= 0 or args.app_timeout <= 0:
        raise UsageError("--time-scale and --app-timeout must be positive")
    scenarios = select(load_catalogue(), list(args.scenario))
    config = CheckConfig(repeat=args.repeat, time_scale=args.time_scale, app_timeout=args.app_timeout, logs=args.logs)
    cells = []
    for scenario in scenarios:
        for name in servers:
            row = check_cell(scenario, name, config)
            cells.append(row)
            _print_cell(row)
    return cells


def _print_cell(row: dict[str, Any]) -> None:
    line = (
        f"{row['starlette']}  {row['scenario']}  {row['server']} {row.get('server_version') or ''}  "
        f"real: {format_counts(row['real'])}  scripted ({row.get('profile')}): {format_counts(row['scripted'])}  "
        f"-> {row['verdict']}"
    )
    if row["status"] != "done":
        line += f"  [{row['status']}: {row.get('reason', '')}]"
    print(line, flush=True)


def _print_probe(row: dict[str, Any]) -> None:
    head = f"probe {row['server']} {row.get('server_version') or ''} vs profile {row.get('profile') or '-'}: "
    if row["matches"]:
        print(head + "matches (" + ", ".join(f"{k}={v}" for k, v in row["observed"].items()) + ")", flush=True)
    else:
        print(head + "MISMATCH: " + "; ".join(row.get("mismatches") or [row.get("reason", "failed")]), flush=True)
