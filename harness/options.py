"""The one registry of command-line options, for every ``python -m harness`` command and nox session.

An option is declared once here (its flags, type, help) and each command names the options it
takes, overriding a default where that command needs another one (``--repeat`` is 1 for ``run``, 5
for the gate, 10 for bisect), as nox's own ``_options.py`` does for its sessions. A parse error is a
``UsageError``: one line naming the command and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from harness import defaults
from harness.errors import UsageError


@dataclass(frozen=True)
class Option:
    """One option as argparse takes it; ``kwargs`` are ``add_argument``'s."""

    flags: tuple[str, ...]
    help: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def add_to(self, parser: argparse.ArgumentParser, **overrides: Any) -> None:
        kwargs = {"help": self.help, **self.kwargs, **overrides}
        if kwargs.get("action") == "append" and "default" not in overrides and not kwargs.get("required"):
            kwargs["default"] = []  # a fresh list per parser: argparse appends to the default itself
        parser.add_argument(*self.flags, **kwargs)


def _opt(*flags: str, help: str, **kwargs: Any) -> Option:
    return Option(tuple(flags), help, kwargs)


#: Every option of every command, by name.
OPTIONS: dict[str, Option] = {
    # what to run
    "scenario": _opt("--scenario", action="append", metavar="PATTERN", help="name or glob (repeatable)"),
    "backend": _opt("--backend", action="append", help="asyncio, trio, asyncio+uvloop; repeatable or comma-separated"),
    "profile": _opt("--profile", action="append", help="server profiles; repeatable or comma-separated"),
    "server": _opt("--server", action="append", help="real servers, e.g. uvicorn-h11; repeatable or comma-separated"),
    "repeat": _opt("--repeat", type=int, help="runs per scenario, backend and profile"),
    "seed": _opt("--seed", type=int, help="trio seed of the first repeat (repeat r uses seed+r)"),
    "timeout": _opt("--timeout", type=float, default=defaults.RUN_TIMEOUT, help="bound on a run's clock (virtual s)"),
    "settle": _opt(
        "--settle",
        type=int,
        default=0,
        metavar="N",
        help="stop repeating a cell that draws nothing from its seed after N runs that agree (0: never)",
    ),
    "real-timeout": _opt(
        "--real-timeout", type=float, default=defaults.REAL_TIMEOUT, help="wall-clock backstop per run"
    ),
    "real-time": _opt(
        "--real-clock",
        "--real-time",
        dest="real_time",
        action="store_true",
        help="use the real clock instead of virtual time (which runs at real speed while threads or real I/O work)",
    ),
    "stack": _opt("--stack", help="ad-hoc scenario: layers, e.g. 'asgi,base*4'"),
    "endpoint": _opt("--endpoint", help="ad-hoc scenario: endpoint kind (default slow)"),
    "receive": _opt("--receive", help="ad-hoc scenario: client script, e.g. 'request,wait:idle,disconnect'"),
    # the user's app
    "app": _opt("--app", help="your ASGI app, module:attribute or module:factory(), run under every client script"),
    "app-dir": _opt("--app-dir", default=".", help="where to import --app from (default: the current directory)"),
    "path": _opt("--path", default="/", help="--app: the request path (query string allowed)"),
    "method": _opt("--method", default="GET", help="HTTP method (ad-hoc scenario or --app)"),
    "fastapi": _opt(
        "--fastapi",
        action="append",
        metavar="SPEC",
        help="also one cell per FastAPI release matching SPEC (e.g. '>=0.100'), on the Starlette it resolves to",
    ),
    "shrink": _opt("--shrink", action="store_true", help="--app: when it fails, shrink the app's middleware on --to"),
    "keep-middleware": _opt(
        "--keep-middleware",
        metavar="I,J",
        help="--app: run with only these entries of the app's middleware list (0 is the outermost)",
    ),
    "body": _opt("--body", help="--app: the request body, TEXT or @file"),
    # the matrix
    "matrix": _opt("--matrix", default=defaults.MATRIX_FILE, help="the matrix file"),
    "versions": _opt("--versions", nargs="+", default=[], help="only these versions or specifiers"),
    "resolution": _opt("--resolution", choices=defaults.RESOLUTIONS, help="how dependencies are chosen"),
    "jobs": _opt("--jobs", type=int, help="cells run at once (default: matrix.toml, 0 = cores)"),
    "fresh": _opt("--fresh", action="store_true", help="redo cells even when their results are current"),
    "offline": _opt("--offline", action="store_true", help="use the cached release list, do not ask the index"),
    "results": _opt("--results", default=defaults.RESULTS_DIR, help="where results and the report go"),
    "shard": _opt("--shard", help="I/N: run only the I-th of N slices of the cells (for CI fan-out)"),
    "starlette": _opt(
        "--starlette",
        action="append",
        metavar="TARGET",
        help="add a development Starlette as a cell: a checkout, a wheel or a git+ URL",
    ),
    # upgrade questions
    "from": _opt(
        "--from",
        dest="old",
        required=True,
        help="what you run now: a Starlette release, starlette==X, fastapi==X, a checkout, a wheel or a git+ URL",
    ),
    "to": _opt("--to", dest="new", required=True, help="what you want (the same forms as --from)"),
    # the app's own environment
    "requirements": _opt(
        "--requirements", action="append", type=Path, metavar="FILE", help="--app: a pip requirements file (repeatable)"
    ),
    "with": _opt("--with", dest="with_", action="append", metavar="REQ", help="--app: a requirement (repeatable)"),
    "project": _opt("--project", type=Path, metavar="DIR", help="--app: install this project (editable) with its deps"),
    "side-resolution": _opt(
        "--resolution",
        choices=("highest", "lowest"),
        default="highest",
        help="a fastapi==X side: the newest Starlette it allows (default) or the oldest",
    ),
    "good": _opt("--good", required=True, help="a release that behaves as you want"),
    "bad": _opt("--bad", required=True, help="a release that does not"),
    "strict": _opt("--strict", action="store_true", help="fail on any change, not only on a worse cell"),
    "junit": _opt("--junit", type=Path, help="write JUnit XML here (one test case per cell)"),
    "baseline": _opt("--baseline", nargs="+", type=Path, required=True, help="results (JSONL) of the old version"),
    "candidate": _opt("--candidate", nargs="+", type=Path, required=True, help="results (JSONL) of the new version"),
    # real servers
    "time-scale": _opt("--time-scale", type=float, default=defaults.TIME_SCALE, help="real seconds per virtual second"),
    "app-timeout": _opt(
        "--app-timeout", type=float, default=defaults.APP_TIMEOUT, help="real seconds before an app run is a hang"
    ),
    "probe": _opt("--probe", action="store_true", help="also probe each server against its profile"),
    "logs": _opt("--logs", type=Path, default=Path(defaults.SERVER_LOGS_DIR), help="server logs go here"),
    # output
    "out": _opt("--out", type=Path, help="write the results here (atomically)"),
    "files": _opt("files", nargs="+", type=Path, help="results files (JSONL)"),
    "quiet": _opt("--quiet", action="store_true", help="no table"),
    "internal-resolution": _opt("--resolution", help=argparse.SUPPRESS),
    "internal-sources": _opt("--sources-out", type=Path, help=argparse.SUPPRESS),
    "import-timeout": _opt(
        "--import-timeout",
        type=float,
        default=defaults.IMPORT_TIMEOUT,
        help="real seconds the app may take to import before it counts as blocked",
    ),
    #: The supervisor's instructions to its worker process (``harness.run._isolated``), as JSON.
    "internal-worker": _opt("--worker", help=argparse.SUPPRESS),
}


class Parser(argparse.ArgumentParser):
    """argparse with bad input as a ``UsageError`` (one line, exit 2) instead of usage and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}" if self.prog.startswith("nox") else message)


_P = TypeVar("_P", bound=argparse.ArgumentParser)

#: An option a command takes: its registry name, or (name, overrides of its argparse keywords).
Use = str | tuple[str, Mapping[str, Any]]


def add_options(parser: _P, uses: Sequence[Use]) -> _P:
    for use in uses:
        name, overrides = (use, {}) if isinstance(use, str) else use
        OPTIONS[name].add_to(parser, **overrides)
    return parser


def parser(prog: str, uses: Sequence[Use], *, description: str | None = None, help: bool = True) -> Parser:
    """A parser for one command or nox session, from the registry."""
    return add_options(Parser(prog=prog, description=description, add_help=help), uses)


def csv_values(values: Sequence[str] | None) -> list[str]:
    """Repeatable options that also take comma-separated lists: ``--backend asyncio,trio``.
    (Not ``--scenario``: scenario names contain commas.)"""
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


# --- what each command and session takes -------------------------------------------------------------

#: ``python -m harness run``.
RUN: list[Use] = [
    "scenario",
    "backend",
    "profile",
    ("repeat", {"default": defaults.RUN_REPEATS}),
    ("seed", {"default": defaults.SEED}),
    "settle",
    "timeout",
    "real-timeout",
    "real-time",
    "stack",
    "endpoint",
    "receive",
    "method",
    "app",
    "app-dir",
    "path",
    "body",
    "keep-middleware",
    ("out", {"help": "write one JSON line per run here (atomically)"}),
    "import-timeout",
    "internal-resolution",
    "internal-sources",
    "internal-worker",
    "quiet",
]
GATE_FILES: list[Use] = ["baseline", "candidate", "strict", "junit"]
SERVE_CHECK: list[Use] = [
    ("scenario", {"required": True}),
    "server",
    ("repeat", {"default": defaults.SERVER_REPEATS, "help": "requests per cell, and scripted runs"}),
    "time-scale",
    "app-timeout",
    "probe",
    ("out", {"help": "write the cells (and probes) here as JSON"}),
    "logs",
    ("strict", {"help": "exit 1 on a disagreement, a failed cell or probe"}),
]
PROBE: list[Use] = [
    ("server", {"help": "servers to probe (default: the installed ones)"}),
    ("out", {"help": "write the probe results here as JSON"}),
    "logs",
]
#: ``python -m harness fit-delay``.
FIT_DELAY: list[Use] = [
    ("files", {"help": "agreement.json files of the servers check (cells carry scripted_by_delay)"}),
    ("server", {"help": "the server whose profile to fit (default granian)"}),
]
#: ``python -m harness shrink``.
SHRINK: list[Use] = [
    ("app", {"required": True}),
    "app-dir",
    "path",
    "method",
    "body",
    ("scenario", {"help": "only these client scripts, e.g. 'app[disconnect-now]'"}),
    "backend",
    "profile",
    ("repeat", {"default": defaults.GATE_REPEATS, "help": "runs per subset tried (any failing one counts)"}),
    "real-time",
]
REPORT: list[Use] = [
    "files",
    ("out", {"default": Path(defaults.RESULTS_DIR), "help": "where report.{md,json,html} go"}),
]

#: A user's app and its own environment, for the matrix, the gate and bisect alike.
_APP_OPTIONS: list[Use] = [
    "app",
    "app-dir",
    "path",
    "method",
    "body",
    "real-time",
    "requirements",
    "with",
    "project",
]
#: ``nox -s matrix -- ...``.
MATRIX: list[Use] = [
    "matrix",
    "versions",
    "scenario",
    "backend",
    "profile",
    "repeat",
    "seed",
    "resolution",
    "jobs",
    "fresh",
    "offline",
    "results",
    "shard",
    "starlette",
    "fastapi",
    *_APP_OPTIONS,
    ("strict", {"help": "also fail when a cell is skipped (no interpreter, a release the pins cannot run)"}),
]
_UPGRADE_COMMON: list[Use] = [
    "scenario",
    "backend",
    "profile",
    *_APP_OPTIONS,
    "side-resolution",
    "matrix",
    "offline",
    "fresh",
    ("results", {"default": defaults.UPGRADE_RESULTS_DIR, "help": "where the probes' results go"}),
]
#: ``nox -s gate -- ...`` and ``nox -s bisect -- ...``.
GATE: list[Use] = [
    "from",
    "to",
    ("repeat", {"default": defaults.GATE_REPEATS}),
    ("strict", {"help": "fail on any change"}),
    "junit",
    "shrink",
    *_UPGRADE_COMMON,
]
BISECT: list[Use] = [
    "good",
    "bad",
    ("repeat", {"default": defaults.BISECT_REPEATS, "help": "runs per probe (default 10, see the README)"}),
    *_UPGRADE_COMMON,
]
#: ``nox -s servers -- ...``.
SERVERS: list[Use] = [
    ("matrix", {"help": "the file with the [servers] table"}),
    ("versions", {"help": "only the checks of these releases ('newest' too)"}),
    ("scenario", {"help": "replace each check's scenarios"}),
    ("server", {"help": "replace the servers (comma-separated)"}),
    ("repeat", {"help": "requests per cell"}),
    ("results", {"help": "where agreement.{md,json} and the logs go"}),
    ("offline", {"help": "use the cached release list"}),
    ("strict", {"help": "fail when a cell disagrees or a probe fails"}),
    ("fresh", {"help": "accepted as everywhere; the servers check never reuses stored results"}),
]


#: The nox sessions whose options come from this registry, for ``nox -s NAME -- --help``.
SESSION_OPTIONS: dict[str, list[Use]] = {"matrix": MATRIX, "gate": GATE, "bisect": BISECT, "servers": SERVERS}


def session_help(argv: Sequence[str]) -> bool:
    """Print the options of the sessions ``argv`` names when it asks for help after ``--`` (or
    ``--help-matrix``); True when it did. Sessions that pass their arguments on (``tests`` gives
    them to pytest) are left alone."""
    args = list(argv)
    after = args[args.index("--") + 1 :] if "--" in args else []
    before = args[: args.index("--")] if "--" in args else args
    if "--help-matrix" in args:
        names = ["matrix"]
    elif "--help" in after or "-h" in after:
        names = [before[i + 1] for i, a in enumerate(before[:-1]) if a in ("-s", "--session", "--sessions", "-e")]
        names = [n.split("(", 1)[0] for n in names] or ["matrix"]
        if not all(n in SESSION_OPTIONS for n in names):
            return False
    else:
        return False
    for name in dict.fromkeys(names):
        parser(f"nox -s {name} --", SESSION_OPTIONS[name], help=False).print_help()
    return True
