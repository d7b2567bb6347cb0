"""``python -m harness``: list the catalogue, run scenarios against the installed Starlette.

Exit status: 0 done; 1 a verdict failed (``gate``, ``probe``, ``serve-check --strict``); 2 bad input,
one line on stderr (``harness: error: ...``); 3 something outside the project could not be had (a
server would not start, the package index); 130 interrupted; 141 the reader of stdout went away.
A run that finds the bug has done its job: verdicts of ``run`` never change the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import defaults, options
from harness.errors import HarnessError, Unavailable, UsageError
from harness.results import check_output, dumps, format_counts, loaded_sources, write_atomic
from harness.run import RunConfig, environment, plan, run_jobs
from harness.run.backends import backend_class
from harness.scenario import (
    DEFAULT_PROFILES,
    AppSpec,
    Scenario,
    app_scenarios,
    dist_version,
    get_profile,
    load_app,
    load_catalogue,
    parse_body,
    select,
)


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(prog="python -m harness", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=options.Parser)
    sub.add_parser("list", help="list the scenarios with their descriptions")
    commands = {
        "run": ("run scenarios against the Starlette installed here", options.RUN),
        "gate": ("compare two result sets; non-zero when a cell got worse", options.GATE_FILES),
        "serve-check": ("run scenarios under real servers and compare with the scripted driver", options.SERVE_CHECK),
        "probe": ("check that each installed server still behaves as its profile says", options.PROBE),
        "report": ("build the report from result files (e.g. merged CI shards)", options.REPORT),
        "shrink": ("the smallest part of your app's middleware list that still fails", options.SHRINK),
        "fit-delay": ("fit a profile's receive() delay distribution to real-server rates", options.FIT_DELAY),
    }
    for name, (text, uses) in commands.items():
        options.add_options(sub.add_parser(name, help=text), uses)
    return parser


def _version() -> str:
    """The installed distribution's version (a checkout that is not installed says so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disconnect-harness")
    except PackageNotFoundError:
        return "(not installed: a checkout)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        build_parser().print_help(sys.stderr)  # a bare command asks what it can do
        return 2
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv  # ``run`` starts its worker with the same command line
        commands: dict[str, Any] = {
            "list": lambda a: _list(),
            "gate": _gate,
            "report": _report,
            "shrink": _shrink,
            "fit-delay": _fit_delay,
            "serve-check": _servers,
            "probe": _servers,
        }
        result: int = commands.get(args.command, _run)(args)
        return result
    except Unavailable as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 3
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a shell tool does on SIGPIPE. Python
        # would flush stdout again at exit and complain, so point it at /dev/null first.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _servers(args: argparse.Namespace) -> int:
    from harness.servers import check_main

    return check_main(args)


def _list() -> int:
    for s in load_catalogue():
        print(f"{s.name}\t{s.description}\t[{s.source}]")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from harness.results import compare, publish, read_records

    if args.junit is not None:
        check_output(args.junit, "--junit")
    before = [r for f in args.baseline for r in read_records(f)]
    after = [r for f in args.candidate for r in read_records(f)]
    diffs, b, a = compare(before, after)
    return publish(diffs, args.strict, b, a, args.junit)


def _report(args: argparse.Namespace) -> int:
    from harness.results import report_from_files

    check_output(args.out, "--out", directory=True)
    paths = report_from_files(args.files, args.out)
    print("report: " + ", ".join(str(p) for p in paths))
    return 0


def _shrink(args: argparse.Namespace) -> int:
    """Every failing cell of the app, shrunk to the fewest middleware entries it still fails with."""
    from harness.run import shrink
    from harness.scenario import describe_middleware, middleware_list

    spec = _app_spec(args)
    entries = middleware_list(load_app(spec), spec.target)
    backends = options.csv_values(args.backend) or list(defaults.BACKENDS)
    profiles = options.csv_values(args.profile) or list(DEFAULT_PROFILES)
    for b in backends:
        backend_class(b)
    for p in profiles:
        get_profile(p)
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1")
    scenarios = select(app_scenarios(spec), list(args.scenario or ()))
    config = RunConfig(virtual_time=not args.real_time)
    if args.real_time:
        config = RunConfig(timeout=min(defaults.RUN_TIMEOUT, defaults.REAL_TIMEOUT), virtual_time=False)
    records = run_jobs(plan(scenarios, backends=backends, profiles=profiles, repeats=args.repeat), config)
    env = environment()
    print(f"{spec.target}: {len(entries)} middleware entries, outermost first (Starlette {env['starlette']}):")
    for i, entry in enumerate(entries):
        print(f"  #{i} {describe_middleware(entry)}")
    failing = _failing_cells(records)
    if not failing:
        print(f"every cell is ok ({len(records)} runs): nothing to shrink")
        return 0
    by_name = {s.name: s for s in scenarios}
    for (name, backend, profile), outcome in failing.items():
        found = shrink(by_name[name], backend, profile, outcome, len(entries), repeats=args.repeat, config=config)
        _print_shrunk(found, entries, describe_middleware)
    return 0


def _failing_cells(records: Sequence[Any]) -> dict[tuple[str, str, str], str]:
    """Each cell that is not ok, with the failure to keep while shrinking (``failure_of``; the bug
    under study, ``no_response_returned``, before lesser outcomes)."""
    from harness.run import OUTCOMES, failure_of

    bad: dict[tuple[str, str, str], set[tuple[int, str]]] = defaultdict(set)
    for r in records:
        if r.outcome not in ("ok", "not_applicable"):
            bad[(r.scenario, r.backend, r.profile)].add((OUTCOMES.index(r.outcome), failure_of(r)))
    return {k: min(v)[1] for k, v in bad.items()}


def _print_shrunk(found: Any, entries: Sequence[Any], describe: Any) -> None:
    from harness.results import run_command

    cell = f"{found.scenario} {found.backend}/{found.profile}"
    if found.example is None:
        print(f"\n{cell}: {found.outcome} did not recur in the runs of the full stack; rerun with more --repeat")
        return
    kept = ", ".join(f"#{i} {describe(entries[i])}" for i in found.minimal) or "none: the endpoint alone"
    print(f"\n{cell}: {found.outcome} with {len(found.minimal)} of {found.full} entries ({found.tests} subsets tried)")
    print(f"  minimal: {kept}")
    if found.minimal:
        rest = ", ".join(f"#{i}" for i in range(found.full) if i not in found.minimal) or "-"
        print(f"  without any one of these it does not happen; not needed for it: {rest}")
    record = found.example.to_json()
    print(f"  receive: {', '.join(record['receive_calls']) or '-'}")
    print(f"  sent: {', '.join(m['type'] for m in record['sent']) or 'nothing'}; {record['detail']}")
    print(f"  replay it: {run_command(record)}")


def _fit_delay(args: argparse.Namespace) -> int:
    from harness.servers import cells_from_agreement, fit_weights

    servers = options.csv_values(args.server) or ["granian"]
    if len(servers) != 1:
        raise UsageError(f"--server {','.join(servers)}: fit one server's profile at a time")
    rows = [row for f in args.files for row in _agreement_cells(f)]
    cells = cells_from_agreement(rows, servers[0])
    fit = fit_weights(cells)
    print(f"{servers[0]}: {fit.runs} real runs over {len(cells)} cells, {fit.unexplained} no delay explains")
    print(f"receive_delay_weights={fit.weights!r}")
    for c in cells:
        predicted = {k: round(v * 100) for k, v in fit.predicted(c).items()}
        print(f"  {c.name}: real {format_counts(c.real)}; fitted {predicted} (% of runs)")
    return 0


def _agreement_cells(path: Any) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not a readable agreement.json ({e}); pass the file nox -s servers wrote") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise UsageError(f"{path}: no 'cells' list; pass the agreement.json nox -s servers wrote")
    return [c for c in cells if isinstance(c, dict)]


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


def _app_spec(args: argparse.Namespace) -> AppSpec:
    """``--app`` and its companions as an ``AppSpec`` (paths made absolute for repro lines)."""
    body_arg = args.body or ""
    if body_arg.startswith("@"):
        body_arg = "@" + str(Path(body_arg[1:]).resolve())
    app_dir = args.app_dir if args.app_dir == "." else str(Path(args.app_dir).resolve())
    keep = _keep(getattr(args, "keep_middleware", None))
    return AppSpec(args.app, app_dir, args.path, args.method, parse_body(args.body), body_arg, keep=keep)


def _keep(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        keep = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--keep-middleware {text}: write entry numbers, e.g. --keep-middleware 0,2,3") from None
    if any(i < 0 for i in keep) or len(set(keep)) != len(keep):
        raise UsageError(f"--keep-middleware {text}: entry numbers are distinct and start at 0")
    return keep


def _scenarios(args: argparse.Namespace) -> tuple[list[Scenario], bool]:
    """What ``run`` runs (the catalogue, an ad-hoc scenario, or the user's app) and whether it needs
    the real clock."""
    for option in ("stack", "endpoint", "receive"):
        if getattr(args, option) is not None and not getattr(args, option).strip():
            hint = "; write none for the bare endpoint" if option == "stack" else ""
            raise UsageError(f"--{option} '': empty{hint}")
    adhoc = any(getattr(args, o) is not None for o in ("stack", "endpoint", "receive"))
    if args.app:
        if adhoc:
            raise UsageError("--app and the ad-hoc --stack/--endpoint/--receive do not mix; pick one")
        spec = _app_spec(args)
        load_app(spec)  # fail now, in one line, if it does not import or is not ASGI
        # Virtual time, at real speed while the app's threads or real I/O work (backends._realwork).
        return select(app_scenarios(spec), list(args.scenario or ())), args.real_time
    if adhoc:
        if args.scenario:
            raise UsageError("--scenario and the ad-hoc --stack/--endpoint/--receive do not mix; pick one")
        return [_adhoc(args)], args.real_time
    return select(load_catalogue(), list(args.scenario or ())), args.real_time


def _backends(args: argparse.Namespace) -> list[str]:
    return options.csv_values(args.backend) or list(defaults.BACKENDS)


def _profiles(args: argparse.Namespace) -> list[str]:
    return options.csv_values(args.profile) or list(DEFAULT_PROFILES)


def _checked_run_options(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Every option of ``run`` checked before anything runs (so no result is lost to a bad one):
    the backends and profiles to use."""
    backends = _backends(args)
    for b in backends:
        backend_class(b)  # one line naming the choices for an unknown one
    profiles = _profiles(args)
    for p in profiles:
        get_profile(p)
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1")
    if args.settle < 0 or args.settle == 1:
        raise UsageError(f"--settle {args.settle}: must be 0 (off) or at least 2 (runs that must agree)")
    _check_bounds(args)
    if dist_version("starlette") is None:
        raise Unavailable(
            f"Starlette is not installed for {sys.executable}; pip install starlette here, or run a matrix cell"
        )
    for path, option in ((args.out, "--out"), (args.sources_out, "--sources-out")):
        if path is not None:
            check_output(path, option)
    return backends, profiles


def _check_bounds(args: argparse.Namespace) -> None:
    import math

    for name in ("timeout", "real_timeout", "import_timeout"):
        value = getattr(args, name, None)
        if value is None:
            continue
        if not math.isfinite(value) or value <= 0:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} {value}: must be a positive number of seconds")
    if args.repeat > MAX_REPEAT:
        raise UsageError(f"--repeat {args.repeat}: at most {MAX_REPEAT} runs per scenario, backend and profile")


#: A bound on ``--repeat``: records stream to disk, but the plan of runs is a list in memory.
MAX_REPEAT = 100_000


def _run(args: argparse.Namespace) -> int:
    _checked_run_options(args)
    if args.worker is not None:
        return _work(args)
    return _supervise(args)


def _supervise(args: argparse.Namespace) -> int:
    """The process the user started: it watches a worker play the runs (``harness.run._isolated``)
    and owns the results file, which becomes ``--out`` only when every run is in it."""
    import os
    import signal
    import tempfile

    from harness.run import Incomplete, Supervised, WatchBounds, supervise

    folder = args.out.parent if args.out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    name = args.out.name if args.out is not None else "runs.jsonl"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp, dump = Path(tmp_name), Path(tmp_name + ".dump")

    def worker(write_fd: int, *, resume: int, first_attempt: dict[str, Any] | None) -> list[str]:
        spec = {"fd": write_fd, "pid": os.getpid(), "dump": str(dump), "results": str(tmp), "resume": resume}
        if first_attempt is not None:
            spec["first_attempt"] = first_attempt
        return [sys.executable, "-m", "harness", *args.argv, "--worker", json.dumps(spec)]

    def append(record: dict[str, Any]) -> None:
        with tmp.open("a", encoding="utf-8") as f:
            f.write(dumps(record) + "\n")

    previous = signal.signal(signal.SIGTERM, _terminated)
    paths = (str(defaults.PROJECT_ROOT), os.environ.get("PYTHONPATH"))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)  # the worker imports this harness
    incomplete: Incomplete | None = None
    try:
        bounds = WatchBounds(run=_run_bound(args), start=args.import_timeout)
        try:
            seen: Supervised = supervise(worker, tmp, dump, bounds, append)
        except Incomplete as e:
            incomplete, seen = e, Supervised()
        if seen.refused is not None:
            return seen.refused
        counts = None if args.quiet else _table_counts(tmp)
        if args.out is not None:
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, args.out)
    finally:
        signal.signal(signal.SIGTERM, previous)
        tmp.unlink(missing_ok=True)
        dump.unlink(missing_ok=True)
    _notes(seen)
    if counts is not None:
        _print_table(counts)
    if incomplete is not None:
        kept = f"; the runs recorded so far are in {args.out}" if args.out is not None else ""
        print(f"harness: error: {incomplete}{kept}", file=sys.stderr)
        return 1
    return 0


def _notes(seen: Any) -> None:
    """What the supervisor did that the table does not say: runs it recorded, threads it ended."""
    for r in seen.taken_over:
        print(f"harness: {r['scenario']} {r['backend']} {r['profile']} #{r['repeat']}: {r['detail']}", file=sys.stderr)
    if seen.threads_left:
        print(
            f"harness: note: the app left {len(seen.threads_left)} thread(s) running "
            f"({', '.join(seen.threads_left)}); they were ended with the worker process",
            file=sys.stderr,
        )


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C: worker ended, no partial file left


def _run_bound(args: argparse.Namespace) -> float:
    """Real seconds one run may take before its worker is called blocked: the in-loop backstop
    (the real clock's own bound under --real-clock) plus the time cancellation and cleanup take."""
    from harness.run import WATCHDOG_GRACE

    inner = min(args.timeout, args.real_timeout) if args.real_time else args.real_timeout
    return float(inner) + WATCHDOG_GRACE


def _table_counts(path: Path) -> dict[tuple[str, str, str], Counter[str]]:
    """Outcome counts per (scenario, backend, profile) of the records just written, read one line
    at a time: the table needs no record kept."""
    counts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                counts[(r["scenario"], r["backend"], r["profile"])][r["outcome"]] += 1
    return counts


def _work(args: argparse.Namespace) -> int:
    """The worker: import the app, plan, play the runs from where the last worker stopped, append
    each record as it ends. It never writes ``--out``; the supervisor does."""
    import threading

    from harness.run import Channel, become_worker, lingering_threads, reporting_exits, stream_settled

    spec = json.loads(args.worker)
    become_worker(int(spec["pid"]), Path(spec["dump"]))
    channel = Channel(int(spec["fd"]))
    before = threading.enumerate()
    results = Path(spec["results"])
    with reporting_exits(channel):
        scenarios, real_time = _scenarios(args)  # imports the app: bounded by the supervisor
        config = RunConfig(
            timeout=min(args.timeout, args.real_timeout) if real_time else args.timeout,
            real_timeout=args.real_timeout,
            virtual_time=not real_time,
            resolution=args.resolution,
        )
        jobs = plan(scenarios, backends=_backends(args), profiles=_profiles(args), repeats=args.repeat, seed=args.seed)
        resume = int(spec["resume"])
        earlier = []
        if resume and args.settle:
            from harness.results import read_records

            earlier = [((r["scenario"], r["backend"], r["profile"]), r["outcome"]) for r in read_records(results)]
        known = set(lingering_threads(before))  # started at import: reported at the end, not by a run
        first_attempt = spec.get("first_attempt")
        channel.send("ready", runs=len(jobs) - resume)
        with results.open("a", encoding="utf-8") as out:  # earlier workers' records stay

            def write(record: Any) -> None:
                nonlocal first_attempt
                data = record.to_json()
                if first_attempt is not None:
                    data["first_attempt"], first_attempt = first_attempt, None
                new = [t for t in lingering_threads(before) if t not in known]
                if new:
                    data["threads_left"] = [t.name for t in new]
                    known.update(new)
                out.write(dumps(data) + "\n")
                out.flush()

            def started(base: Any) -> None:
                channel.send("start", base=dict(base))

            stream_settled(jobs, config, args.settle, write, on_start=started, skip=resume, earlier=earlier)
        if args.sources_out is not None:
            write_atomic(args.sources_out, [json.dumps(loaded_sources(), indent=0)])
        left = [t.name for t in lingering_threads(before)]
        channel.send("done", threads=left)
    if left:
        import os

        os._exit(0)  # those threads would keep the process alive: every record is written already
    return 0


def _print_table(counts: Mapping[tuple[str, str, str], Counter[str]]) -> None:
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
    total: Counter[str] = sum(counts.values(), Counter())
    print(f"{total.total()} runs: {format_counts(total, fractions=False)}")
