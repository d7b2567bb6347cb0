"""disconnect-harness: reproduce Starlette's BaseHTTPMiddleware under client disconnects.

The public API lives here; modules prefixed ``_`` are private. Data flows one way:
scenario -> stack + receive script -> ``drive`` on a backend -> ``RunRecord`` -> results file ->
report / baseline / gate. The real-server check runs the same scenario under a real server
(``check_cell``: raw-socket client -> server -> recorder -> record) and compares it with ``drive``;
``run_probe`` checks a server against its profile.
"""

from harness.agreement import verdict
from harness.backends import BACKENDS, Backend, get_backend
from harness.driver import Bounds, Drive, drive, make_scope
from harness.errors import ConfigError, HarnessError, ScriptError, UsageError
from harness.outcome import OUTCOMES, RunRecord, classify
from harness.probes import run_probe
from harness.profiles import PROFILES, ServerProfile, get_profile
from harness.runner import Job, RunConfig, environment, plan, run_job, run_jobs, run_one
from harness.scenario import Scenario, load_catalogue, select, sweep
from harness.script import ReceiveScript, parse_script
from harness.servecheck import CheckConfig, check_cell
from harness.servers import SERVERS, ServerSpec, get_server
from harness.stack import LAYERS, parse_stack

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
