"""Everything that depends on which Starlette release is installed, in one place.

Imports that moved, constructors whose signatures changed and features that came or went are looked
up here and nowhere else, so the rest of the harness reads the same for 0.13.0 and for 1.10.0.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from importlib import metadata
from typing import Any

from packaging.version import Version

ASGIApp = Callable[..., Any]

#: Starlette moved to anyio (and so to trio support) in 0.15.0.
FIRST_ANYIO_RELEASE = Version("0.15.0")


def dist_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@cache
def starlette_version() -> Version:
    import starlette

    return Version(starlette.__version__)


def supports_trio() -> bool:
    return starlette_version() >= FIRST_ANYIO_RELEASE


def base_http_middleware() -> type:
    from starlette.middleware.base import BaseHTTPMiddleware

    cls: type = BaseHTTPMiddleware
    return cls


def responses() -> Any:
    import starlette.responses

    return starlette.responses


def client_disconnect() -> type[Exception]:
    from starlette.requests import ClientDisconnect

    cls: type[Exception] = ClientDisconnect
    return cls


def anyio_module() -> Any | None:
    """anyio, where this environment has it (Starlette 0.15.0 and later depend on it)."""
    try:
        import anyio
    except ImportError:
        return None
    return anyio


def background_task() -> type:
    from starlette.background import BackgroundTask

    cls: type = BackgroundTask
    return cls


def route(path: str, endpoint: Any, methods: list[str] | None = None) -> Any:
    from starlette.routing import Route

    return Route(path, endpoint, methods=methods)


def starlette_app(inner: ASGIApp) -> Any:
    """A full Starlette application (error and exception middleware, router) around ``inner``.

    ``inner`` is mounted as a raw ASGI endpoint on a catch-all route: Route treats any non-function
    endpoint as an ASGI app, in every release.
    """
    from starlette.applications import Starlette

    return Starlette(routes=[route("/{path:path}", inner)])


def fastapi_app(inner: ASGIApp) -> Any | None:
    """A real ``FastAPI()`` application around ``inner`` (mounted on a catch-all route, as
    ``starlette_app`` does), or None where FastAPI is not installed."""
    try:
        from fastapi import FastAPI
    except ImportError:
        return None
    app = FastAPI()
    app.router.routes.append(route("/{path:path}", inner))
    return app


def add_http_middleware(app: Any, dispatch: Callable[..., Any]) -> str:
    """Register ``dispatch`` the way ``@app.middleware("http")`` does; say which way was used.

    Starlette 1.0 dropped the decorator; ``add_middleware(BaseHTTPMiddleware, dispatch=...)`` is what
    it did (and what FastAPI's own ``@app.middleware("http")`` still does).
    """
    decorator = getattr(app, "middleware", None)
    if callable(decorator):
        decorator("http")(dispatch)
        return "decorator"
    app.add_middleware(base_http_middleware(), dispatch=dispatch)
    return "add_middleware"


def _first_attr(candidates: list[tuple[str, str]]) -> Any | None:
    for module, attr in candidates:
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    return None


def _bound(cls: Any | None, **kwargs: Any) -> Callable[[ASGIApp], ASGIApp] | None:
    """``cls(app, **kwargs)`` as a one-argument factory, or None where the class is missing."""
    if cls is None:
        return None
    return lambda app: cls(app, **kwargs)


def starlette_middleware(kind: str) -> Callable[[ASGIApp], ASGIApp] | None:
    """A factory for one of Starlette's own middlewares, or None where this release lacks it."""
    if kind == "gzip":
        return _bound(_first_attr([("starlette.middleware.gzip", "GZipMiddleware")]), minimum_size=1)
    if kind == "cors":
        return _bound(_first_attr([("starlette.middleware.cors", "CORSMiddleware")]), allow_origins=["*"])
    if kind == "trustedhost":
        return _bound(_first_attr([("starlette.middleware.trustedhost", "TrustedHostMiddleware")]), allowed_hosts=["*"])
    if kind == "errors":
        return _bound(_first_attr([("starlette.middleware.errors", "ServerErrorMiddleware")]))
    if kind == "exceptions":
        return _bound(
            _first_attr(
                [
                    ("starlette.middleware.exceptions", "ExceptionMiddleware"),
                    ("starlette.exceptions", "ExceptionMiddleware"),
                ]
            )
        )
    raise KeyError(kind)
