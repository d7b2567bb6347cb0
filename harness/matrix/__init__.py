"""Step four: every release in its own environment, and the nox sessions that drive them.

``_config`` reads and checks every table of ``matrix.toml``; ``_releases`` asks the package index which releases exist;
``_cells`` turns a release into a cell (what to install, on which Python); ``_interpreters`` and
``_envs`` find a Python and build an environment; ``_cellrun`` installs and runs one cell in its own
process; ``_sessions`` is ``nox -s matrix``/``report``/``baseline``, ``_upgrade`` the gate and
bisect, ``_servers`` the real-server check across releases.
"""

from harness.matrix._cellrun import Selection, install, uv_binary
from harness.matrix._cells import (
    FIRST_ANYIO,
    HARNESS_REQUIREMENTS,
    Cell,
    dev_cell,
    is_dev_target,
    make_cell,
    resolve_versions,
)
from harness.matrix._config import Check, MatrixConfig, ServersConfig, load, load_servers, parse, parse_servers
from harness.matrix._envs import ensure_env
from harness.matrix._interpreters import find_python
from harness.matrix._releases import Release, releases
from harness.matrix._servers import servers_session
from harness.matrix._sessions import MatrixRun, baseline_session, report_session, write_report
from harness.matrix._upgrade import bisect_session, gate_session

__all__ = [
    "FIRST_ANYIO",
    "HARNESS_REQUIREMENTS",
    "Cell",
    "Check",
    "MatrixConfig",
    "MatrixRun",
    "Release",
    "Selection",
    "ServersConfig",
    "baseline_session",
    "bisect_session",
    "dev_cell",
    "ensure_env",
    "find_python",
    "gate_session",
    "install",
    "is_dev_target",
    "load",
    "load_servers",
    "make_cell",
    "parse",
    "parse_servers",
    "releases",
    "report_session",
    "resolve_versions",
    "servers_session",
    "uv_binary",
    "write_report",
]
