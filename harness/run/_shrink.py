"""The smallest failing stack: delta debugging over the entries of an app's middleware list.

"Which of our middleware loses the response?" has a mechanical answer. For one failing cell (a
client script, a profile, a backend) the app is run with subsets of its ``user_middleware``:
halves first, then complements, then finer pieces (Zeller's ddmin), keeping any subset on which the
cell still fails, until no single entry can go without the failure going too. Each test runs the
cell ``repeats`` times (a trio cell may fail only on some seeds) and counts as failing when any run
fails *the same way* (``failure_of``: the outcome class, and for an exception its type, so a subset
that trades the bug under study for another error is not kept); results are memoised, so every
subset runs once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.run._jobs import RunConfig, plan, run_jobs
from harness.run._outcome import RunRecord
from harness.scenario import Scenario


@dataclass(frozen=True)
class Shrunk:
    """The answer: the minimal entries (indices into the full list) and how it was found."""

    scenario: str
    backend: str
    profile: str
    #: ``failure_of`` the runs kept: ``no_response_returned``, ``exception: KeyError``, ...
    outcome: str
    full: int
    minimal: tuple[int, ...]
    tests: int
    #: A failing run on the minimal stack, for its receive/send trace and repro line.
    example: RunRecord | None


def failure_of(record: RunRecord) -> str:
    """How a run failed, as precisely as shrinking must preserve it: the outcome class, with the
    exception's type for an ``exception`` (its detail starts ``Type: message``)."""
    if record.outcome == "exception" and record.detail:
        return f"exception: {record.detail.split(':', 1)[0].strip()}"
    return record.outcome


def ddmin(items: Sequence[int], fails: Callable[[tuple[int, ...]], bool]) -> tuple[int, ...]:
    """A 1-minimal failing subset of ``items`` (``fails(items)`` must hold): removing any single
    element of the result makes ``fails`` false."""
    current = tuple(items)
    if fails(()):
        return ()
    n = 2
    while len(current) >= 2:
        size = -(-len(current) // n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        reduced = next((c for c in chunks if fails(c)), None)
        if reduced is not None:
            current, n = reduced, 2
            continue
        complements = [tuple(x for x in current if x not in c) for c in chunks]
        reduced = next((c for c in complements if c and fails(c)), None)
        if reduced is not None:
            current, n = reduced, max(n - 1, 2)
            continue
        if n >= len(current):
            break
        n = min(len(current), 2 * n)
    return current


def shrink(
    scenario: Scenario,
    backend: str,
    profile: str,
    outcome: str,
    entries: int,
    *,
    repeats: int,
    config: RunConfig,
) -> Shrunk:
    """Shrink ``scenario`` (a user-app scenario) on one cell to the entries it still fails with."""
    base = scenario.app
    assert base is not None
    seen: dict[tuple[int, ...], RunRecord | None] = {}

    def fails(keep: tuple[int, ...]) -> bool:
        if keep not in seen:
            variant = dataclasses.replace(scenario, app=dataclasses.replace(base, keep=keep))
            records = run_jobs(plan([variant], backends=[backend], profiles=[profile], repeats=repeats), config)
            seen[keep] = next((r for r in records if failure_of(r) == outcome), None)
        return seen[keep] is not None

    everything = tuple(range(entries))
    if not fails(everything):
        return Shrunk(scenario.name, backend, profile, outcome, entries, everything, len(seen), None)
    minimal = ddmin(everything, fails)
    return Shrunk(scenario.name, backend, profile, outcome, entries, minimal, len(seen), seen[minimal])
