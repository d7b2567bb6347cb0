"""Wall-clock cost of the upgrade questions on a user app: the gate and bisect, 0.27.0 -> 0.37.2.

    python benchmarks/bench_upgrade.py [--skip-cold]

On ``benchmarks/apps/slow6.py`` (six BaseHTTPMiddleware layers over a 0.5 s endpoint), through the
real nox sessions:

- gate, environments built: ``nox -s gate -- --from 0.27.0 --to 0.37.2 --app ... --fresh``;
- bisect, environments built: ``nox -s bisect -- --good 0.27.0 --bad 0.37.2 --app ... --fresh``;
- bisect from nothing: the same with the gate's and bisect's environments moved aside first (the
  uv cache stays warm, as on a CI runner with a cache), then put back.

Each is run once after a warm-up that builds the environments; prints seconds per step. The
targets (issue 10): gate <= 20 s and bisect <= 60 s with environments built, bisect < 180 s cold.
Not a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ["--app", "slow6:app", "--app-dir", str(ROOT / "benchmarks" / "apps"), "--path", "/items"]
CELLS = ROOT / ".nox" / "cells"


def nox(*args: str, results: Path) -> float:
    cmd = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args, "--results", str(results)]
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    tail = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()][-2:]
    print(f"  {' '.join(args[:2])}: {elapsed:.1f} s (exit {out.returncode}) | {' | '.join(tail)[:300]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="skip the run from nothing")
    args = parser.parse_args()
    gate = ["-s", "gate", "--", "--from", "0.27.0", "--to", "0.37.2", *APP, "--fresh"]
    bisect = ["-s", "bisect", "--", "--good", "0.27.0", "--bad", "0.37.2", *APP, "--fresh"]
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "upgrade"
        print("warm-up (builds the environments):")
        nox(*bisect, results=results)
        print("environments built:")
        figures = {"gate": nox(*gate, results=results), "bisect": nox(*bisect, results=results)}
        if not args.skip_cold:
            aside = Path(tmp) / "cells-aside"
            shutil.move(str(CELLS), aside)
            try:
                print("from nothing (no environments; uv cache warm):")
                figures["bisect cold"] = nox(*bisect, results=Path(tmp) / "cold")
            finally:
                shutil.rmtree(CELLS, ignore_errors=True)
                shutil.move(str(aside), CELLS)
    targets = {"gate": 20, "bisect": 60, "bisect cold": 180}
    for name, seconds in figures.items():
        verdict = "met" if seconds <= targets[name] else "MISSED"
        print(f"{name}: {seconds:.1f} s (target <= {targets[name]} s): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
