"""Run a scenario on a backend: build the app, play the client, bound it in time, classify.

One process runs many scenarios (building a fresh app and a fresh event loop for every run), which
is what makes a matrix cell cheap: the interpreter and Starlette are imported once.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from harness import defaults
from harness.errors import LayerUnavailable
from harness.run._driver import Bounds, drive, make_scope
from harness.run._outcome import NOT_APPLICABLE, RunRecord
from harness.run.backends import Backend, backend_available, backend_class, get_backend
from harness.scenario import (
    DEFAULT_PROFILES,
    AppSpec,
    EndpointState,
    Scenario,
    StackTrace,
    build_endpoint,
    build_stack,
    dist_version,
    evaluate,
    get_profile,
    load_app,
    select_middleware,
    starlette_version,
    supports_trio,
)


@dataclass(frozen=True)
class RunConfig:
    #: Bound on the run's own clock: virtual seconds under virtual time (a deadlock reaches it at
    #: once), real seconds otherwise.
    timeout: float = defaults.RUN_TIMEOUT
    #: Wall-clock backstop for apps that never block (a livelock does not let virtual time move).
    real_timeout: float = defaults.REAL_TIMEOUT
    virtual_time: bool = True
    resolution: str | None = None


class Environment(TypedDict):
    """``environment()``: the versions that decide a verdict, under their record field names."""

    starlette: str
    anyio: str | None
    trio: str | None
    python: str
    #: FastAPI where it is installed (a FastAPI side, a team's own environment), else None.
    fastapi: str | None


def environment() -> Environment:
    """Versions that decide a verdict; recorded in every line."""
    return {
        "starlette": str(starlette_version()),
        "anyio": dist_version("anyio"),
        "trio": dist_version("trio"),
        "python": platform.python_version(),
        "fastapi": dist_version("fastapi"),
    }


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    backend: str
    profile: str
    repeat: int
    seed: int | None
    #: Forces the profile's ``receive_delay`` instead of drawing it from the seed (fitting a profile).
    receive_delay: int | None = None


class BaseFields(Environment):
    """``base_fields()``: the record fields known before the run."""

    scenario: str
    params: dict[str, Any]
    backend: str
    profile: str
    seed: int | None
    repeat: int
    resolution: str | None


def base_fields(job: Job, config: RunConfig, env: Environment) -> BaseFields:
    """What a record says about the run before it happens: scenario, versions, backend, profile."""
    return BaseFields(
        scenario=job.scenario.name,
        params=job.scenario.record_params(),
        backend=job.backend,
        profile=job.profile,
        seed=job.seed if _seeded(job.backend, job.profile) else None,
        repeat=job.repeat,
        resolution=config.resolution,
        **env,
    )


def _not_applicable(job: Job, env: Environment) -> str | None:
    """Why this job cannot run here (a backend this Starlette or environment lacks), or None."""
    if backend_class(job.backend).needs_anyio and not supports_trio():
        return f"Starlette {env['starlette']} predates anyio: no {job.backend} support"
    return backend_available(job.backend)


async def run_job(job: Job, b: Backend, config: RunConfig, env: Environment) -> RunRecord:
    """One job inside an event loop of backend ``b`` that is already running."""
    base = base_fields(job, config, env)
    base_profile = get_profile(job.profile)
    scenario, prof = job.scenario, base_profile.for_run(job.seed, job.receive_delay)
    drawn_delay = bool(prof.receive_delay or job.receive_delay is not None or base_profile.receive_delay_weights)
    probe = EndpointState()
    trace = StackTrace(loop=b)
    script = scenario.parsed_script()
    if scenario.app is not None:
        loaded = load_app(scenario.app) if scenario.app.instance is not None else _user_app(scenario.app)
        app = select_middleware(loaded, scenario.app)
        scope = make_scope(prof, method=scenario.app.method, path=scenario.app.path, body=script.body)
    else:
        try:
            app = build_stack(scenario.parsed_stack(), build_endpoint(scenario.endpoint, b, probe), trace)
        except LayerUnavailable as e:
            return RunRecord(outcome=NOT_APPLICABLE, detail=str(e), **base)
        scope = make_scope(prof, method=scenario.method, body=script.body)
    d = await drive(
        app,
        script=script,
        profile=prof,
        backend=b,
        scope=scope,
        bounds=Bounds(config.timeout, config.real_timeout),
        observer=probe,
        virtual_time=config.virtual_time,
    )
    await probe.close()
    conn = d.conn
    loop_errors = b.drain_loop_errors()
    record = RunRecord(
        outcome=d.outcome,
        detail=d.detail,
        elapsed_s=round(d.elapsed_s, 6),
        endpoint=probe.to_json(),
        exception=d.exception.to_json() if d.exception is not None else None,
        loop_errors=loop_errors,
        **conn.observed(),
        leaked_tasks=d.leaked_tasks,
        layers=trace.to_json(),
        raised_in=trace.raised_in(),
        # Whenever the delay was drawn or forced, 0 included; a fixed profile without one records none.
        receive_delay=prof.receive_delay if drawn_delay else None,
        **base,
    )
    record.expectations = [dict(e) for e in evaluate(scenario.expectations, record.to_json())]
    return record


def _user_app(spec: AppSpec) -> Any:
    """Imported once per process: a user's app is built once, like a server builds it (one object
    whatever entries of its middleware a run keeps)."""
    return _imported(dataclasses.replace(spec, keep=None))


@functools.cache
def _imported(spec: AppSpec) -> Any:
    return load_app(spec)


def plan(
    scenarios: Sequence[Scenario],
    *,
    backends: Sequence[str],
    profiles: Sequence[str] | None = None,
    repeats: int = defaults.RUN_REPEATS,
    seed: int = defaults.SEED,
) -> list[Job]:
    """Every (scenario, backend, profile, repeat); seeds (trio's scheduler, a profile's drawn delay)
    are ``seed + repeat`` so any run can be replayed alone with ``--seed``."""
    jobs = []
    for backend in backends:
        for s in scenarios:
            for profile in s.profiles or profiles or DEFAULT_PROFILES:
                seeded = _seeded(backend, profile)
                for r in range(repeats):
                    jobs.append(Job(s, backend, profile, r, seed + r if seeded else None))
    return jobs


def _seeded(backend: str, profile: str) -> bool:
    """Whether a run draws anything from its seed: trio's scheduler, or a profile's random delay."""
    return backend_class(backend).seeded or get_profile(profile).randomised


def run_jobs(
    jobs: Iterable[Job],
    config: RunConfig = RunConfig(),
    on_record: Callable[[RunRecord], None] | None = None,
    *,
    on_start: Callable[[BaseFields], None] | None = None,
    keep: bool = True,
) -> list[RunRecord]:
    """Run jobs: asyncio runs all of its jobs in one event loop, trio each in its own (see ``run_batch``).

    ``on_start`` hears of each run just before it starts (what an out-of-process watchdog needs to
    name a run that ends its process); with ``keep=False`` records only go to ``on_record``, so
    memory stays flat whatever the repeat count."""
    env = environment()
    records: list[RunRecord] = []

    def emit(record: RunRecord) -> None:
        if keep:
            records.append(record)
        if on_record is not None:
            on_record(record)

    for backend, group in itertools.groupby(jobs, key=lambda j: j.backend):
        b = get_backend(backend)
        runnable = []
        for job in group:
            why = _not_applicable(job, env)
            if why is not None:
                if on_start is not None:
                    on_start(base_fields(job, config, env))
                emit(RunRecord(outcome=NOT_APPLICABLE, detail=why, **base_fields(job, config, env)))
            else:
                runnable.append(job)
        calls = [(job.seed, functools.partial(_announced, on_start, job, b, config, env)) for job in runnable]
        b.run_batch(calls, virtual_time=config.virtual_time, on_result=emit)
    return records


async def _announced(
    on_start: Callable[[BaseFields], None] | None, job: Job, b: Backend, config: RunConfig, env: Environment
) -> RunRecord:
    if on_start is not None:
        on_start(base_fields(job, config, env))
    return await run_job(job, b, config, env)


#: A cell of the matrix: the runs that ``--settle`` compares with each other.
CellKey = tuple[str, str, str]


def settle_split(jobs: Sequence[Job], settle: int) -> tuple[list[Job], dict[CellKey, list[Job]]]:
    """The runs every cell gets (``first``, in order), and per cell the runs it gets only when those
    disagree. Seeded cells (trio, a randomised profile) always get every repeat: their rate is the
    answer."""
    first: list[Job] = []
    rest: dict[CellKey, list[Job]] = {}
    for job in jobs:
        if job.seed is not None or job.repeat < settle:
            first.append(job)
        else:
            rest.setdefault((job.scenario.name, job.backend, job.profile), []).append(job)
    return first, rest


def stream_settled(
    jobs: Sequence[Job],
    config: RunConfig,
    settle: int,
    on_record: Callable[[RunRecord], None],
    *,
    on_start: Callable[[BaseFields], None] | None = None,
    skip: int = 0,
    earlier: Sequence[tuple[CellKey, str]] = (),
) -> None:
    """``run_settled`` without keeping records, resumable: the first ``skip`` runs (in the order
    this runs them) are already recorded elsewhere and ``earlier`` gives their cells and outcomes,
    so a fresh process that takes over after a run ended the last one decides exactly as the first
    would have. ``settle=0`` runs every job."""
    first, rest = settle_split(jobs, settle) if settle else (list(jobs), {})
    outcomes: dict[CellKey, set[str]] = {}
    for key, outcome in earlier[: len(first)]:
        outcomes.setdefault(key, set()).add(outcome)

    def seen(record: RunRecord) -> None:
        outcomes.setdefault((record.scenario, record.backend, record.profile), set()).add(record.outcome)
        on_record(record)

    run_jobs(first[skip:], config, seen, on_start=on_start, keep=False)
    more = [j for key, group in rest.items() if len(outcomes.get(key, set())) != 1 for j in group]
    run_jobs(more[max(0, skip - len(first)) :], config, on_record, on_start=on_start, keep=False)


def run_settled(jobs: Sequence[Job], config: RunConfig = RunConfig(), settle: int = 2) -> list[RunRecord]:
    """``run_jobs``, but a cell whose runs draw nothing from their seed (asyncio under a fixed
    profile: the same inputs give the same run) stops after ``settle`` runs that agree on the
    outcome; only a cell that disagrees with itself gets its remaining repeats. Seeded cells (trio,
    a randomised profile) always get every repeat: their rate is the answer."""
    records: list[RunRecord] = []
    stream_settled(jobs, config, settle, records.append)
    return records


def run_one(
    scenario: Scenario,
    *,
    backend: str,
    profile: str,
    repeat: int = 0,
    seed: int | None = None,
    config: RunConfig = RunConfig(),
) -> RunRecord:
    """One run, alone in its own event loop: what a repro command does."""
    job = Job(scenario, backend, profile, repeat, seed if _seeded(backend, profile) else None)
    return run_jobs([job], config)[0]
