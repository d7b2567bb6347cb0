"""The recording ``send``: keeps every message and holds the app to the ASGI protocol.

A violation is recorded and raised into the app as ``ASGIProtocolError`` (a ``RuntimeError``, like
uvicorn's "Unexpected ASGI message"), because that is what a real server does to such an app.
Sending after a disconnect is legal ASGI and only counted, except under a profile that raises
``ClientDisconnected`` (spec 2.4). What a scenario's source expected to be sent (the PR #1634 test
allows only ``http.response.start``) is an expectation, checked on the record afterwards; it never
reaches the app.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ASGIProtocolError, ClientDisconnected, ContentLengthError
from harness.run._connection import Connection, SentMessage
from harness.scenario import ServerProfile

_KNOWN = ("http.response.start", "http.response.body", "http.response.trailers", "http.response.pathsend")
#: Extensions Starlette sends between its own layers (BaseHTTPMiddleware forwards them); not errors.
_EXTENSIONS = ("http.response.debug", "http.response.early_hint", "http.response.zerocopy")


class RecordingSend:
    def __init__(self, profile: ServerProfile | None, conn: Connection) -> None:
        # profile None: only check and record; the real server behind decides what send does.
        self._profile = profile
        self._conn = conn
        self._declared: int | None = None
        self._body_bytes = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        conn = self._conn
        mtype = message.get("type", "<no type>")
        conn.sent.append(_reduced(message, mtype))
        if conn.client_gone:
            conn.sent_after_disconnect += 1
        self._check(message, mtype)
        self._as_the_server_would(message, mtype)
        conn.notify()

    def _as_the_server_would(self, message: dict[str, Any], mtype: Any) -> None:
        """What the profile's server does with a well-formed message: raise after a disconnect
        (spec 2.4), or hold the body to its Content-Length."""
        profile, gone = self._profile, self._conn.client_gone
        if profile is None or mtype not in _KNOWN:
            return
        if gone and profile.send_raises_after_disconnect:
            raise ClientDisconnected("client disconnected")
        if profile.content_length == "always" or (profile.content_length == "connected" and not gone):
            self._check_length(message, mtype)

    def _check_length(self, message: dict[str, Any], mtype: Any) -> None:
        """Hold the body to the declared Content-Length, as h11 does (not a violation of ASGI: the
        server's reaction to an HTTP-level mistake, which the app receives as an exception)."""
        if mtype == "http.response.start":
            self._declared = _content_length(message)
            self._body_bytes = 0
            return
        if mtype != "http.response.body" or self._declared is None:
            return
        self._body_bytes += len(message.get("body", b"") or b"")
        if self._body_bytes > self._declared:
            self._conn.notify()
            raise ContentLengthError("Too much data for declared Content-Length")
        if not message.get("more_body", False) and self._body_bytes < self._declared:
            self._conn.notify()
            raise ContentLengthError("Too little data for declared Content-Length")

    def _check(self, message: dict[str, Any], mtype: Any) -> None:
        conn = self._conn
        if mtype in _EXTENSIONS:
            return
        if mtype not in _KNOWN:
            self._fail(f"unknown message type {mtype!r}")
        if conn.response_complete:
            self._fail(f"sent {mtype} after the response was complete")
        if mtype == "http.response.start":
            self._check_start(message)
            return
        if not conn.response_started:
            self._fail(f"sent {mtype} before http.response.start")
        if mtype == "http.response.body":
            conn.body_chunks += 1
            if not message.get("more_body", False):
                conn.response_complete = True
        elif mtype == "http.response.pathsend":
            conn.response_complete = True

    def _check_start(self, message: dict[str, Any]) -> None:
        if self._conn.response_started:
            self._fail("sent http.response.start twice")
        if not isinstance(message.get("status"), int):
            self._fail("http.response.start without an integer status")
        self._conn.response_started = True

    def _fail(self, problem: str) -> None:
        self._conn.violations.append(problem)
        self._conn.notify()
        raise ASGIProtocolError(problem)


def _reduced(message: dict[str, Any], mtype: Any) -> SentMessage:
    """What the record keeps of a message: its type, the status, bodies by length."""
    record = SentMessage(type=str(mtype))
    if mtype == "http.response.start":
        record.status = message.get("status")
    elif mtype == "http.response.body":
        record.body_len = len(message.get("body", b"") or b"")
        record.more_body = bool(message.get("more_body", False))
    return record


def _content_length(message: dict[str, Any]) -> int | None:
    status = message.get("status")
    if isinstance(status, int) and (status < 200 or status in (204, 304)):
        return None
    for name, value in message.get("headers") or ():
        if bytes(name).lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
