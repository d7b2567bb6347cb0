"""A stand-in for the harness's worker that follows a script, for the supervisor's tests: it plays
runs ``resume..n`` and, per ``"index:attempt"``, does what the script says (``die`` during the run,
``partial-die`` after writing half a record, ``die-after`` once the record is written,
``die-before`` before the run starts)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

fd, resume, n, script_file, results = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
first_attempt = json.loads(sys.argv[6])
script = json.loads(Path(script_file).read_text())
tries_file = Path(script_file + ".tries")
channel = os.fdopen(fd, "w", buffering=1)


def send(**event: object) -> None:
    channel.write(json.dumps(event) + "\n")
    channel.flush()


def base(i: int) -> dict[str, object]:
    return dict(
        scenario="s", params={}, backend="asyncio", profile="p", seed=None, repeat=i,
        resolution=None, starlette="1.0", anyio=None, trio=None, python="3", fastapi=None,
    )  # fmt: skip


send(event="ready", runs=n - resume)
out = open(results, "a")  # noqa: SIM115 - open until the process ends, as the real worker's
for i in range(resume, n):
    tries = tries_file.read_text().split().count(str(i)) if tries_file.exists() else 0
    with tries_file.open("a") as f:
        f.write(f"{i}\n")
    action = script.get(f"{i}:{tries}", "ok")
    if action == "die-before":
        os._exit(9)
    send(event="start", base=base(i))
    if action == "die":
        os._exit(9)
    if action == "partial-die":
        out.write('{"scenario": "s", "trunc')
        out.flush()
        os._exit(9)
    record = dict(base(i), outcome="ok", detail="")
    if first_attempt:
        record["first_attempt"], first_attempt = first_attempt, None
    out.write(json.dumps(record) + "\n")
    out.flush()
    if action == "die-after":
        os._exit(9)
send(event="done", threads=[])
