"""Every default of the harness, in one place, so a command, a nox session and matrix.toml agree.

A default that two steps share (the run bounds, the time scale of real servers, the repeat counts)
lives here and nowhere else; options and config keys name these constants instead of repeating the
numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

#: The checkout (or site-packages) the ``harness`` package lives in: cells run the harness from here.
PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent

#: Bound on a run's own clock: virtual seconds under virtual time (a deadlock reaches it at once),
#: real seconds otherwise.
RUN_TIMEOUT: Final = 60.0
#: Wall-clock backstop per run, for apps that never block (a livelock does not let virtual time move).
REAL_TIMEOUT: Final = 10.0
#: Wall-clock bound on one cell's whole harness process.
CELL_TIMEOUT: Final = 900.0
#: Real seconds an ``--app`` may take to import (a module that blocks at import is bad input).
IMPORT_TIMEOUT: Final = 60.0
#: Wall-clock bound on installing one cell's requirements.
INSTALL_TIMEOUT: Final = 600.0

#: Trio seed of the first repeat (repeat r uses SEED + r).
SEED: Final = 0
BACKENDS: Final = ("asyncio", "trio")
PROFILES: Final = ("uvicorn", "hypercorn")
#: How a cell's dependencies are chosen.
RESOLUTIONS: Final = ("pinned", "newest", "as-released")

#: Runs per scenario, backend and profile: ``harness run``, a matrix cell, a gate side, a bisect probe.
RUN_REPEATS: Final = 1
MATRIX_REPEATS: Final = 5
GATE_REPEATS: Final = 5
#: A flaky cell's rarest outcome shows in at least 1 of 5 runs of the full matrix, so 10 runs miss
#: it with probability at most 0.8**10 (about 11%).
BISECT_REPEATS: Final = 10
#: Runs per item of the pytest plugin (trio's seeds differ between them; a race shows as a rate).
PLUGIN_REPEATS: Final = 3

#: Real servers: requests per cell, real seconds per virtual second (the slow endpoint's 5 s become
#: 0.25 s), real seconds before an app run is a hang (60 virtual seconds, scaled).
SERVER_REPEATS: Final = 20
TIME_SCALE: Final = 0.05
APP_TIMEOUT: Final = 3.0

MATRIX_FILE: Final = "matrix.toml"
RESULTS_DIR: Final = "results"
UPGRADE_RESULTS_DIR: Final = "results/upgrade"
SERVER_LOGS_DIR: Final = "results/servers/logs"

#: Where the release lists (Starlette's, FastAPI's) and FastAPI's resolved Starlettes are cached;
#: ``HARNESS_CACHE_DIR`` moves it (a test's fake index, a CI cache).
CACHE_DIR: Final = Path(os.environ.get("HARNESS_CACHE_DIR", ".cache"))
