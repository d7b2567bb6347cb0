"""Check the CI matrix slice against the history the harness exists to reproduce."""

import json
import sys
from pathlib import Path

report = json.loads(Path(sys.argv[1]).read_text())
cells = {c["id"]: c for c in report["cells"]}
assert all(c["status"] == "done" for c in cells.values()), {k: c["status"] for k, c in cells.items()}


def outcomes(scenario: str, backend: str, profile: str, version: str) -> set[str]:
    for row in report["rows"]:
        if (row["scenario"], row["backend"], row["profile"]) == (scenario, backend, profile):
            for r in row["ranges"]:
                versions = list(cells)
                if versions.index(r["from"]) <= versions.index(version) <= versions.index(r["to"]):
                    return set(r["outcomes"])
    raise AssertionError(f"no row for {scenario} {backend} {profile}")


failures = []
for backend in ("asyncio", "trio"):
    for profile in ("gen-end", "gen-repeat"):
        if outcomes("pr1634-seed", backend, profile, "0.20.4") != {"no_response_returned"}:
            failures.append(f"pr1634-seed {backend} {profile} should be no_response_returned on 0.20.4")
        if "no_response_returned" in outcomes("pr1634-seed", backend, profile, "0.21.0"):
            failures.append(f"pr1634-seed {backend} {profile} must not be no_response_returned on 0.21.0")
    for version in ("0.28.0", "0.38.3"):
        seen = outcomes("depth-sweep[depth=5,endpoint=slow,when=now]", backend, "uvicorn", version)
        expected = "no_response_returned" in seen if version == "0.28.0" else seen == {"ok"}
        if not expected:
            failures.append(f"depth-sweep depth=5 {backend} uvicorn on {version}: {seen}")
    # Starlette #2516's own regression test, as a scenario: the 0.28 era loses the response from two
    # layers; 0.38.3 fixed it; 0.21.0 - 0.27.0 never raised it.
    stacked = "stacked-client-disconnected[depth=2]"
    for version, want in (("0.21.0", False), ("0.28.0", True), ("0.38.3", False), ("1.10.0", False)):
        seen = outcomes(stacked, backend, "uvicorn", version)
        if ("no_response_returned" in seen) != want:
            failures.append(f"{stacked} {backend} uvicorn on {version}: {seen}")
for row in report["rows"]:
    if row["scenario"].startswith("no-disconnect"):
        bad = [r for r in row["ranges"] if set(r["outcomes"]) - {"ok", "not_applicable"}]
        if bad:
            failures.append(f"control {row['scenario']} {row['backend']} {row['profile']}: {bad}")
print("\n".join(failures) or f"matrix slice ok: {len(cells)} cells, {len(report['rows'])} rows")
sys.exit(1 if failures else 0)
