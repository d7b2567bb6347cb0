"""How outcome counts are written, everywhere: ``ok 2/5, no_response_returned 3/5``.

Counts are never reduced to a majority; every class is shown with its share, in one fixed order
(the outcome classes as the classifier lists them, then the statuses of cells that did not run), so
the same counts read the same in the terminal, the report, the gate and the agreement table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from harness.results._store import CELL_STATUSES
from harness.run import OUTCOMES

_ORDER = {o: i for i, o in enumerate((*OUTCOMES, *CELL_STATUSES))}


def ordered(outcomes: Iterable[str]) -> list[str]:
    """Outcome classes in the fixed order (unknown names last, alphabetically)."""
    return sorted(outcomes, key=lambda o: (_ORDER.get(o, len(_ORDER)), o))


def format_counts(counts: Mapping[str, int], *, fractions: bool = True, bare_single: bool = False) -> str:
    """``a 2/5, b 3/5`` (``a 2, b 3`` without ``fractions``); one class alone is just its name with
    ``bare_single`` (a stable cell of the report); no runs at all is ``-``."""
    present = {o: n for o, n in counts.items() if n}
    total = sum(present.values())
    if not total:
        return "-"
    if bare_single and len(present) == 1:
        return next(iter(present))
    return ", ".join(f"{o} {present[o]}/{total}" if fractions else f"{o} {present[o]}" for o in ordered(present))
