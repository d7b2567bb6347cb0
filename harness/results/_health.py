"""Whether a cell's runs say anything about Starlette, or only that its environment is broken.

A cell whose pins cannot work together (anyio 4 beside trio 0.21) still runs every scenario, and
nearly every run on the broken backend fails before Starlette is reached, at the same line of
anyio, trio, asyncio or the harness (measured: 191 of 199 trio runs of the catalogue, ``TypeError:
open_nursery() got an unexpected keyword argument`` at ``anyio/_backends/_trio.py``; the rest never
touch anyio). Recorded as ``done``, that would be a verdict on Starlette that Starlette never
earned. So such a cell is ``crashed``, with the failure as its reason.

The rule is narrow on purpose, so that no Starlette bug can meet it: on one backend, one failure
(the same exception type, message and place) covers at least ``SHARE`` of the runs over at least
``MIN_SCENARIOS`` scenarios; its type says the code itself does not fit together (``TypeError``,
``AttributeError``, ``ImportError``, ``NameError``), not a state a stream or task group reached;
and its place is the harness or an event loop library, never Starlette.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

#: Fewer scenarios than this say nothing about the environment as a whole.
MIN_SCENARIOS = 3
#: The share of a backend's runs one failure must cover (the runs that never touch the event loop
#: library, e.g. a bare endpoint, pass on a broken environment too: 4 of 38 in the test selection).
SHARE = 0.75

#: Exceptions of code that does not fit together (a signature or a name that is not there).
_MISMATCH = frozenset({"TypeError", "AttributeError", "ImportError", "ModuleNotFoundError", "NameError"})
#: Where a failure belongs to the environment rather than to Starlette (``where`` of a record's
#: exception is relative to site-packages, or a full path for the standard library).
_ENVIRONMENT = ("anyio/", "trio/", "sniffio/", "harness/", "/asyncio/")


def environment_failure(records: Iterable[dict[str, Any]]) -> str | None:
    """The reason a cell is ``crashed`` although its runs ran, or None when they are a verdict."""
    runs: Counter[str] = Counter()
    failures: Counter[tuple[str, str, str, str]] = Counter()
    scenarios: dict[tuple[str, str, str, str], set[str]] = {}
    for r in records:
        if r.get("outcome") == "not_applicable":
            continue
        runs[r["backend"]] += 1
        exc = r.get("exception") or {}
        kind, where = str(exc.get("type", "")), str(exc.get("where", ""))
        if r.get("outcome") == "exception" and kind in _MISMATCH and any(m in where for m in _ENVIRONMENT):
            key = (r["backend"], kind, str(exc.get("message", "")), where)
            failures[key] += 1
            scenarios.setdefault(key, set()).add(r["scenario"])
    for key, count in failures.most_common():
        backend, kind, message, where = key
        if count >= SHARE * runs[backend] and len(scenarios[key]) >= MIN_SCENARIOS:
            return f"{count} of {runs[backend]} {backend} runs failed on the environment at {where}: {kind}: {message}"[
                :500
            ]
    return None
