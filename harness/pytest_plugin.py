"""The pytest plugin: your app under client disconnects, in your own suite, environment and CI.

Registered through the ``pytest11`` entry point ``disconnect_harness``, so installing the harness
is enough. A suite that does not pass ``--disconnect-app`` gets nothing from it but its options in
``pytest --help`` and the ``disconnect_run`` fixture: no items, no warnings, no imports of Starlette
or an event loop. With ``--disconnect-app module:app`` it adds one item per client script x server
profile x anyio backend (the same scripts as ``python -m harness run --app``); each runs the app
``--disconnect-repeat`` times (trio's seeds differ, a race shows as a rate) and fails with the
outcome, its detail and a command that replays the failing run. The ``no-disconnect`` control must
be ``ok`` with a complete response, the others ``ok``.
"""

from __future__ import annotations

import gc
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import defaults
from harness.errors import HarnessError

#: The marker every item carries, so ``-m disconnect`` / ``-m "not disconnect"`` select them.
MARKER = "disconnect"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("disconnect-harness", "client disconnects through BaseHTTPMiddleware")
    group.addoption("--disconnect-app", metavar="MODULE:APP", help="your ASGI app (or module:factory())")
    group.addoption("--disconnect-app-dir", default=".", metavar="DIR", help="where to import it from")
    group.addoption("--disconnect-path", default="/", metavar="PATH", help="the request path (default /)")
    group.addoption("--disconnect-method", default="GET", metavar="METHOD", help="the request method")
    group.addoption("--disconnect-body", metavar="TEXT|@FILE", help="the request body, exactly")
    group.addoption(
        "--disconnect-profile",
        default=",".join(defaults.PROFILES),
        metavar="P[,P]",
        help=f"server profiles (default {','.join(defaults.PROFILES)})",
    )
    group.addoption(
        "--disconnect-backend",
        default=",".join(defaults.BACKENDS),
        metavar="B[,B]",
        help=f"anyio backends (default {','.join(defaults.BACKENDS)})",
    )
    group.addoption("--disconnect-repeat", type=int, default=defaults.PLUGIN_REPEATS, metavar="N", help="runs per item")
    group.addoption(
        "--disconnect-real-clock",
        action="store_true",
        help="run on the real clock (default: virtual time, at real speed while threads or real I/O work)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a disconnect-harness run of --disconnect-app")


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to these items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("disconnect_app")
    if not target:
        return
    try:
        jobs = _planned(config, target)
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None
    added: list[pytest.Item] = []
    for name, scenario, backend, profile in jobs:
        item = DisconnectItem.from_parent(
            session, name=name, nodeid=f"disconnect-harness::{name}", scenario=scenario, backend=backend,
            profile=profile, repeat=config.getoption("disconnect_repeat"),
        )  # fmt: skip
        item.add_marker(MARKER)
        added.append(item)
    # Report them as collected, so the summary's counts ("collected N items / K deselected") hold.
    report = pytest.CollectReport("disconnect-harness", "passed", None, list[pytest.Item | pytest.Collector](added))
    config.hook.pytest_collectreport(report=report)
    items.extend(added)


def _planned(config: pytest.Config, target: str) -> list[tuple[str, Any, str, str]]:
    """(item name, scenario, backend, profile) for every item, after checking every option."""
    from harness import options
    from harness.run.backends import backend_class
    from harness.scenario import AppSpec, app_scenarios, get_profile, load_app, parse_body

    repeat = config.getoption("disconnect_repeat")
    if repeat < 1:
        raise HarnessError(f"--disconnect-repeat {repeat}: must be at least 1")
    backends = options.csv_values([config.getoption("disconnect_backend")])
    profiles = options.csv_values([config.getoption("disconnect_profile")])
    for b in backends:
        backend_class(b)
    for p in profiles:
        get_profile(p)
    body = config.getoption("disconnect_body") or ""
    body_arg = "@" + str(Path(body[1:]).resolve()) if body.startswith("@") else body
    spec = AppSpec(
        target,
        str(Path(config.getoption("disconnect_app_dir")).resolve()),
        config.getoption("disconnect_path"),
        config.getoption("disconnect_method"),
        parse_body(body),
        body_arg,
    )
    load_app(spec)  # one line, now, for an app that does not import or is not ASGI
    return [
        (f"{s.name.removeprefix('app[').removesuffix(']')}[{b}-{p}]", s, b, p)
        for s in app_scenarios(spec)
        for b in backends
        for p in profiles
    ]  # fmt: skip


class DisconnectFailure(Exception):
    """An item's runs that were not what the item asks for, with the records to explain them."""

    def __init__(self, records: list[dict[str, Any]], bad: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(bad)} of {len(records)} runs failed")
        self.records = records
        self.bad = bad


class DisconnectItem(pytest.Item):
    """One client script x profile x backend for the user's app, run ``repeat`` times in-process."""

    def __init__(self, *, scenario: Any, backend: str, profile: str, repeat: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.backend = backend
        self.profile = profile
        self.repeat = repeat

    def runtest(self) -> None:
        from harness.run import plan, run_jobs

        jobs = plan([self.scenario], backends=[self.backend], profiles=[self.profile], repeats=self.repeat)
        config = _config(self.config.getoption("disconnect_real_clock"))
        with warnings.catch_warnings():
            # Old Starlette leaves its memory streams and body generators to the garbage collector
            # when a client leaves: that is the behaviour under test, reported as the outcome, not
            # a ResourceWarning for a suite that turns warnings into errors to trip over later.
            warnings.simplefilter("ignore", ResourceWarning)
            records = [r.to_json() for r in run_jobs(jobs, config)]
            gc.collect()
        if all(r["outcome"] == "not_applicable" for r in records):
            pytest.skip(records[0]["detail"])
        control = self.scenario.name == "app[no-disconnect]"
        bad = [r for r in records if r["outcome"] != "ok" or (control and r["response"] != "complete")]
        if bad:
            raise DisconnectFailure(records, bad)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, DisconnectFailure):
            return str(super().repr_failure(excinfo))
        from harness.results import format_counts, run_command

        failure = excinfo.value
        first = failure.bad[0]
        counts = format_counts(Counter(r["outcome"] for r in failure.records))
        return "\n".join(
            [
                f"{self.scenario.name} on {self.backend} behind {self.profile}: {counts} "
                f"(Starlette {first['starlette']}, anyio {first['anyio']}, trio {first['trio']})",
                f"  {self.scenario.description}",
                f"  first failing run: {first['outcome']}: {first['detail']} (response {first['response']})",
                f"  replay it: {run_command(first)}",
            ]
        )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"disconnect-harness: {self.name}"


def _config(real_clock: bool) -> Any:
    """Virtual time by default (sleeps cost nothing; threads and real I/O still take their real
    time); the real clock bounded as the CLI bounds it."""
    from harness.run import RunConfig

    if real_clock:
        return RunConfig(virtual_time=False, timeout=min(defaults.RUN_TIMEOUT, defaults.REAL_TIMEOUT))
    return RunConfig()


@pytest.fixture
def disconnect_run() -> Callable[..., Any]:
    """Drive an app object yourself: ``disconnect_run(app, "request,disconnect", path="/items")``
    returns the run's ``RunRecord`` (``outcome``, ``detail``, ``response``, ``layers``, ...)."""
    from harness.run import run_one
    from harness.scenario import AppSpec, Scenario

    def run(
        app: Any,
        receive: str = "request,disconnect",
        *,
        path: str = "/",
        method: str = "GET",
        body: bytes = b"",
        profile: str = "uvicorn",
        backend: str = "asyncio",
        seed: int = defaults.SEED,
        real_clock: bool = False,
    ) -> Any:
        spec = AppSpec(f"<object at {id(app):#x}>", path=path, method=method, body=body, instance=app)
        scenario = Scenario("app[fixture]", "disconnect_run", "disconnect_run fixture", "app", "app", receive, app=spec)
        return run_one(scenario, backend=backend, profile=profile, seed=seed, config=_config(real_clock))

    return run
