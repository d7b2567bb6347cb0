"""Step three: what runs leave behind, and what is read from it.

``_files`` is the JSONL results format (the contract every later step reads), ``_store`` the cells'
results and status files, ``_merge`` many result files as one matrix, ``_report`` the report (ranges,
transitions, the heatmap), ``_baseline`` the recorded expectations the tests compare with, ``_diff``
the upgrade gate's comparison of two result sets, ``_agreement`` the real-server verdict, and
``_repro`` every command that reproduces a result; ``_summary`` the answer in a few lines, derived from
the ranges, and ``_html``, ``_markdown``, ``_json`` the report's page, Markdown and JSON contract
(``report.schema.json``).
"""

from harness.results._agreement import (
    AGREE,
    COMPATIBLE,
    DISAGREE,
    NO_DATA,
    TOLERANCE,
    tolerance_for,
    verdict,
)
from harness.results._agreement import markdown as agreement_markdown
from harness.results._baseline import DEFAULT_PATH as BASELINE_PATH
from harness.results._baseline import Baseline
from harness.results._baseline import from_report as baseline_from_report
from harness.results._baseline import write as write_baseline
from harness.results._charts import readme_images
from harness.results._counts import format_counts, ordered
from harness.results._diff import BETTER, CHANGED, SAME, WORSE, CellDiff, compare, failing, judge, publish
from harness.results._files import REQUIRED_FIELDS, check_output, dumps, read_records, write_atomic
from harness.results._fingerprint import file_hash, loaded_sources, still_current
from harness.results._health import environment_failure
from harness.results._json import schema as report_schema
from harness.results._merge import load_files, report_from_files
from harness.results._report import (
    CellInfo,
    Report,
    agreement_html,
    build,
    exact_requirements,
    label,
    load_agreement,
    outcome_set,
)
from harness.results._repro import (
    nox_command,
    nox_command_template,
    run_args,
    run_command,
    run_command_template,
    seed_suffix,
    serve_check_command,
)
from harness.results._store import CRASHED, DONE, INSTALL_FAILED, SKIPPED, CellStatus, Store
from harness.results._summary import Summary, summarize
from harness.results._upgrade_report import Side as UpgradeSide
from harness.results._upgrade_report import UpgradeReport
from harness.results._upgrade_report import summary_lines as upgrade_summary

__all__ = [
    "AGREE",
    "BASELINE_PATH",
    "BETTER",
    "CHANGED",
    "COMPATIBLE",
    "CRASHED",
    "DISAGREE",
    "DONE",
    "INSTALL_FAILED",
    "NO_DATA",
    "REQUIRED_FIELDS",
    "SAME",
    "SKIPPED",
    "TOLERANCE",
    "WORSE",
    "Baseline",
    "CellDiff",
    "CellInfo",
    "CellStatus",
    "Report",
    "Store",
    "Summary",
    "UpgradeReport",
    "UpgradeSide",
    "agreement_html",
    "agreement_markdown",
    "baseline_from_report",
    "build",
    "check_output",
    "compare",
    "dumps",
    "environment_failure",
    "exact_requirements",
    "failing",
    "file_hash",
    "format_counts",
    "judge",
    "label",
    "load_agreement",
    "load_files",
    "loaded_sources",
    "nox_command",
    "nox_command_template",
    "ordered",
    "outcome_set",
    "publish",
    "read_records",
    "readme_images",
    "report_from_files",
    "report_schema",
    "run_args",
    "run_command",
    "run_command_template",
    "seed_suffix",
    "serve_check_command",
    "still_current",
    "summarize",
    "tolerance_for",
    "upgrade_summary",
    "verdict",
    "write_atomic",
    "write_baseline",
]
