"""The server process: ``python -m harness.servers._child``, started and stopped by ``ServerProcess`` only.

It builds the recorder around the scenario's app (or a probe app), then runs the chosen server on
the listening socket its parent bound and passed down, so the port is known before the server
starts and only loopback is ever bound. Records go to a pipe the parent reads; the server's own
log goes to stdout/stderr, which the parent keeps. If the parent dies, this process exits too: a
crashed or killed run must not leave a server behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.run.backends import Backend, get_backend
from harness.servers._recorder import AppFactory, Recorder, ScaledBackend
from harness.servers._registry import get_server


def _watch_parent(parent: int) -> None:
    """Exit at once when the parent is gone (we were re-parented): never outlive the harness."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.2)


def _writer(fd: int) -> Callable[[dict[str, Any]], None]:
    def emit(record: dict[str, Any]) -> None:
        data = (json.dumps(record, default=str) + "\n").encode()
        while data:
            written = os.write(fd, data)
            data = data[written:]

    return emit


def scenario_factory(name: str, backend: Backend) -> AppFactory:
    from harness.scenario import EndpointState, StackTrace, build_endpoint, build_stack, load_catalogue, select

    (scenario,) = [s for s in select(load_catalogue(), [name]) if s.name == name]
    spec = scenario.parsed_stack()

    def make(scope: dict[str, Any]) -> tuple[Any, EndpointState]:
        probe = EndpointState()
        return build_stack(spec, build_endpoint(scenario.endpoint, backend, probe), StackTrace(loop=backend)), probe

    return make


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.servers._child")
    parser.add_argument("--server", required=True)
    parser.add_argument("--fd", type=int, required=True, help="a listening socket bound by the parent")
    parser.add_argument("--records-fd", type=int, required=True)
    parser.add_argument("--spec", required=True, help="JSON: mode, scenario or probe, time_scale, app_timeout, base")
    args = parser.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    spec = json.loads(args.spec)
    server = get_server(args.server)
    backend = ScaledBackend(get_backend(server.backend), spec["time_scale"])
    if spec["mode"] == "probe":
        from harness.servers._probes import probe_factory

        factory = probe_factory(backend)
    else:
        factory = scenario_factory(spec["scenario"], backend)
    app = Recorder(factory, backend, _writer(args.records_fd), app_timeout=spec["app_timeout"], base=spec["base"])
    print(f"harness.servers._child: {server.name} on fd {args.fd}", file=sys.stderr, flush=True)
    server.launch(app, args.fd)


if __name__ == "__main__":
    main()
