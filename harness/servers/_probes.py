"""Profile probes: ask the installed server what each scripted profile assumes about it.

A profile is a claim about a server (``receive()`` repeats ``http.disconnect`` or blocks after the
first, says ``http.disconnect`` as soon as the response is complete, ``send`` raises after a
disconnect, the scope's ``spec_version``, ...). Servers change those things between releases
(uvicorn 0.28.0 raised from ``send``; 0.28.1 stopped), so each claim is measured against the real
server by a small app and a raw-socket client, and any difference fails with what changed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import defaults
from harness.errors import ServerStartError
from harness.run.backends import Backend
from harness.scenario import ServerProfile, dist_version, get_profile, parse_script
from harness.servers._process import ServerProcess
from harness.servers._rawclient import play
from harness.servers._recorder import AppFactory
from harness.servers._registry import get_server

#: Real seconds: how long a ``receive()`` may block before the probe calls it blocked, and how long
#: the client pauses before it closes (longer, so "blocked" never means "not yet closed").
BLOCK_S = 0.2
SETTLE_S = 0.5
RESPONSE = b"slow"


@dataclass
class Observations:
    """What one probe request saw, keyed by the profile field it speaks to."""

    seen: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.seen)


class _ProbeIO:
    def __init__(self, backend: Backend, obs: Observations) -> None:
        self.backend = backend
        self.obs = obs

    async def within(self, receive: Callable[[], Awaitable[Any]], seconds: float) -> str:
        """What one ``receive()`` returned, or ``<blocked>`` if nothing came within ``seconds``."""
        got: list[str] = []

        async def call() -> None:
            got.append((await receive())["type"])

        ended = await self.backend.bounded(call, seconds)
        if ended.exc is not None:
            raise ended.exc
        return got[0] if got else "<blocked>"

    async def send(self, send: Any, message: dict[str, Any]) -> str:
        """``ok`` or the qualified name of what ``send`` raised (and whether it is an OSError)."""
        try:
            await send(message)
        except Exception as e:
            kind = "OSError" if isinstance(e, OSError) else "other"
            return f"raised {type(e).__module__}.{type(e).__name__} ({kind})"
        return "ok"


def _start(length: int) -> dict[str, Any]:
    return {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % length)]}


def _body(data: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": False}


async def _after_disconnect(p: _ProbeIO, scope: Any, receive: Any, send: Any) -> None:
    await receive()  # the request
    first = await p.within(receive, 5.0)
    later = [await p.within(receive, BLOCK_S) for _ in range(2)]
    p.obs.seen["first_after_close"] = first
    p.obs.seen["later_after_close"] = later
    p.obs.seen["send_start_after_close"] = await p.send(send, _start(len(RESPONSE)))
    p.obs.seen["send_body_after_close"] = await p.send(send, _body(RESPONSE))
    p.obs.seen["spec_version"] = (scope.get("asgi") or {}).get("spec_version")


async def _after_complete(p: _ProbeIO, scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(_start(len(RESPONSE)))
    await send(_body(RESPONSE))
    p.obs.seen["after_complete"] = await p.within(receive, BLOCK_S)


async def _body_preempt(p: _ProbeIO, scope: Any, receive: Any, send: Any) -> None:
    await p.backend.sleep(SETTLE_S * 2)  # the client has sent a body chunk and closed by now
    p.obs.seen["first_with_body_pending"] = await p.within(receive, 5.0)


async def _short_body_after_close(p: _ProbeIO, scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await p.within(receive, 5.0)  # the disconnect
    await p.send(send, _start(len(RESPONSE)))
    p.obs.seen["short_body_after_close"] = await p.send(send, _body(b""))


async def _short_body_connected(p: _ProbeIO, scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await p.send(send, _start(len(RESPONSE)))
    p.obs.seen["short_body_connected"] = await p.send(send, _body(b""))


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    script: str
    app: Callable[[_ProbeIO, Any, Any, Any], Awaitable[None]]


CASES = (
    Case("after-disconnect", "GET", "request,wait:idle,disconnect", _after_disconnect),
    Case("after-complete", "GET", "request,wait:complete,wait:idle,disconnect", _after_complete),
    Case("body-preempt", "POST", "request:0123456789+more,wait:idle,disconnect", _body_preempt),
    Case("short-body-after-close", "GET", "request,wait:idle,disconnect", _short_body_after_close),
    Case("short-body-connected", "GET", "request,wait:idle,disconnect", _short_body_connected),
)
_BY_PATH = {f"/probe/{c.name}": c for c in CASES}


def probe_factory(backend: Backend) -> AppFactory:
    """The recorder's app factory in probe mode: the path picks the case."""

    def make(scope: dict[str, Any]) -> tuple[Any, Observations]:
        obs = Observations()
        case = _BY_PATH[scope["path"]]
        probe = _ProbeIO(backend, obs)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await case.app(probe, scope, receive, send)

        return app, obs

    return make


def observe(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The profile fields as the server showed them, from every probe request's observations.

    A field that differed between repeats is reported as ``unstable: a 2/3, b 1/3``.
    """
    values: dict[str, list[Any]] = {}

    def put(key: str, value: Any) -> None:
        values.setdefault(key, []).append(value)

    for s in seen:
        if "later_after_close" in s:
            noticed = s["first_after_close"] == "http.disconnect"
            put("notices_close", noticed)
            put("after_disconnect", _disconnect_behaviour(noticed, s["later_after_close"]))
            put("send_raises_after_disconnect", s["send_start_after_close"] != "ok")
            put("spec_version", s["spec_version"])
        if "after_complete" in s:
            put("after_complete", "disconnect" if s["after_complete"] == "http.disconnect" else "block")
        if "first_with_body_pending" in s:
            put("disconnect_preempts_body", s["first_with_body_pending"] == "http.disconnect")
        # An OSError is the server refusing any send after a disconnect (spec 2.4), not a length check.
        if "short_body_after_close" in s:
            put("short_body_after_close", _length_error(s["short_body_after_close"]))
        if "short_body_connected" in s:
            put("short_body_connected", _length_error(s["short_body_connected"]))
    out: dict[str, Any] = {}
    for key, vals in values.items():
        counts = Counter(map(repr, vals))
        out[key] = vals[0] if len(counts) == 1 else "unstable: " + ", ".join(f"{v} {n}" for v, n in counts.items())
    content_length = _content_length(out.pop("short_body_connected", None), out.pop("short_body_after_close", None))
    if content_length is not None:
        out["content_length"] = content_length
    return out


def _content_length(connected: Any, closed: Any) -> str | None:
    """The profile's ``content_length`` from whether a short body raised while connected / after close."""
    if isinstance(connected, bool) and isinstance(closed, bool):
        return "always" if closed else "connected" if connected else "never"
    if connected is not None or closed is not None:
        return f"unclear: connected={connected}, after close={closed}"
    return None


def _disconnect_behaviour(noticed: bool, later: list[str]) -> str:
    """What ``receive()`` did after the first ``http.disconnect``, as a profile names it."""
    if not noticed:
        return "not observable (the close was not noticed)"
    if all(t == "http.disconnect" for t in later):
        return "repeat"
    if all(t == "<blocked>" for t in later):
        return "once"
    return f"mixed {later}"


def _length_error(result: str) -> bool:
    return result.startswith("raised") and "(OSError)" not in result


def compare(profile: ServerProfile, observed: dict[str, Any]) -> list[str]:
    """Each profile claim the server contradicted, as ``field: profile says X, server did Y``."""
    problems = []
    for name in (
        "after_disconnect",
        "after_complete",
        "send_raises_after_disconnect",
        "spec_version",
        "disconnect_preempts_body",
        "content_length",
        "notices_close",
    ):
        if name == "after_disconnect" and observed.get("notices_close") is False and not profile.notices_close:
            continue  # a server that never reports the close cannot show what follows it
        if name not in observed:
            problems.append(f"{name}: not observed (the probe request failed)")
            continue
        claimed = getattr(profile, name)
        if observed[name] != claimed:
            problems.append(f"{name}: profile {profile.name!r} says {claimed!r}, the server did {observed[name]!r}")
    return problems


def run_probe(
    server_name: str,
    *,
    profile: ServerProfile | None = None,
    repeat: int = 3,
    logs: Path = Path(defaults.SERVER_LOGS_DIR),
) -> dict[str, Any]:
    """Probe the installed ``server_name`` and compare with its profile (or ``profile``, for tests)."""
    server = get_server(server_name)
    version = dist_version(server.dist)
    row: dict[str, Any] = {"server": server.name, "server_version": version, "matches": False}
    if version is None:
        row["reason"] = f"{server.dist} is not installed here"
        return row
    profile = profile or get_profile(server.profile_for(version))
    row["profile"] = profile.name
    spec = {"mode": "probe", "time_scale": 1.0, "app_timeout": 10.0, "base": {"server": server.name}}
    seen: list[dict[str, Any]] = []
    try:
        with ServerProcess(server.name, spec, log_path=logs / f"probe--{server.name}-{version}.log") as proc:
            # The requests are independent (one connection each): play them all at once.
            jobs = [(i * len(CASES) + j, case) for i in range(repeat) for j, case in enumerate(CASES)]
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                for run, case in jobs:
                    pool.submit(
                        play,
                        proc.port,
                        parse_script(case.script),
                        run=run,
                        method=case.method,
                        path=f"/probe/{case.name}",
                        settle=SETTLE_S,
                        timeout=15.0,
                    )
                for _ in jobs:
                    record = proc.next_record(15.0)
                    if record is None:
                        break
                    seen.append(record.get("endpoint") or {})
    except ServerStartError as e:
        row["reason"] = str(e)
        return row
    row["observed"] = observe(seen)
    row["mismatches"] = compare(profile, row["observed"])
    row["matches"] = not row["mismatches"]
    return row


def wrong(profile: ServerProfile, **changes: Any) -> ServerProfile:
    """A deliberately wrong copy of ``profile`` (what the probe tests feed it)."""
    return dataclasses.replace(profile, name=profile.name + "-wrong", **changes)
