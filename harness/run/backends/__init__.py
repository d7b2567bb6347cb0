"""The event loops a run can use, one private module per loop behind ``Backend``'s interface.

``get_backend(name)`` is the only way in; nothing outside this package asks which loop it is on.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.run.backends._asyncio import AsyncioBackend, UvloopBackend, VirtualTimeLoop
from harness.run.backends._base import AppResult, Backend, Bounded, Event, only_cancellations
from harness.run.backends._trio import TrioBackend, seed_trio_scheduler

__all__ = [
    "BACKENDS",
    "AppResult",
    "AsyncioBackend",
    "Backend",
    "Bounded",
    "Event",
    "TrioBackend",
    "UvloopBackend",
    "VirtualTimeLoop",
    "backend_available",
    "backend_class",
    "get_backend",
    "only_cancellations",
    "seed_trio_scheduler",
]

BACKENDS: dict[str, type[Backend]] = {
    "asyncio": AsyncioBackend,
    "trio": TrioBackend,
    "asyncio+uvloop": UvloopBackend,
}


def backend_class(name: str) -> type[Backend]:
    """The backend's class: what it says about itself (``seeded``, ``needs_anyio``) before any loop runs."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}") from None


def get_backend(name: str) -> Backend:
    return backend_class(name)()


def backend_available(name: str) -> str | None:
    """Why ``name`` cannot run in this environment (a missing package), or None when it can."""
    module = backend_class(name).requires
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed"
    return None
