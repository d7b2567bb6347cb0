"""Wall-clock cost of the full-matrix report: from the records, and from the cells' indexes.

    python benchmarks/bench_report.py [--results results] [--out DIR] [--repeat 3]

Builds and writes the report of a finished matrix's results folder (report.md, .json, .html and
the pictures, PNGs off) the way ``nox -s report`` does, twice over:

- ``records``: every record of every cell parsed (what the report did before the index);
- ``index``: each cell's ``.<cell>.index.json``, written when the cell finished (any missing or
  stale index is rebuilt first, untimed, as a finished matrix has them).

Prints read+fold and write seconds per mode (the best of ``--repeat``). The target (issue 12):
at most 5 s for the full default matrix (~343,000 records). Not a test: timings vary by machine
and by what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.results import DONE, Store, build  # noqa: E402
from harness.results._index import load  # noqa: E402
from harness.results._merge import _status_cell  # noqa: E402


def once(store: Store, mode: str, out: Path) -> tuple[float, float, int, int]:
    started = time.perf_counter()
    infos = [_status_cell(p)[1] for p in sorted(store.cells_dir.glob("*.status.json"))]
    done = [c.id for c in infos if c.status == DONE]
    if mode == "records":
        records = {cid: list(store.records(cid)) for cid in done}
        report = build(infos, records)
        runs = sum(len(r) for r in records.values())
    else:
        folds = {cid: store.folded(cid) for cid in done}
        report = build(infos, {}, records_of=store.records, folds=folds)
        runs = sum(sum(sum(r.counts.values()) for r in f.rows.values()) for f in folds.values())
    built = time.perf_counter()
    report.write(out)
    return built - started, time.perf_counter() - built, runs, len(report.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="a matrix's results folder")
    parser.add_argument("--out", type=Path, default=None, help="where the reports go (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["HARNESS_REPORT_PNG"] = "0"  # the browser's start-up is not the report's cost
    store = Store(args.results)
    if not any(store.cells_dir.glob("*.status.json")):
        print(f"{store.cells_dir}: no cell status files; run the matrix first (nox -s matrix)", file=sys.stderr)
        return 2
    for status in store.cells_dir.glob("*.status.json"):
        load(store.results_path(status.name.removesuffix(".status.json")))  # indexes current, untimed
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for mode in ("records", "index"):
            best = min((once(store, mode, out) for _ in range(args.repeat)), key=lambda t: t[0] + t[1])
            read, write, runs, rows = best
            total = read + write
            print(f"{mode:7} {runs} runs, {rows} rows: read {read:.2f} s, write {write:.2f} s, total {total:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
