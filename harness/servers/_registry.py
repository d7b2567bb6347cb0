"""The real ASGI servers the harness can run an app under, and which scripted profile models each.

A server here is a name (``uvicorn-h11``), the distribution that provides it, the async library its
worker runs the app on, how to start it on a socket the harness bound (run inside the server
process, by ``harness.servers._child``; each imports its server lazily), and the profile that is supposed to
describe its ``receive``/``send``. The
profile can depend on the server's version (uvicorn 0.28.0 alone raised from ``send`` after a
disconnect), so it is looked up from the installed version, never assumed.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from harness.errors import UsageError


@dataclass(frozen=True)
class ServerSpec:
    name: str
    #: The distribution to install (and whose version the profile depends on).
    dist: str
    #: Requirements for ``uv pip install``, beyond Starlette's own pins.
    requirements: tuple[str, ...]
    #: The async library the worker runs the app on: the scripted backend to compare with.
    backend: str
    description: str
    _profile: Callable[[Version], str]
    #: Serve ``app`` on the listening socket ``fd`` until the process is stopped.
    launch: Callable[[Any, int], None]

    def profile_for(self, version: str) -> str:
        """The scripted profile that models this server at ``version``."""
        return self._profile(Version(version))


def _hypercorn_profile(v: Version) -> str:
    # Before 0.14.4, TCPServer._read_data did not report a clean EOF as Closed().
    return "hypercorn-0.14" if v < Version("0.14.4") else "hypercorn"


def _uvicorn_profile(v: Version) -> str:
    # uvicorn 0.28.0 raised ClientDisconnected (an OSError) from send() after a disconnect and
    # announced spec 2.4; 0.28.1 reverted the raise ("Revert raise ClientDisconnected on HTTP").
    return "uvicorn-0.28" if Version("0.28.0") <= v < Version("0.28.1") else "uvicorn"


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


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec(
            "uvicorn-h11",
            "uvicorn",
            ("uvicorn",),
            "asyncio",
            "uvicorn, h11 parser",
            _uvicorn_profile,
            launch=functools.partial(_serve_uvicorn, http="h11"),
        ),
        ServerSpec(
            "uvicorn-httptools",
            "uvicorn",
            ("uvicorn", "httptools"),
            "asyncio",
            "uvicorn, httptools parser",
            _uvicorn_profile,
            launch=functools.partial(_serve_uvicorn, http="httptools"),
        ),
        ServerSpec(
            "hypercorn-asyncio",
            "hypercorn",
            ("hypercorn",),
            "asyncio",
            "hypercorn, asyncio worker",
            _hypercorn_profile,
            launch=_serve_hypercorn_asyncio,
        ),
        ServerSpec(
            "hypercorn-trio",
            "hypercorn",
            ("hypercorn[trio]",),
            "trio",
            "hypercorn, trio worker",
            _hypercorn_profile,
            launch=_serve_hypercorn_trio,
        ),
        ServerSpec(
            "granian",
            "granian",
            ("granian==2.8.9",),
            "asyncio",
            "granian (Rust), embedded server on asyncio",
            lambda v: "granian",
            launch=_serve_granian,
        ),
    )
}


def get_server(name: str) -> ServerSpec:
    try:
        return SERVERS[name]
    except KeyError:
        raise UsageError(f"unknown server {name!r}; choose from {', '.join(SERVERS)}") from None


def server_requirements(names: tuple[str, ...] | list[str]) -> list[str]:
    """What to install for these servers, without duplicates, in a stable order."""
    out: dict[str, None] = {}
    for n in names:
        for r in get_server(n).requirements:
            out.setdefault(r, None)
    return list(out)
