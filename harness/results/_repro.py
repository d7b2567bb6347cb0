"""Every command that reproduces a result, built in one place with ``shlex``.

A repro line is how a reader gets from a table to a running case, so each is a complete command:
``python -m harness run`` in an environment that has the versions installed, ``nox -s
"matrix(starlette=...)"`` that builds that environment first, or ``pip install ... && python -m
harness serve-check`` for a real-server cell. Arguments are quoted by ``shlex.join``; only nox's
session selector is written by hand, and only for ids that need no quoting inside it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

_SAFE_ID = re.compile(r"^[A-Za-z0-9._+-]+$")


def run_args(
    scenario: str,
    backend: str,
    profile: str,
    *,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[str]:
    """``harness run`` arguments that select exactly one row (and, on trio, one seed); a user app's
    target, path and method come along from the record's ``params``."""
    args = ["--scenario", scenario, "--backend", backend, "--profile", profile, *app_args(params)]
    if params and params.get("keep_middleware") is not None:
        args += ["--keep-middleware", ",".join(str(i) for i in params["keep_middleware"])]
    if seed is not None:
        args += ["--seed", str(seed)]
    return args


def app_args(params: Mapping[str, Any] | None) -> list[str]:
    """A user app's target, folder, path, method and body from a record's ``params``: options that
    ``harness run``, the matrix, the gate and bisect all take."""
    if not params or "app" not in params:
        return []
    args = ["--app", str(params["app"]), "--path", str(params.get("path", "/"))]
    args += ["--method", str(params.get("method", "GET"))]
    if params.get("app_dir"):
        args += ["--app-dir", str(params["app_dir"])]
    if params.get("body"):
        args += ["--body", str(params["body"])]
    return args


def run_command(record: Mapping[str, Any]) -> str:
    """The one-liner that replays this run in an environment with the same versions installed."""
    args = run_args(
        record["scenario"], record["backend"], record["profile"], seed=record.get("seed"), params=record.get("params")
    )
    return shlex.join(["python", "-m", "harness", "run", *args])


def nox_session(version: str) -> str:
    """``"matrix(starlette='0.37.2')"``: nox's selector for one cell, quoted for a POSIX shell."""
    selector = f"matrix(starlette='{version}')"
    return f'"{selector}"' if _SAFE_ID.match(version) else shlex.quote(selector)


def nox_command(version: str, args: Sequence[str]) -> str:
    """Build the cell's environment with nox, then run ``args`` in it."""
    return f"nox -s {nox_session(version)} -- {shlex.join(args)}"


def nox_command_template(
    scenario: str,
    backend: str,
    profile: str,
    *,
    repeat: int = 1,
    params: Mapping[str, Any] | None = None,
    matrix_args: Sequence[str] = (),
) -> str:
    """``nox_command`` for any release of one row: ``{version}`` and ``{seed}`` (empty, or ``
    --seed N``) are left to fill, so a report holds one template per row instead of one line per
    cell. ``matrix_args`` are what the matrix needs to know the cell at all (``--fastapi SPEC``,
    the app's ``--requirements``/``--with``/``--project``); a user app's own options come from
    ``params``."""
    args = [*matrix_args, *run_args(scenario, backend, profile), *app_args(params), "--repeat", str(repeat)]
    return "nox -s \"matrix(starlette='{version}')\" -- " + _escape(shlex.join(args)) + "{seed}"


def run_command_template(scenario: str, backend: str, profile: str, *, params: Mapping[str, Any] | None = None) -> str:
    """``run_command`` for any release of one row, ``{seed}`` left to fill."""
    args = run_args(scenario, backend, profile, params=params)
    return _escape(shlex.join(["python", "-m", "harness", "run", *args])) + "{seed}"


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def seed_suffix(seed: int | None) -> str:
    """What fills ``{seed}`` in a template."""
    return "" if seed is None else f" --seed {seed}"


def serve_check_command(packages: Sequence[str], scenario: str, server: str, repeat: int) -> str:
    """Install the exact versions, then rerun one real-server cell."""
    install = shlex.join(["pip", "install", *dict.fromkeys(packages)])
    run = shlex.join(
        ["python", "-m", "harness", "serve-check", "--scenario", scenario, "--server", server, "--repeat", str(repeat)]
    )
    return f"{install} && {run}"
