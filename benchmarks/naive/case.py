"""One scenario run the naive way: a fresh process, the app behind Starlette's TestClient."""

import fnmatch
import sys

from harness.run.backends import AsyncioBackend
from harness.scenario import EndpointState, build_endpoint, build_stack, load_catalogue

catalogue = load_catalogue()
if sys.argv[1] == "--list":
    print(" ".join(s.name for s in catalogue if any(fnmatch.fnmatchcase(s.name, p) for p in sys.argv[2:])))
    raise SystemExit
scenario = next(s for s in catalogue if s.name == sys.argv[1])
from starlette.testclient import TestClient  # noqa: E402

app = build_stack(scenario.parsed_stack(), build_endpoint(scenario.endpoint, AsyncioBackend(), EndpointState()))
try:
    TestClient(app, raise_server_exceptions=False).request(scenario.method, "/", content=scenario.parsed_script().body)
except Exception:
    pass
