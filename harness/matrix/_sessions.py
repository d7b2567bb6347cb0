"""What ``nox -s matrix`` does, so the noxfile stays declarative.

nox runs sessions one after another; a matrix cell's session creates and fills its environment
(fast with uv) and hands the run itself to a pool of worker threads, one per core, each waiting on
one harness process. The ``report`` session, which every cell notifies, waits for the pool with a
progress display and then writes the report. Everything a cell produces goes to the store first, so
an interrupted matrix keeps every finished cell and the next run redoes only the rest. Ctrl-C ends
the running cells and starts no queued one (``MatrixRun.interrupt``); a kill of nox takes its cell
processes with it (``cellrun.lifeline``).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import defaults, options
from harness.errors import HarnessError, IndexUnavailable, UsageError
from harness.matrix import _appenv as appenv
from harness.matrix import _cellrun as cellrun
from harness.matrix import _releases as index
from harness.matrix._cells import Cell, dev_cell, make_cell, resolve_versions
from harness.matrix._config import MatrixConfig, load
from harness.matrix._fastapi import fastapi_cells
from harness.matrix._interpreters import find_python
from harness.results import DONE, SKIPPED, Store, format_counts
from harness.scenario import load_catalogue, select

if TYPE_CHECKING:
    import nox

    from harness.results import CellInfo


def options_parser() -> argparse.ArgumentParser:
    return options.parser("nox -s matrix --", options.MATRIX, help=False)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise UsageError(f"--shard {text}: write I/N with 1 <= I <= N, e.g. --shard 2/3")
    return int(i), int(n)


def posargs(argv: list[str]) -> list[str]:
    """What follows ``--`` on the nox command line (nox passes it to sessions as posargs too)."""
    return argv[argv.index("--") + 1 :] if "--" in argv else []


@dataclass
class MatrixRun:
    """One invocation of the matrix: its configuration, its cells and the pool running them."""

    options: argparse.Namespace
    config: MatrixConfig | None = None
    cells: list[Cell] = field(default_factory=list)
    error: str | None = None
    store: Store = field(default_factory=Store)
    selection: cellrun.Selection | None = None
    _pool: ThreadPoolExecutor | None = None
    _futures: dict[str, Future[str]] = field(default_factory=dict)
    _running: set[str] = field(default_factory=set)
    _children: cellrun.Children = field(default_factory=cellrun.Children)
    #: Cells whose session ran in this invocation (of nox): the ones the report session judges.
    touched: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = field(default_factory=time.perf_counter)

    @classmethod
    def from_argv(cls, argv: list[str], *, fetch_index: bool = True) -> MatrixRun:
        """Never raises: a bad matrix or option becomes ``error``, shown by the matrix session only."""
        try:
            options = options_parser().parse_args(posargs(argv))
        except HarnessError as e:
            return cls(argparse.Namespace(results=defaults.RESULTS_DIR), error=str(e))
        run = cls(options, store=Store(Path(options.results)))
        try:
            run._plan(fetch_index)
        except HarnessError as e:
            run.error = str(e)
        return run

    def _plan(self, fetch_index: bool) -> None:
        o = self.options
        config = self.config = load(o.matrix)
        offline = o.offline or not fetch_index
        try:
            releases = index.releases(offline=offline)
        except IndexUnavailable:
            if offline and not o.offline:
                releases = index.releases(offline=False)
            else:
                raise
        resolution = o.resolution or config.resolution
        chosen = resolve_versions(config, releases, o.versions)
        self.cells = [make_cell(config, r, resolution) for r in chosen]
        if o.starlette:  # a branch under test: its cells only, unless --versions asks for releases too
            dev = [dev_cell(config, releases, t) for t in o.starlette]
            self.cells = [*(self.cells if o.versions else []), *dev]
        if o.fastapi:  # FastAPI releases: their cells only, unless --versions asks for releases too
            fastapi = fastapi_cells(config, releases, o.fastapi, offline=offline)
            self.cells = [*(self.cells if o.versions else []), *fastapi]
        shard = parse_shard(o.shard)
        if shard is not None:  # round robin, so every shard gets old and new releases alike
            self.cells = [c for k, c in enumerate(self.cells) if k % shard[1] == shard[0] - 1]
        if o.app:  # the user's app on every cell, with its own requirements
            self.cells = [appenv.with_app(c, o) for c in self.cells]
            scenarios = list(o.scenario) or ["app*"]
        else:
            scenarios = list(o.scenario) or list(config.scenarios)
            select(load_catalogue(), scenarios)  # fail now, in one line, on a pattern that matches nothing
        self.selection = cellrun.Selection.build(
            config,
            scenarios=scenarios,
            backends=options.csv_values(o.backend),
            profiles=options.csv_values(o.profile),
            repeats=o.repeat,
            seed=o.seed,
            extra=appenv.run_args(o),
        ).validate()
        if o.jobs is not None and o.jobs < 0:
            raise UsageError(f"--jobs {o.jobs}: give a number of cells at once (0: one per core)")

    # --- nox parametrization -------------------------------------------------------------------

    def params(self) -> list[tuple[str | bool, str, str, list[str]]]:
        """(python, cell id, session id, tags) per cell; python False where no interpreter was found.
        The parameter is the cell's id, a string, so ``nox --report`` and ``nox -l --json`` can
        write it; ``cell_by_id`` gives the cell back."""
        if self.error is not None:
            return [(False, "error", "error", [])]
        out: list[tuple[str | bool, str, str, list[str]]] = []
        for cell in self.cells:
            python = False if cell.skip_reason else (find_python(cell.python) or False)
            out.append((python, cell.id, f"starlette='{cell.id}'", list(cell.tags)))
        return out

    def cell_by_id(self, cell_id: str) -> Cell | None:
        return next((c for c in self.cells if c.id == cell_id), None)

    # --- one cell ------------------------------------------------------------------------------

    def cell_session(self, session: nox.Session, cell: Cell | None) -> None:
        try:
            self._cell_session(session, cell)
        except KeyboardInterrupt:
            self.interrupt()
            raise

    def _cell_session(self, session: nox.Session, cell: Cell | None) -> None:
        if self.error is not None or cell is None:
            session.error(self.error or "no cell")
        self.touched.add(cell.id)
        self.store.discard_partial(cell.id)
        assert self.selection is not None
        assert self.config is not None
        if not self.options.fresh and self.store.is_fresh(cell, self.selection.hash):
            session.log(f"{cell.id}: results are current (use -- --fresh to redo)")
            session.notify("report")
            return
        if cell.skip_reason or session.python is False or session.virtualenv.location is None:
            reason = cell.skip_reason or f"no Python {cell.python} interpreter found (install it, e.g. with pyenv)"
            self.store.record(cell, SKIPPED, reason=reason, selection_hash=self.selection.hash)
            session.warn(f"{cell.id}: skipped: {reason}")
            session.notify("report")
            return
        python = str(Path(session.virtualenv.location) / "bin" / "python")
        ok, reason = cellrun.install(cell, python)
        if not ok:
            cellrun.record_install_failure(cell, self.selection, self.store, reason)
            session.warn(f"{cell.id}: install failed: {reason}")
            session.notify("report")
            return
        self._submit(cell, python)
        session.log(f"{cell.id}: installed, running in the background ({self.pending()} queued or running)")
        session.notify("report")

    def _submit(self, cell: Cell, python: str) -> None:
        assert self.selection is not None
        assert self.config is not None
        if self._pool is None:
            jobs = self.options.jobs if self.options.jobs is not None else self.config.jobs
            self._pool = ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1, thread_name_prefix="cell")
            self._children.stop_on_sigint()
        selection, timeout = self.selection, self.config.cell_timeout

        def work() -> str:
            with self._lock:
                self._running.add(cell.id)
            try:
                return cellrun.run(cell, python, selection, self.store, timeout, children=self._children)
            finally:
                with self._lock:
                    self._running.discard(cell.id)

        self._futures[cell.id] = self._pool.submit(work)

    def pending(self) -> int:
        return sum(1 for f in self._futures.values() if not f.done())

    # --- the end -------------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C: end the running cells, start no queued one, and return once their threads are
        done, so that nox exits 130 at once and no cell is recorded as crashed by the interrupt.
        Bounded: a cell process that ignores SIGINT for ``STOP_GRACE`` seconds is killed."""
        self._children.stop()
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        _, left = wait_futures(self._futures.values(), timeout=cellrun.STOP_GRACE)
        if left:
            self._children.kill()
            wait_futures(left, timeout=cellrun.STOP_GRACE)

    def wait(self) -> dict[str, str]:
        """Wait for every submitted cell, showing progress; the status of each."""
        if not self._futures:
            return {}
        try:
            return self._wait()
        except KeyboardInterrupt:
            self.interrupt()
            raise

    def _wait(self) -> dict[str, str]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        total = len(self._futures)
        with Progress(
            TextColumn("cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        ) as progress:
            task = progress.add_task("", total=total)
            while True:
                done = sum(1 for f in self._futures.values() if f.done())
                with self._lock:
                    running = ", ".join(sorted(self._running)) or "-"
                progress.update(task, completed=done, description=f"running: {running}")
                if done == total:
                    break
                time.sleep(0.2)
        if self._pool is not None:
            self._pool.shutdown()
        return {cid: f.result() for cid, f in self._futures.items()}

    def summary_line(self, statuses: dict[str, str]) -> str:
        elapsed = time.perf_counter() - self._started
        parts = format_counts(Counter(statuses.values()), fractions=False) if statuses else "nothing to run"
        return f"{len(statuses)} cells ran in {elapsed:.1f} s: {parts}"


def cell_infos(cells: list[Cell], store: Store) -> list[CellInfo]:
    """The report's view of each cell of this matrix that has run (or tried to)."""
    from harness.results import CellInfo, exact_requirements

    infos = []
    for cell in cells:
        st = store.status(cell.id)
        if st is None:
            continue
        env = st.environment or {}
        infos.append(
            CellInfo(
                id=cell.id,
                starlette=cell.starlette,
                status=st.status,
                reason=st.reason,
                python=env.get("python") or cell.python,
                anyio=env.get("anyio"),
                trio=env.get("trio"),
                resolution=cell.resolution,
                requirements=exact_requirements(cell.starlette, env.get("anyio"), env.get("trio"), cell.fastapi)
                if env
                else list(cell.requirements),
                exclude_newer=cell.exclude_newer,
                runs=st.runs,
                elapsed_s=st.elapsed_s,
                fastapi=cell.fastapi,
            )
        )
    return infos


def write_report(run: MatrixRun) -> list[Path]:
    from harness.results import build

    infos = cell_infos(run.cells, run.store)
    # Each cell's index (its records folded when it finished), not its ~4,000 records: see _index.
    folds = {c.id: run.store.folded(c.id) for c in infos if c.status == DONE}
    report = build(infos, {}, matrix_args(run.options), records_of=run.store.records, folds=folds)
    return report.write(run.store.root)


def matrix_args(o: argparse.Namespace) -> list[str]:
    """What a repro's ``nox -s matrix`` needs to have this run's cells: the FastAPI releases and
    the app's requirements (the app's own options come from each record)."""
    fastapi = [a for spec in getattr(o, "fastapi", None) or () for a in ("--fastapi", spec)]
    return [*fastapi, *appenv.options_args(o)]


def report_session(run: MatrixRun, session: nox.Session) -> None:
    if run.error is not None:
        session.error(run.error)
    statuses = run.wait()
    if statuses:
        session.log(run.summary_line(statuses))
    paths = write_report(run)
    session.log("report: " + ", ".join(str(p) for p in paths))
    # Judge the cells this invocation ran (one cell's session judges that cell, not another's old
    # failure); the report session alone judges every cell of the selection.
    judged = [c for c in run.cells if c.id in run.touched] or run.cells
    final = cell_statuses(judged, run.store)
    skipped = [f"{cid} ({reason})" for cid, (status, reason) in final.items() if status == SKIPPED]
    if skipped:
        session.warn(f"{len(skipped)} cell(s) skipped: {'; '.join(skipped)}")
    # A cell with no status was not selected this time (or its session failed, which nox reports).
    bad = [
        f"{cid}: {status} ({reason})"
        for cid, (status, reason) in final.items()
        if status not in (DONE, SKIPPED, NOT_RUN)
    ]
    if bad:
        session.error(f"{len(bad)} cell(s) failed: {'; '.join(bad)} (see the Cells table of the report)")
    if skipped and run.options.strict:
        session.error(f"--strict: {len(skipped)} cell(s) were skipped")


NOT_RUN = "not run"


def cell_statuses(cells: list[Cell], store: Store) -> dict[str, tuple[str, str]]:
    """Each selected cell's final status and reason, from the store (a cell with no status file
    never ran: its session failed before it could record one)."""
    out: dict[str, tuple[str, str]] = {}
    for cell in cells:
        st = store.status(cell.id)
        out[cell.id] = (st.status, st.reason) if st is not None else (NOT_RUN, "no status recorded")
    return out


def baseline_session(run: MatrixRun, session: nox.Session) -> None:
    """Write tests/baseline.json from the results of the current matrix (all cells must be done)."""
    from harness.results import BASELINE_PATH, baseline_from_report, build, write_baseline

    if run.error is not None:
        session.error(run.error)
    infos = cell_infos(run.cells, run.store)
    missing = sorted({c.id for c in run.cells} - {i.id for i in infos})
    if missing:
        session.error(f"{len(missing)} cell(s) have no results ({', '.join(missing[:5])}...); run nox -s matrix first")
    records = {c.id: list(run.store.records(c.id)) for c in infos if c.status == DONE}
    report = build(infos, records)
    resolution = run.cells[0].resolution if run.cells else "pinned"
    data = baseline_from_report(report, resolution=resolution, note="written by nox -s baseline from the full matrix")
    write_baseline(data, BASELINE_PATH)
    session.log(f"{BASELINE_PATH}: {len(data['rows'])} rows over {len(data['versions'])} releases")
