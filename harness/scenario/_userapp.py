"""Your own ASGI app as a scenario: ``--app module:attribute`` (or ``module:factory()``).

The app is imported from the current directory (or ``--app-dir``), like uvicorn does, and driven
through every client script below under every selected server profile, exactly as the catalogue's
scenarios are. Importing must not start a server; any import error is one line naming the module.
User apps run on the real clock (they may use threads: sync endpoints, ``run_in_threadpool``), so a
slow endpoint costs its real time, bounded by the run timeout.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import AppImportError, HarnessError
from harness.scenario._script import ReceiveScript, Request

#: What a client can do to your endpoint; each becomes one scenario ``app[<name>]``. The first
#: ``request`` carries ``--body`` (see ``AppSpec.with_body``).
CLIENT_SCRIPTS: dict[str, tuple[str, str]] = {
    "no-disconnect": ("request", "control: the client stays connected"),
    "disconnect-now": ("request,disconnect", "the client leaves right after the request"),
    "disconnect-idle": ("request,wait:idle,disconnect", "the client leaves once the app is waiting"),
    "disconnect-before-body": ("disconnect", "the client leaves before sending the body"),
    "disconnect-after-start": ("request,wait:start,disconnect", "the client leaves after the headers"),
    "disconnect-mid-stream": ("request,wait:chunks=1,disconnect", "the client leaves after the first chunk"),
    "disconnect-after-response": ("request,wait:complete,disconnect", "the client leaves after the response"),
}


@dataclass(frozen=True)
class AppSpec:
    target: str  # module:attribute or module:factory()
    app_dir: str = "."
    path: str = "/"
    method: str = "GET"
    body: bytes = b""
    #: ``--body`` as given (TEXT, or @file with the path made absolute): what a repro line passes on.
    body_arg: str = ""
    #: An app object handed over directly (the pytest fixture) instead of imported from ``target``.
    instance: Any = field(default=None, compare=False, repr=False)
    #: Only these entries of the app's middleware list (``shrink`` and its repro lines), or all.
    keep: tuple[int, ...] | None = None

    def with_body(self, script: ReceiveScript) -> ReceiveScript:
        """The script with this app's body in its first request, byte for byte: the body travels
        beside the script's text form (where a comma would end the step), never inside it."""
        if not self.body:
            return script
        steps = list(script.steps)
        for i, step in enumerate(steps):
            if isinstance(step, Request):
                steps[i] = dataclasses.replace(step, body=self.body)
                break
        return ReceiveScript(tuple(steps))


def parse_body(value: str | None) -> bytes:
    """``--body TEXT`` or ``--body @file``."""
    if not value:
        return b""
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as e:
            raise HarnessError(f"--body {value}: cannot read the file ({e.strerror}); give an existing path") from None
    return value.encode()


def middleware_list(app: Any, target: str) -> list[Any]:
    """The app's own middleware entries (Starlette's and FastAPI's ``user_middleware``), outermost first."""
    entries = getattr(app, "user_middleware", None)
    if not isinstance(entries, list):
        raise AppImportError(
            f"--app {target}: {type(app).__name__} has no middleware list (user_middleware); shrink and "
            "--keep-middleware work on Starlette and FastAPI applications"
        )
    full: list[Any] = app.__dict__.setdefault("_harness_full_middleware", list(entries))
    return full


def describe_middleware(entry: Any) -> str:
    """``Timing (BaseHTTPMiddleware)``, ``BaseHTTPMiddleware(dispatch=log_requests)``, ``GZipMiddleware``."""
    cls = getattr(entry, "cls", entry)
    options = {**(getattr(entry, "options", None) or {}), **(getattr(entry, "kwargs", None) or {})}
    name = getattr(cls, "__name__", repr(cls))
    dispatch = options.get("dispatch")
    if dispatch is not None:
        return f"{name}(dispatch={getattr(dispatch, '__name__', repr(dispatch))})"
    bases = [b.__name__ for b in getattr(cls, "__mro__", ())[1:]]
    return f"{name} (BaseHTTPMiddleware)" if "BaseHTTPMiddleware" in bases else name


def select_middleware(app: Any, spec: AppSpec) -> Any:
    """The app with only ``spec.keep`` of its middleware (all when None), its stack rebuilt; an app
    that was never narrowed is left alone."""
    if spec.keep is None and "_harness_full_middleware" not in getattr(app, "__dict__", {}):
        return app
    full = middleware_list(app, spec.target)
    try:
        wanted = list(full) if spec.keep is None else [full[i] for i in spec.keep]
    except IndexError:
        raise AppImportError(
            f"--keep-middleware {','.join(map(str, spec.keep or ()))}: the app has {len(full)} middleware "
            f"entries (0-{len(full) - 1})"
        ) from None
    if [id(m) for m in app.user_middleware] != [id(m) for m in wanted]:
        app.user_middleware = wanted
        app.middleware_stack = app.build_middleware_stack()
    return app


def load_app(spec: AppSpec) -> Any:
    """Import ``module:attribute`` (calling it when written ``factory()``) and check it is ASGI."""
    if spec.instance is not None:
        if not _is_asgi3(spec.instance):
            raise AppImportError(f"{type(spec.instance).__name__} object is not an ASGI app")
        return spec.instance
    module_name, sep, attr = spec.target.partition(":")
    if not sep or not module_name or not attr:
        raise AppImportError(f"--app {spec.target!r}: write module:attribute or module:factory()")
    factory = attr.endswith("()")
    attr = attr[:-2] if factory else attr
    obj: Any = _import(spec, module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"--app {spec.target}: module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        try:
            obj = obj()
        except Exception as e:
            raise AppImportError(f"--app {spec.target}: calling {attr}() raised {type(e).__name__}: {e}") from None
    if not _is_asgi3(obj):
        raise AppImportError(
            f"--app {spec.target}: {type(obj).__name__} object is not an ASGI app (an async callable taking scope, "
            "receive, send); point at the application object or its factory()"
        )
    return obj


def _import(spec: AppSpec, module_name: str) -> Any:
    """The app's module, imported from ``--app-dir`` as uvicorn would; any failure is one line."""
    app_dir = str(Path(spec.app_dir).resolve())
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise AppImportError(
                f"--app {spec.target}: no module named {module_name!r} in {app_dir}; check the name or pass --app-dir"
            ) from None
        raise AppImportError(
            f"--app {spec.target}: importing {module_name!r} failed: {e}; install what the app needs into the "
            f"side with --with {e.name or 'PACKAGE'} or --requirements FILE"
        ) from None
    except Exception as e:
        raise AppImportError(f"--app {spec.target}: importing {module_name!r} raised {type(e).__name__}: {e}") from None


def _is_asgi3(obj: Any) -> bool:
    call: Callable[..., Any] | None = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else None
    if call is None:
        call = getattr(obj, "__call__", None)  # noqa: B004 - we need the bound method to inspect it
    if call is None or inspect.isclass(obj):
        return False
    if not (inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__func__", None))):
        # Some apps (partials, wrapped callables) hide it; accept any callable taking three arguments.
        try:
            inspect.signature(call).bind(None, None, None)
        except (TypeError, ValueError):
            return False
        return True
    try:
        inspect.signature(call).bind(None, None, None)
    except (TypeError, ValueError):
        return False
    return True
