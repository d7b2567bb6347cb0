"""The server process: ``python -m harness.served``, started and stopped by ``ServerProcess`` only.

It builds the recorder around the scenario's app (or a probe app), then runs the chosen server on
the listening socket its parent bound and passed down, so the port is known before the server
starts and only loopback is ever bound. Records go to a pipe the parent reads; the server's own
log goes to stdout/stderr, which the parent keeps. If the parent dies, this process exits too: a
crashed or killed run must not leave a server behind.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.backends import get_backend
from harness.recorder import AppFactory, Recorder, ScaledBackend
from harness.servers import get_server


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


def scenario_factory(name: str, backend: Any) -> AppFactory:
    from harness.endpoints import Probe, build_endpoint
    from harness.scenario import load_catalogue, select
    from harness.stack import build_stack

    (scenario,) = [s for s in select(load_catalogue(), [name]) if s.name == name]
    spec = scenario.parsed_stack()

    def make(scope: dict[str, Any]) -> tuple[Any, Any]:
        probe = Probe()
        return build_stack(spec, build_endpoint(scenario.endpoint, backend, probe)), probe

    return make


def _serve_uvicorn(app: Any, fd: int, http: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, http=http, loop="asyncio", lifespan="off", log_level="warning", access_log=False, interface="asgi3"
    )
    server = uvicorn.Server(config)
    asyncio.run(server.serve(sockets=[socket.socket(fileno=fd)]))


def _hypercorn_config(fd: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    return config


def _serve_hypercorn_asyncio(app: Any, fd: int) -> None:
    from hypercorn.asyncio import serve

    asyncio.run(serve(app, _hypercorn_config(fd), mode="asgi"))


def _serve_hypercorn_trio(app: Any, fd: int) -> None:
    import trio
    from hypercorn.trio import serve

    trio.run(functools.partial(serve, app, _hypercorn_config(fd), mode="asgi"))


def _serve_granian(app: Any, fd: int) -> None:
    # Granian binds its own socket (Rust side): take the parent's port, free it, and bind it again
    # at once. The embedded server runs the app in this process, on this asyncio loop.
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    listener = socket.socket(fileno=fd)
    port = listener.getsockname()[1]
    listener.close()
    server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_level=LogLevels.warning)
    asyncio.run(server.serve())


_LAUNCHERS: dict[str, Callable[[Any, int], None]] = {
    "uvicorn-h11": functools.partial(_serve_uvicorn, http="h11"),
    "uvicorn-httptools": functools.partial(_serve_uvicorn, http="httptools"),
    "hypercorn-asyncio": _serve_hypercorn_asyncio,
    "hypercorn-trio": _serve_hypercorn_trio,
    "granian": _serve_granian,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.served")
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
        from harness.probes import probe_factory

        factory = probe_factory(backend)
    else:
        factory = scenario_factory(spec["scenario"], backend)
    app = Recorder(factory, backend, _writer(args.records_fd), app_timeout=spec["app_timeout"], base=spec["base"])
    print(f"harness.served: {server.name} on fd {args.fd}", file=sys.stderr, flush=True)
    _LAUNCHERS[server.name](app, args.fd)


if __name__ == "__main__":
    main()
