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

A cell's observation is the set of values over its repeats; it got *worse* when its worst value is
worse than the worst value before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Each observation's values, best first; a value missing here is unranked (compared for change only).
RANKS: dict[str, tuple[Any, ...]] = {
    "response": ("complete", "partial", "none"),
    "endpoint": ("finished", "raised", "cancelled"),
    "background task": ("ran", "did not run"),
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


def _worst(key: str, values: set[Any]) -> int | None:
    if key == "layers skipped":
        return max(int(v) for v in values)
    ranks = RANKS.get(key, ())
    positions = [ranks.index(v) for v in values if v in ranks]
    return max(positions) if positions else None


def worse(before: Mapping[str, set[Any]], after: Mapping[str, set[Any]]) -> list[str]:
    """Each observation whose worst value got worse, said as ``response complete -> none``."""
    found = []
    for key in before.keys() & after.keys():
        b, a = _worst(key, before[key]), _worst(key, after[key])
        if b is not None and a is not None and a > b:
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
