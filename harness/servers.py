"""The real ASGI servers the harness can run an app under, and which scripted profile models each.

A server here is a name (``uvicorn-h11``), the distribution that provides it, the async library its
worker runs the app on, and the profile that is supposed to describe its ``receive``/``send``. The
profile can depend on the server's version (uvicorn 0.28.0 alone raised from ``send`` after a
disconnect), so it is looked up from the installed version, never assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("uvicorn-h11", "uvicorn", ("uvicorn",), "asyncio", "uvicorn, h11 parser", _uvicorn_profile),
        ServerSpec(
            "uvicorn-httptools",
            "uvicorn",
            ("uvicorn", "httptools"),
            "asyncio",
            "uvicorn, httptools parser",
            _uvicorn_profile,
        ),
        ServerSpec(
            "hypercorn-asyncio", "hypercorn", ("hypercorn",), "asyncio", "hypercorn, asyncio worker", _hypercorn_profile
        ),
        ServerSpec(
            "hypercorn-trio", "hypercorn", ("hypercorn[trio]",), "trio", "hypercorn, trio worker", _hypercorn_profile
        ),
        ServerSpec(
            "granian",
            "granian",
            ("granian",),
            "asyncio",
            "granian (Rust), embedded server on asyncio",
            lambda v: "granian",
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
