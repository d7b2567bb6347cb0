"""Step one of the flow: what a run is made of, as data.

A scenario names a middleware stack (``_stack``), an endpoint (``_endpoints``), a client script
(``_script``) and the server profiles (``_profiles``) whose ``receive``/``send`` behaviour the client
meets; ``_spec`` holds the ``Scenario`` itself, the sweeps and the catalogue loader, and ``_userapp``
a user's own ASGI app as a scenario. ``_compat`` is the one place that knows how Starlette releases
differ. Nothing here runs an event loop: that is ``harness.run``.
"""

from harness.scenario._compat import dist_version, starlette_version, supports_trio
from harness.scenario._endpoints import ENDPOINTS, EndpointError, EndpointState, EndpointStateJSON, Loop, build_endpoint
from harness.scenario._expectations import EXPECTATIONS, Expectation, ExpectationJSON, check_names, evaluate
from harness.scenario._profiles import DEFAULT_PROFILES, PROFILES, ServerProfile, get_profile
from harness.scenario._script import (
    WAIT_CONDITIONS,
    Disconnect,
    ReceiveScript,
    Request,
    Step,
    Wait,
    WaitUntil,
    parse_script,
)
from harness.scenario._spec import Scenario, app_scenarios, load_catalogue, select, sweep
from harness.scenario._stack import LAYERS, MAX_DEPTH, StackSpec, build_stack, parse_stack
from harness.scenario._trace import LayerTrace, StackTrace
from harness.scenario._userapp import (
    CLIENT_SCRIPTS,
    AppSpec,
    describe_middleware,
    load_app,
    middleware_list,
    parse_body,
    select_middleware,
)

__all__ = [
    "CLIENT_SCRIPTS",
    "DEFAULT_PROFILES",
    "ENDPOINTS",
    "EXPECTATIONS",
    "LAYERS",
    "MAX_DEPTH",
    "PROFILES",
    "WAIT_CONDITIONS",
    "AppSpec",
    "Disconnect",
    "EndpointError",
    "EndpointState",
    "EndpointStateJSON",
    "Expectation",
    "ExpectationJSON",
    "LayerTrace",
    "Loop",
    "ReceiveScript",
    "Request",
    "Scenario",
    "ServerProfile",
    "StackSpec",
    "StackTrace",
    "Step",
    "Wait",
    "WaitUntil",
    "app_scenarios",
    "build_endpoint",
    "build_stack",
    "check_names",
    "describe_middleware",
    "dist_version",
    "evaluate",
    "get_profile",
    "load_app",
    "load_catalogue",
    "middleware_list",
    "parse_body",
    "parse_script",
    "parse_stack",
    "select",
    "select_middleware",
    "starlette_version",
    "supports_trio",
    "sweep",
]
