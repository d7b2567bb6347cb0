"""Does the scripted model say what the real server did? The verdict for one cell, and the table.

A cell is one scenario, one Starlette version and one real server, run N times for real and N times
through the scripted driver with the profile that models that server. Outcomes are counted, never
taken from a single run: the real server's scheduling differs from the driver's, so a race that is
lost 20/20 times in one may be lost 17/20 times in the other.

- ``agree``: both sides gave one and the same outcome every time;
- ``both-flaky-compatible``: at least one side gave more than one outcome, and for every outcome
  class the two rates differ by at most ``TOLERANCE`` (wider for fewer than 20 runs a side, see
  ``tolerance_for``);
- ``disagree``: anything else; the table says which outcomes differ;
- ``no-data``: one side has no runs (the server did not start, or the cell crashed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.results._counts import format_counts

#: Largest difference of rates for one outcome class still called compatible: about two standard
#: errors of the difference of two 20-run rates near 0.5 (sqrt(2 * 0.25 / 20) = 0.16).
TOLERANCE = 0.35

AGREE = "agree"
COMPATIBLE = "both-flaky-compatible"
DISAGREE = "disagree"
NO_DATA = "no-data"


def tolerance_for(n_real: int, n_scripted: int) -> float:
    """``TOLERANCE``, widened for small samples to two worst-case standard errors of the difference
    (5 runs a side: 0.63), so a flaky cell is not called a disagreement for want of runs."""
    return max(TOLERANCE, 2 * math.sqrt(0.25 * (1 / n_real + 1 / n_scripted)))


def verdict(real: Mapping[str, int], scripted: Mapping[str, int], tolerance: float | None = None) -> tuple[str, float]:
    """The verdict and the largest rate difference over all outcome classes."""
    n_real, n_scripted = sum(real.values()), sum(scripted.values())
    if not n_real or not n_scripted:
        return NO_DATA, 1.0
    if tolerance is None:
        tolerance = tolerance_for(n_real, n_scripted)
    outcomes = set(real) | set(scripted)
    gap = max(abs(real.get(o, 0) / n_real - scripted.get(o, 0) / n_scripted) for o in outcomes)
    if len(real) == 1 and len(scripted) == 1:
        return (AGREE if set(real) == set(scripted) else DISAGREE), gap
    return (COMPATIBLE if gap <= tolerance else DISAGREE), gap


def markdown(cells: Sequence[Mapping[str, Any]], probes: Sequence[Mapping[str, Any]] = ()) -> str:
    """The agreement table (and the probe table) as Markdown, one row per cell."""
    lines = [
        "# Real servers vs the scripted driver",
        "",
        f"Verdicts: agree (same single outcome), {COMPATIBLE} (a side is flaky; every outcome's rate "
        f"within {TOLERANCE:g}, more for fewer than 20 runs a side), disagree, no-data. "
        "Real: N requests over loopback with a raw-socket "
        "client; scripted: N runs of the driver with the server's profile on the worker's backend.",
        "",
        "| starlette | scenario | server | profile | real | scripted | verdict | client closed | server log |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        closed = ", ".join(f"{k} {v}" for k, v in (c.get("closed_at") or {}).items()) or "-"
        errors = c.get("server_errors") or []
        log = f"{len(errors)} error(s): {errors[0]}" if errors else "clean"
        if c.get("status") != "done":
            log = f"{c.get('status')}: {c.get('reason', '')}"
        lines.append(
            f"| {c['starlette']} | {c['scenario']} | {c['server']} {c.get('server_version') or ''} | "
            f"{c.get('profile') or '-'} | {format_counts(c.get('real') or {})} | "
            f"{format_counts(c.get('scripted') or {})} | **{c['verdict']}** | {closed} | {_cell(log)} |"
        )
    if probes:
        lines += [
            "",
            "## Profile probes",
            "",
            "| server | version | profile | result | observed |",
            "|---|---|---|---|---|",
        ]
        for p in probes:
            result = "matches" if p.get("matches") else "; ".join(p.get("mismatches") or [p.get("reason", "failed")])
            observed = ", ".join(f"{k}={v}" for k, v in (p.get("observed") or {}).items())
            lines.append(
                f"| {p['server']} | {p.get('server_version') or '-'} | {p.get('profile') or '-'} | "
                f"{_cell(result)} | {_cell(observed)} |"
            )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:240]
