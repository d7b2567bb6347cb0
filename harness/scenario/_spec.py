"""Scenarios: a named stack, endpoint and client script, and where the case comes from.

A scenario is data. ``sweep`` expands one family over axes (depth, endpoint kind, ...) into many
scenarios whose names carry their parameters (``depth-sweep[depth=4,endpoint=slow]``), so a result
line, a report row and a repro command all name exactly one configuration.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.defaults import PROJECT_ROOT
from harness.errors import UsageError
from harness.scenario._endpoints import ENDPOINTS
from harness.scenario._expectations import check_names
from harness.scenario._profiles import get_profile
from harness.scenario._script import ReceiveScript, parse_script
from harness.scenario._stack import StackSpec, parse_stack
from harness.scenario._userapp import CLIENT_SCRIPTS, AppSpec


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    #: The Starlette issue, PR or discussion the case comes from.
    source: str
    stack: str
    endpoint: str
    receive: str
    method: str = "GET"
    #: Profiles this scenario always runs with (the PR #1634 variants); None: the selected ones.
    profiles: tuple[str, ...] | None = None
    #: What the scenario's source expects of the run (names from ``_expectations.EXPECTATIONS``),
    #: checked on each finished run and recorded apart from its outcome.
    expectations: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    #: A user's own app (``--app``) instead of ``stack`` + ``endpoint``.
    app: AppSpec | None = None
    #: Distributions the scenario needs beyond Starlette (``fastapi`` for the fastapi layer); where
    #: one is missing its runs are ``not_applicable``, and the catalogue test skips it.
    needs: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return self.name.split("[", 1)[0]

    def parsed_stack(self) -> StackSpec:
        return parse_stack(self.stack)

    def parsed_script(self) -> ReceiveScript:
        script = parse_script(self.receive)
        return self.app.with_body(script) if self.app is not None else script

    def record_params(self) -> dict[str, Any]:
        if self.app is not None:
            app: dict[str, Any] = {"app": self.app.target, "path": self.app.path, "method": self.app.method}
            app["receive"] = self.receive
            if self.app.keep is not None:
                app["keep_middleware"] = list(self.app.keep)
            if self.app.app_dir not in ("", "."):
                app["app_dir"] = self.app.app_dir
            if self.app.body:
                app["body_bytes"] = len(self.app.body)
                app["body"] = self.app.body_arg
            return app
        data: dict[str, Any] = {"stack": self.stack, "endpoint": self.endpoint, "receive": self.receive}
        if self.method != "GET":
            data["method"] = self.method
        data.update(self.params)
        return data

    def validate(self) -> None:
        """Fail with one line naming the scenario and the bad field."""
        try:
            self.parsed_script()
            if self.app is not None:
                return
            self.parsed_stack()
            if self.endpoint not in ENDPOINTS:
                raise UsageError(f"unknown endpoint {self.endpoint!r}; choose from {', '.join(ENDPOINTS)}")
            for p in self.profiles or ():
                get_profile(p)
            check_names(self.expectations)
        except UsageError as e:
            raise UsageError(f"scenario {self.name!r}: {e}") from None
        except Exception as e:  # ScriptError and friends
            raise UsageError(f"scenario {self.name!r}: {e}") from None


def sweep(
    family: str,
    description: str,
    source: str,
    axes: Mapping[str, Sequence[Any]],
    build: Callable[..., Mapping[str, Any]],
) -> list[Scenario]:
    """One scenario per point of the product of ``axes``; ``build(**point)`` gives the fields."""
    out = []
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        point = dict(zip(names, values, strict=True))
        label = ",".join(f"{k}={v}" for k, v in point.items())
        fields = dict(build(**point))
        out.append(
            Scenario(
                name=f"{family}[{label}]",
                description=description,
                source=source,
                params=point,
                **fields,
            )
        )
    return out


def app_scenarios(spec: AppSpec) -> list[Scenario]:
    """Your app under every client script: ``app[no-disconnect]``, ``app[disconnect-now]``, ..."""
    return [
        Scenario(
            name=f"app[{name}]",
            description=description,
            source=f"--app {spec.target}",
            stack="app",
            endpoint="app",
            receive=template,
            method=spec.method,
            app=spec,
        )
        for name, (template, description) in CLIENT_SCRIPTS.items()
    ]


def load_catalogue() -> list[Scenario]:
    """The catalogue (``harness.scenarios``), validated, in catalogue order."""
    catalogue: list[Scenario] = list(_catalogue_module().SCENARIOS)
    seen: set[str] = set()
    for s in catalogue:
        if s.name in seen:
            raise UsageError(f"scenario {s.name!r} is defined twice in scenarios/")
        seen.add(s.name)
        s.validate()
    return catalogue


def _catalogue_module() -> Any:
    """``harness.scenarios``: installed from the top-level ``scenarios/`` folder (setuptools'
    ``package-dir``), or, in a checkout that is not installed, loaded from that folder under the same
    name, so the catalogue is found one way and its modules are named the same in both."""
    name = "harness.scenarios"
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
    folder = PROJECT_ROOT / "scenarios"
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the folder ships with the package
        raise UsageError(f"no scenario catalogue at {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def select(catalogue: Iterable[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    """Scenarios whose name or family matches any glob pattern; a pattern matching none is an error."""
    items = list(catalogue)
    if not patterns:
        return items
    chosen: dict[str, Scenario] = {}
    for pattern in patterns:
        hits = [
            s
            for s in items
            if s.name == pattern or fnmatch.fnmatchcase(s.name, pattern) or fnmatch.fnmatchcase(s.family, pattern)
        ]
        if not hits:
            families = sorted({s.family for s in items})
            raise UsageError(
                f"no scenario matches {pattern!r}; families are {', '.join(families)} (see python -m harness list)"
            )
        for s in hits:
            chosen.setdefault(s.name, s)
    return [s for s in items if s.name in chosen]
