"""disconnect-harness: reproduce Starlette's BaseHTTPMiddleware under client disconnects.

The package mirrors the flow of data, one subpackage per step, each depending only on the ones
before it:

    scenario  ->  run  ->  results  ->  servers  ->  matrix      (cli and the noxfile on top)

- ``harness.scenario``: what a run is made of (stack, endpoint, client script, server profile);
- ``harness.run``: one run on an event loop, classified into one ``RunRecord``;
- ``harness.results``: results files, the store, report, baseline, gate diff, real-server verdict;
- ``harness.servers``: the same scenario under a real server on loopback, compared with ``run``;
- ``harness.matrix``: every release in its own environment, and the nox sessions.

``errors`` (the one exception tree) and ``defaults`` (every default) sit below them all. This module
states the public API; importing it loads none of the subpackages, starts nothing and registers
nothing: each name is imported from its subpackage on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.errors import ConfigError, HarnessError, ScriptError, UsageError
    from harness.results import verdict
    from harness.run import (
        BACKENDS,
        OUTCOMES,
        Backend,
        Bounds,
        Drive,
        Job,
        Outcome,
        RunConfig,
        RunRecord,
        classify,
        drive,
        environment,
        get_backend,
        make_scope,
        plan,
        run_job,
        run_jobs,
        run_one,
    )
    from harness.scenario import (
        LAYERS,
        PROFILES,
        ReceiveScript,
        Scenario,
        ServerProfile,
        get_profile,
        load_catalogue,
        parse_script,
        parse_stack,
        select,
        sweep,
    )
    from harness.servers import SERVERS, CheckConfig, ServerSpec, check_cell, get_server, run_probe

#: Where each public name lives. Nothing is imported until a name is used, so ``import harness``
#: (and ``python -m harness``) pays only for what it touches.
_HOME = {
    **dict.fromkeys(
        (
            "BACKENDS",
            "OUTCOMES",
            "Backend",
            "Bounds",
            "Drive",
            "Job",
            "Outcome",
            "RunConfig",
            "RunRecord",
            "classify",
            "drive",
            "environment",
            "get_backend",
            "make_scope",
            "plan",
            "run_job",
            "run_jobs",
            "run_one",
        ),
        "harness.run",
    ),
    **dict.fromkeys(("ConfigError", "HarnessError", "ScriptError", "UsageError"), "harness.errors"),
    "verdict": "harness.results",
    **dict.fromkeys(
        (
            "LAYERS",
            "PROFILES",
            "ReceiveScript",
            "Scenario",
            "ServerProfile",
            "get_profile",
            "load_catalogue",
            "parse_script",
            "parse_stack",
            "select",
            "sweep",
        ),
        "harness.scenario",
    ),
    **dict.fromkeys(
        ("SERVERS", "CheckConfig", "ServerSpec", "check_cell", "get_server", "run_probe"), "harness.servers"
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BACKENDS",
    "LAYERS",
    "OUTCOMES",
    "PROFILES",
    "SERVERS",
    "Backend",
    "Bounds",
    "CheckConfig",
    "ConfigError",
    "Drive",
    "HarnessError",
    "Job",
    "Outcome",
    "ReceiveScript",
    "RunConfig",
    "RunRecord",
    "Scenario",
    "ScriptError",
    "ServerProfile",
    "ServerSpec",
    "UsageError",
    "check_cell",
    "classify",
    "drive",
    "environment",
    "get_backend",
    "get_profile",
    "get_server",
    "load_catalogue",
    "make_scope",
    "parse_script",
    "parse_stack",
    "plan",
    "run_job",
    "run_jobs",
    "run_one",
    "run_probe",
    "select",
    "sweep",
    "verdict",
]
