"""Fitting a profile's ``receive()`` delay to what the real server did.

granian answers ``receive()`` from its Rust runtime's thread, so whether a racing ``send`` wins is a
race against another thread: no fixed number of scheduling points reproduces its rates. For a fixed
delay of ``k`` checkpoints a scripted asyncio run is deterministic, so the real server's outcome rates
over a set of cells are a mixture of the outcomes at ``k = 0, 1, 2, ...``. ``fit_weights`` finds the
mixture weights of highest likelihood (EM: each step can only raise the likelihood, and the weights
stay a distribution), from the counts the real-server check records with ``scripted_by_delay``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError
from harness.run import NOT_APPLICABLE

#: Delays tried when a cell records its scripted outcome per delay: beyond this, no cell of the
#: default checks changes outcome (0.37.2's depth 6 is the last to turn, at 7).
MAX_DELAY = 12


@dataclass(frozen=True)
class FitCell:
    """One cell's evidence: what the real server did, and the scripted outcome at each delay."""

    name: str
    real: Mapping[str, int]
    by_delay: Sequence[str]


@dataclass(frozen=True)
class Fit:
    weights: tuple[float, ...]
    #: Real runs whose outcome no delay produces (the model cannot explain them; left out of the fit).
    unexplained: int
    runs: int
    log_likelihood: float

    def predicted(self, cell: FitCell) -> dict[str, float]:
        out: dict[str, float] = {}
        for k, w in enumerate(self.weights):
            if w > 0 and k < len(cell.by_delay):
                out[cell.by_delay[k]] = out.get(cell.by_delay[k], 0.0) + w
        return out


#: A fitted weight at least this large is a delay some runs need (EM drives unneeded ones to ~0).
_NEEDED = 1e-6


def fit_weights(cells: Sequence[FitCell], *, iterations: int = 5000, tol: float = 1e-12) -> Fit:
    """Maximum-likelihood mixture weights over delays ``0..len(by_delay)-1``.

    Rounded to 3 places and trimmed of trailing zeros, so the profile can carry them as a literal.
    """
    if not cells:
        raise UsageError("no cell carries scripted_by_delay: run the servers check with --server granian first")
    width = min(len(c.by_delay) for c in cells)
    evidence, unexplained, runs = _evidence(cells, width)
    weights, log_likelihood = _em(evidence, width, iterations, tol)
    # Three decimals, but a delay the runs need keeps at least 0.001: rounding a rare class to 0
    # would make the profile unable to produce outcomes that were seen.
    rounded = [max(round(x, 3), 0.001) if x >= _NEEDED else 0.0 for x in weights]
    while len(rounded) > 1 and rounded[-1] == 0:
        rounded.pop()
    scale = sum(rounded) or 1.0
    return Fit(tuple(round(x / scale, 3) for x in rounded), unexplained, runs, log_likelihood)


def _evidence(cells: Sequence[FitCell], width: int) -> tuple[list[tuple[int, list[int]]], int, int]:
    """(count, the delays that produce that outcome) per real outcome; runs no delay explains; runs."""
    evidence: list[tuple[int, list[int]]] = []
    unexplained = runs = 0
    for c in cells:
        for outcome, n in c.real.items():
            if outcome == NOT_APPLICABLE or n <= 0:
                continue  # the server never called the app: no evidence about the race
            runs += n
            ks = [k for k in range(width) if c.by_delay[k] == outcome]
            if ks:
                evidence.append((n, ks))
            else:
                unexplained += n
    return evidence, unexplained, runs


def _em(evidence: list[tuple[int, list[int]]], width: int, iterations: int, tol: float) -> tuple[list[float], float]:
    """EM for mixture weights: each run's outcome is shared among the delays that produce it, in
    proportion to their current weight; the new weight of a delay is its share of all runs."""
    w = [1.0 / width] * width
    total = sum(n for n, _ in evidence) or 1
    previous = -math.inf
    for _ in range(iterations):
        mass = [0.0] * width
        ll = 0.0
        for n, ks in evidence:
            p = sum(w[k] for k in ks)
            if p <= 0:
                return w, -math.inf
            ll += n * math.log(p)
            for k in ks:
                mass[k] += n * w[k] / p
        w = [m / total for m in mass]
        if ll - previous < tol:
            return w, ll
        previous = ll
    return w, previous


def cells_from_agreement(rows: Iterable[Mapping[str, Any]], server: str) -> list[FitCell]:
    """The cells of an ``agreement.json`` that carry per-delay scripted outcomes for ``server``."""
    out = []
    for r in rows:
        if r.get("server") != server or r.get("status") != "done" or not r.get("scripted_by_delay"):
            continue
        out.append(FitCell(f"{r['starlette']} {r['scenario']}", dict(r["real"]), list(r["scripted_by_delay"])))
    return out
