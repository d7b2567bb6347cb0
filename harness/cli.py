"""``python -m harness``: list the catalogue, run scenarios against the installed Starlette.

Bad input ends with one line on stderr (``harness: error: ...``) and exit status 2; the verdicts
themselves never change the exit status (a run that finds the bug has done its job).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends import BACKENDS
from harness.errors import HarnessError, UsageError
from harness.outcome import OUTCOMES
from harness.profiles import DEFAULT_PROFILES, get_profile
from harness.results import dumps, write_atomic
from harness.runner import RunConfig, environment, plan, run_jobs
from harness.scenario import Scenario, app_scenarios, load_catalogue, select
from harness.userapp import AppSpec, load_app, parse_body


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as for every other bad input
        raise UsageError(message)


def csv_values(values: Sequence[str] | None) -> list[str]:
    """Repeatable options that also take comma-separated lists: ``--backend asyncio,trio``.
    (Not ``--scenario``: scenario names contain commas.)"""
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the scenarios with their descriptions")

    run = sub.add_parser("run", help="run scenarios against the Starlette installed here")
    run.add_argument("--scenario", action="append", metavar="PATTERN", help="name or glob (repeatable)")
    run.add_argument("--backend", action="append", help="asyncio, trio, asyncio+uvloop (default: asyncio,trio)")
    run.add_argument("--profile", action="append", help=f"server profile (default: {','.join(DEFAULT_PROFILES)})")
    run.add_argument("--repeat", type=int, default=1, help="runs per scenario, backend and profile")
    run.add_argument("--seed", type=int, default=0, help="trio seed of the first repeat (repeat r uses seed+r)")
    run.add_argument("--timeout", type=float, default=60.0, help="bound on the run's clock (virtual seconds)")
    run.add_argument("--real-timeout", type=float, default=10.0, help="wall-clock backstop per run")
    run.add_argument("--real-time", action="store_true", help="use the real clock instead of virtual time")
    run.add_argument("--stack", help="ad-hoc scenario: layers, e.g. 'asgi,base*4'")
    run.add_argument("--endpoint", help="ad-hoc scenario: endpoint kind (default slow)")
    run.add_argument("--receive", help="ad-hoc scenario: client script, e.g. 'request,wait:idle,disconnect'")
    run.add_argument("--method", default="GET", help="HTTP method (ad-hoc scenario or --app)")
    run.add_argument("--app", help="your ASGI app, module:attribute or module:factory(), run under every client script")
    run.add_argument("--app-dir", default=".", help="where to import --app from (default: the current directory)")
    run.add_argument("--path", default="/", help="--app: the request path (query string allowed)")
    run.add_argument("--body", help="--app: the request body, TEXT or @file")
    run.add_argument("--out", type=Path, help="write one JSON line per run here (atomically)")
    run.add_argument("--resolution", help=argparse.SUPPRESS)
    run.add_argument("--quiet", action="store_true", help="no table")
    gate = sub.add_parser("gate", help="compare two result sets; non-zero when a cell got worse")
    gate.add_argument("--baseline", nargs="+", type=Path, required=True, help="results (JSONL) of the old version")
    gate.add_argument("--candidate", nargs="+", type=Path, required=True, help="results (JSONL) of the new version")
    gate.add_argument("--strict", action="store_true", help="fail on any change, not only on a worse cell")
    gate.add_argument("--junit", type=Path, help="write JUnit XML here (one test case per cell)")

    serve = sub.add_parser("serve-check", help="run scenarios under real servers and compare with the scripted driver")
    serve.add_argument(
        "--scenario", action="append", metavar="PATTERN", required=True, help="name or glob (repeatable)"
    )
    serve.add_argument("--server", action="append", help="uvicorn-h11, uvicorn-httptools, hypercorn-asyncio, ...")
    serve.add_argument("--repeat", type=int, default=20, help="requests per cell, and scripted runs (default 20)")
    serve.add_argument("--time-scale", type=float, default=0.05, help="real seconds per virtual second (slow = 5)")
    serve.add_argument("--app-timeout", type=float, default=3.0, help="real seconds before an app run is a hang")
    serve.add_argument("--probe", action="store_true", help="also probe each server against its profile")
    serve.add_argument("--out", type=Path, help="write the cells (and probes) here as JSON")
    serve.add_argument("--logs", type=Path, default=Path("results/servers/logs"), help="server logs go here")
    serve.add_argument("--strict", action="store_true", help="exit 1 on a disagreement, a failed cell or probe")

    probe = sub.add_parser("probe", help="check that each installed server still behaves as its profile says")
    probe.add_argument("--server", action="append", help="servers to probe (default: the installed ones)")
    probe.add_argument("--out", type=Path, help="write the probe results here as JSON")
    probe.add_argument("--logs", type=Path, default=Path("results/servers/logs"), help="server logs go here")

    report = sub.add_parser("report", help="build the report from result files (e.g. merged CI shards)")
    report.add_argument("files", nargs="+", type=Path, help="results files (JSONL)")
    report.add_argument("--out", type=Path, default=Path("results"), help="where report.{md,json,html} go")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "gate":
            return _gate(args)
        if args.command == "report":
            return _report(args)
        if args.command in ("serve-check", "probe"):
            from harness import servecheck

            return servecheck.main(args)
        return _run(args)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


def _list() -> int:
    for s in load_catalogue():
        print(f"{s.name}\t{s.description}\t[{s.source}]")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from harness.gate import compare, publish
    from harness.results import read_records

    before = [r for f in args.baseline for r in read_records(f)]
    after = [r for f in args.candidate for r in read_records(f)]
    diffs, b, a = compare(before, after)
    return publish(diffs, args.strict, b, a, args.junit)


def _report(args: argparse.Namespace) -> int:
    from harness.merge import report_from_files

    paths = report_from_files(args.files, args.out)
    print("report: " + ", ".join(str(p) for p in paths))
    return 0


def _adhoc(args: argparse.Namespace) -> Scenario:
    scenario = Scenario(
        name="adhoc",
        description="ad-hoc scenario from the command line",
        source="command line",
        stack=args.stack or "base",
        endpoint=args.endpoint or "slow",
        receive=args.receive or "request,disconnect",
        method=args.method,
    )
    scenario.validate()
    return scenario


def _run(args: argparse.Namespace) -> int:
    backends = csv_values(args.backend) or ["asyncio", "trio"]
    for b in backends:
        if b not in BACKENDS:
            raise UsageError(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    profiles = csv_values(args.profile) or list(DEFAULT_PROFILES)
    for p in profiles:
        get_profile(p)
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1")
    real_time = args.real_time
    if args.app:
        if args.stack or args.endpoint or args.receive:
            raise UsageError("--app and the ad-hoc --stack/--endpoint/--receive do not mix; pick one")
        spec = AppSpec(args.app, args.app_dir, args.path, args.method, parse_body(args.body))
        load_app(spec)  # fail now, in one line, if it does not import or is not ASGI
        scenarios = select(app_scenarios(spec), list(args.scenario or ()))
        real_time = True  # user apps may use threads (sync endpoints): the real clock is the honest one
    elif args.stack or args.endpoint or args.receive:
        if args.scenario:
            raise UsageError("--scenario and the ad-hoc --stack/--endpoint/--receive do not mix; pick one")
        scenarios = [_adhoc(args)]
    else:
        scenarios = select(load_catalogue(), list(args.scenario or ()))
    config = RunConfig(
        timeout=min(args.timeout, args.real_timeout) if real_time else args.timeout,
        real_timeout=args.real_timeout,
        virtual_time=not real_time,
        resolution=args.resolution,
    )
    jobs = plan(scenarios, backends=backends, profiles=profiles, repeats=args.repeat, seed=args.seed)
    records = run_jobs(jobs, config)
    if args.out is not None:
        write_atomic(args.out, (dumps(r) for r in records))
    if not args.quiet:
        _print_table([r.to_json() for r in records])
    return 0


def summarize(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], Counter[str]]:
    counts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for r in records:
        counts[(r["scenario"], r["backend"], r["profile"])][r["outcome"]] += 1
    return counts


def format_counts(counter: Counter[str]) -> str:
    total = sum(counter.values())
    ordered = sorted(counter.items(), key=lambda kv: OUTCOMES.index(kv[0]) if kv[0] in OUTCOMES else 99)
    if len(ordered) == 1:
        return f"{ordered[0][0]} {total}/{total}"
    return ", ".join(f"{o} {n}/{total}" for o, n in ordered)


def repro_command(record: dict[str, Any]) -> str:
    """The one-liner that replays this run in an environment with the same versions installed."""
    parts = ["python", "-m", "harness", "run", "--scenario", record["scenario"]]
    parts += ["--backend", record["backend"], "--profile", record["profile"]]
    params = record.get("params") or {}
    if "app" in params:
        parts += ["--app", params["app"], "--path", params.get("path", "/"), "--method", params.get("method", "GET")]
    if record.get("seed") is not None:
        parts += ["--seed", str(record["seed"])]
    return " ".join(shlex.quote(p) for p in parts)


def _print_table(records: Sequence[dict[str, Any]]) -> None:
    counts = summarize(records)
    env = environment()
    title = f"Starlette {env['starlette']} · anyio {env['anyio']} · trio {env['trio']} · Python {env['python']}"
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        print(title)
        for (scenario, backend, profile), c in counts.items():
            print(f"{scenario}\t{backend}\t{profile}\t{format_counts(c)}")
        return
    table = Table(title=title)
    for col in ("scenario", "backend", "profile", "outcomes"):
        table.add_column(col)
    styles = {"ok": "green", "not_applicable": "dim"}
    for (scenario, backend, profile), c in counts.items():
        style = styles.get(next(iter(c)), "red") if len(c) == 1 else "yellow"
        table.add_row(escape(scenario), backend, profile, format_counts(c), style=style)
    Console().print(table)
    total = Counter(r["outcome"] for r in records)
    print(f"{len(records)} runs: " + ", ".join(f"{o} {n}" for o, n in sorted(total.items())))
