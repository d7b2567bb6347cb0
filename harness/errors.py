"""Every exception the harness defines, in one tree.

Two families that must never be confused: errors *of the harness* (bad input, an environment that
could not be had), shown to the user as one line and exit status 2, never as a traceback; and
exceptions the harness *raises into the app under test*, standing in for what a real server raises
there, which end up in a run's record as the app's outcome. Anything else that escapes is a bug of
the harness and stays a traceback.

::

    HarnessError                 shown as one line, exit 2: what is wrong and how to fix it
    ├── UsageError               an unknown name or malformed value (command line, scenario)
    │   ├── ScriptError          a receive script that does not parse or cannot be played
    │   └── AppImportError       --app does not import, or is not an ASGI app
    ├── ConfigError              matrix.toml (or another file): names the file and the key
    └── Unavailable              something outside the input could not be had
        ├── IndexUnavailable     the package index, with no cached release list to fall back on
        └── ServerStartError     a real server did not come up (carries the end of its log)

    raised into the app, as a server would:
    RuntimeError
    └── ASGIProtocolError        the app broke the ASGI HTTP protocol (like uvicorn's "Unexpected
                                 ASGI message")
    OSError
    └── ClientDisconnected       send() after the client left, under a spec 2.4 profile
    Exception
    └── ContentLengthError       the body disagrees with its Content-Length (h11's LocalProtocolError)

    signals inside a run (never escape it):
    Exception
    └── LayerUnavailable         this Starlette has no such middleware: the run is not_applicable
"""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable environment: the message is one line that says what is wrong and
    what is allowed."""


class UsageError(HarnessError):
    """An unknown name or malformed value on the command line or in a scenario."""


class ScriptError(UsageError):
    """A receive script that cannot be parsed or does not make sense."""


class AppImportError(UsageError):
    """The app given with ``--app`` could not be imported or is not an ASGI callable."""


class ConfigError(HarnessError):
    """A malformed ``matrix.toml`` (or other file): the message names the file and the key."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key


class Unavailable(HarnessError):
    """Something the input does not control could not be had: the index, a server, an environment."""


class IndexUnavailable(Unavailable):
    """The index could not be reached and there is no cache to fall back on."""


class ServerStartError(Unavailable):
    """A real server did not come up: the message carries the end of its log."""


class ASGIProtocolError(RuntimeError):
    """The app broke the ASGI HTTP protocol; the message says which rule."""


class ClientDisconnected(OSError):
    """Raised by ``send`` after a disconnect on profiles that do so (ASGI spec 2.4, uvicorn 0.28.0)."""


class ContentLengthError(Exception):
    """What h11-based servers raise into the app (``h11.LocalProtocolError``) when the body does
    not match the ``Content-Length`` the app declared; raised only under profiles that check."""


class LayerUnavailable(Exception):
    """The installed Starlette has no such middleware."""


__all__ = [
    "ASGIProtocolError",
    "AppImportError",
    "ClientDisconnected",
    "ConfigError",
    "ContentLengthError",
    "HarnessError",
    "IndexUnavailable",
    "LayerUnavailable",
    "ScriptError",
    "ServerStartError",
    "Unavailable",
    "UsageError",
]
