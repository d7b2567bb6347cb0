"""What a run observed beyond its outcome class, and the order in which a maintainer ranks it.

An outcome class says how the app ended; it does not say whether the client got its response,
whether every middleware's code after ``call_next`` ran, whether the endpoint finished or its
background task ran. Two runs with the same class can differ in exactly what matters (``ok`` covers
a complete response and no response at all), so the gate compares these too, each in a fixed order
from good to bad:

- ``response``: ``complete`` > ``partial`` > ``none``;
- ``layers skipped``: how many BaseHTTPMiddleware layers did not reach their code after
  ``call_next`` (fewer is better);
- ``endpoint``: ``finished`` > ``raised`` > ``cancelled`` (``not started`` is apart);
- ``background task``: ``ran`` > ``did not run``.

- ``expectation NAME``: ``met`` > ``not met``, for each of the scenario's own expectations.

A cell's observation is the set of values over its repeats; it got *worse* when its worst value, or
its best value, is worse than before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Each observation's values, best first; a value missing here is unranked (compared for change only).
RANKS: dict[str, tuple[Any, ...]] = {
    "response": ("complete", "partial", "none"),
    "endpoint": ("finished", "raised", "cancelled", "not started"),
    "background task": ("ran", "did not run"),
    #: One observation per expectation of the scenario (``expectation only-start-sent``).
    "expectation": ("met", "not met"),
}


def response(record: Mapping[str, Any]) -> str:
    """``complete``, ``partial`` (something was sent, not the final body) or ``none``."""
    if "response" in record:
        return str(record["response"])
    if record.get("complete_response"):
        return "complete"
    return "partial" if record.get("sent") else "none"


def observe(record: Mapping[str, Any]) -> dict[str, Any]:
    """The observations of one run record (only those the record can say anything about)."""
    out: dict[str, Any] = {"response": response(record)}
    endpoint = record.get("endpoint") or {}
    if endpoint:
        if endpoint.get("finished"):
            out["endpoint"] = "finished"
        elif endpoint.get("cancelled"):
            out["endpoint"] = "cancelled"
        elif endpoint.get("started"):
            out["endpoint"] = "raised"
        else:
            out["endpoint"] = "not started"
        if "background_ran" in endpoint:
            out["background task"] = "ran" if endpoint["background_ran"] else "did not run"
    for e in record.get("expectations") or ():
        out[f"expectation {e['name']}"] = "met" if e.get("met") else "not met"
    layers = record.get("layers")
    if layers:
        out["layers skipped"] = sum(
            1 for layer in layers if "after_call_next" in layer and not layer["after_call_next"]
        )
    return out


def collect(records: Iterable[Mapping[str, Any]]) -> dict[str, set[Any]]:
    """Every observation's set of values over a cell's runs."""
    seen: dict[str, set[Any]] = {}
    for r in records:
        for key, value in observe(r).items():
            seen.setdefault(key, set()).add(value)
    return seen


def _positions(key: str, values: set[Any]) -> list[int]:
    """Each value's place from best (0) to worst."""
    if key == "layers skipped":
        return [int(v) for v in values]
    ranks = RANKS.get(key.split(" ", 1)[0] if key.startswith("expectation ") else key, ())
    return [ranks.index(v) for v in values if v in ranks]


def worse(before: Mapping[str, set[Any]], after: Mapping[str, set[Any]]) -> list[str]:
    """Each observation that got worse, said as ``response complete -> none``: its worst value is
    worse than before, or its best value is (a cell that sometimes completed and now never does)."""
    found = []
    for key in before.keys() & after.keys():
        b, a = _positions(key, before[key]), _positions(key, after[key])
        if b and a and (max(a) > max(b) or min(a) > min(b)):
            found.append(f"{key} {_text(before[key])} -> {_text(after[key])}")
    return sorted(found)


def changed(before: Mapping[str, set[Any]], after: Mapping[str, set[Any]]) -> list[str]:
    """Each observation whose set of values changed at all."""
    return sorted(
        f"{key} {_text(before.get(key, set()))} -> {_text(after.get(key, set()))}"
        for key in before.keys() & after.keys()
        if before.get(key) != after.get(key)
    )


def _text(values: set[Any]) -> str:
    return "/".join(str(v) for v in sorted(values, key=str)) or "-"
