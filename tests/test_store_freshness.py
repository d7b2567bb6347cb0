"""A rerun of the matrix redoes every cell that did not finish well: only a ``done`` cell with the
same pins, selection and sources is current; ``crashed``, ``install_failed`` and ``skipped`` are
tried again, because the index, the interpreters or the harness may have changed since."""

from __future__ import annotations

import pytest

from harness.defaults import PROJECT_ROOT
from harness.matrix import Cell
from harness.results import CRASHED, DONE, INSTALL_FAILED, SKIPPED, Store, file_hash

CELL = Cell(starlette="1.10.0", python="3.11", resolution="pinned", requirements=("starlette==1.10.0",))


def recorded(tmp_path, status: str) -> Store:
    store = Store(tmp_path)
    path = store.results_path(CELL.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    sources = {"harness/cli.py": file_hash(str(PROJECT_ROOT / "harness" / "cli.py"))}
    store.record(CELL, status, reason="why", selection_hash="abc", sources=sources)
    return store


def test_a_done_cell_with_the_same_selection_is_current(tmp_path):
    store = recorded(tmp_path, DONE)
    assert store.is_fresh(CELL, "abc")
    assert not store.is_fresh(CELL, "another selection")


@pytest.mark.parametrize("status", [CRASHED, INSTALL_FAILED, SKIPPED])
def test_a_cell_that_did_not_finish_well_is_tried_again(tmp_path, status):
    assert not recorded(tmp_path, status).is_fresh(CELL, "abc")
