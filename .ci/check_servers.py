"""Check the CI real-server slice: the servers started, the client really disconnected, the model held."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.servers import running_servers

parts = [json.loads(Path(f).read_text()) for f in sys.argv[1:]]
data = {"cells": [c for p in parts for c in p["cells"]], "probes": [x for p in parts for x in p["probes"]]}
cells = {(c["scenario"], c["server"]): c for c in data["cells"]}
failures = []
for (scenario, server), c in cells.items():
    if c["status"] != "done" or c["verdict"] not in ("agree", "both-flaky-compatible"):
        failures.append(f"{scenario} {server}: {c['status']} {c['verdict']} {c.get('reason', '')}")
    if set(c.get("closed_at") or {}) != {"before any response byte"}:
        failures.append(f"{scenario} {server}: the client closed at {c.get('closed_at')}")

depth4 = "depth-sweep[depth=4,endpoint=slow,when=now]"
expected = {
    (depth4, "uvicorn-h11"): "no_response_returned",  # uvicorn repeats the disconnect: lost at depth 4
    (depth4, "hypercorn-asyncio"): "ok",  # hypercorn delivers it once: not yet at depth 4
}
for key, outcome in expected.items():
    real = cells[key]["real"]
    if set(real) != {outcome}:
        failures.append(f"{key}: real server gave {real}, the history says {outcome}")
if not any("No response returned." in e for e in cells[(depth4, "uvicorn-h11")].get("server_errors", [])):
    failures.append("uvicorn's own log does not show the RuntimeError")
for p in data["probes"]:
    if not p.get("matches"):
        failures.append(f"probe {p['server']} {p.get('server_version')}: {p.get('mismatches') or p.get('reason')}")

leftovers = running_servers()
if leftovers:
    failures.append(f"server processes left running: {leftovers}")

print(f"real-server slice: {len(cells)} cells, {len(data['probes'])} probes")
if failures:
    print("\n".join(failures))
    sys.exit(1)
