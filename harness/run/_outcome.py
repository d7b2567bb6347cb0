"""The outcome classifier and the record of one run.

A run ends as exactly one outcome class. The same bug arrives in different clothes depending on the
versions (a bare ``RuntimeError``, wrapped in anyio 4's ``ExceptionGroup``, in trio's ``MultiError``,
in anyio 3's own ``ExceptionGroup``), so exceptions are unwrapped before they are classified and the
wrapping is kept in the record instead of deciding the verdict.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

if TYPE_CHECKING:  # annotations only: _connection imports this module
    from harness.scenario import EndpointStateJSON


class _SentMessageJSONBase(TypedDict):
    type: str


class SentMessageJSON(_SentMessageJSONBase, total=False):
    """A message the app sent, as a record keeps it (``SentMessage.to_json()``): ``status`` when the
    message had one, the body fields for a body."""

    status: int
    body_len: int
    more_body: bool


#: What reached the client of a run.
Response = Literal["complete", "partial", "none"]

#: The outcome classes, spelled as the results files write them.
Outcome = Literal["ok", "no_response_returned", "exception", "hang", "exited", "protocol_error", "not_applicable"]

OK: Final = "ok"
NO_RESPONSE: Final = "no_response_returned"
EXCEPTION: Final = "exception"
HANG: Final = "hang"
#: The app ended the process it ran in (``sys.exit``, ``os._exit``, a fatal signal): recorded by the
#: supervisor of ``_isolated``, which outlives it.
EXITED: Final = "exited"
PROTOCOL_ERROR: Final = "protocol_error"
NOT_APPLICABLE: Final = "not_applicable"
#: Every class, in the order the classifier decides them (and counts are written in).
OUTCOMES: tuple[Outcome, ...] = (OK, NO_RESPONSE, EXCEPTION, HANG, EXITED, PROTOCOL_ERROR, NOT_APPLICABLE)

NO_RESPONSE_MESSAGE = "No response returned."
SCHEMA_VERSION = 1


def is_no_response_returned(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and str(exc) == NO_RESPONSE_MESSAGE


def flatten(exc: BaseException) -> tuple[list[BaseException], list[str]]:
    """Leaf exceptions of any exception-group-like tree, and the group types met on the way down.

    Anything with a sequence ``exceptions`` attribute counts as a group: ``BaseExceptionGroup``,
    ``exceptiongroup``'s backport, ``trio.MultiError`` and anyio 3's ``ExceptionGroup``.
    """
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner and all(isinstance(e, BaseException) for e in inner):
        leaves: list[BaseException] = []
        wrappers = [type(exc).__name__]
        for e in inner:
            sub_leaves, sub_wrappers = flatten(e)
            leaves.extend(sub_leaves)
            wrappers.extend(w for w in sub_wrappers if w not in wrappers)
        return leaves, wrappers
    return [exc], []


def exit_status(exc: BaseException) -> int | None:
    """The status of a ``SystemExit`` anywhere in ``exc`` (an app's ``sys.exit`` arrives wrapped in
    the groups of every task group it crossed), or None. Such a run ends its process, as it would a
    server's: it is recorded from outside (``_isolated``), not classified here."""
    for leaf in flatten(exc)[0]:
        if isinstance(leaf, SystemExit):
            code = leaf.code
            return code if isinstance(code, int) else (0 if code is None else 1)
    return None


def where_raised(exc: BaseException) -> str:
    """``package/module.py:function:line`` of the frame that raised, relative to site-packages."""
    last = None
    for last in traceback.walk_tb(exc.__traceback__):  # noqa: B007 - we want the innermost frame
        pass
    if last is None:
        return "<unknown>"
    frame, lineno = last
    path = frame.f_code.co_filename.replace(os.sep, "/")
    for marker in ("site-packages/", "/harness/", "/scenarios/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker != "site-packages/":
                path = marker.strip("/") + "/" + path
            break
    return f"{path}:{frame.f_code.co_name}:{lineno}"


class _ExceptionInfoJSONBase(TypedDict):
    type: str
    message: str
    where: str


class ExceptionInfoJSON(_ExceptionInfoJSONBase, total=False):
    """``ExceptionInfo.to_json()``: the wrapping and the other leaves only when there are any."""

    wrapped_in: list[str]
    others: list[str]


class NoEndpoint(TypedDict):
    """A record's ``endpoint`` when the run never built one (``{}``: not applicable here)."""


@dataclass
class ExceptionInfo:
    type: str
    message: str
    where: str
    wrapped_in: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)

    def to_json(self) -> ExceptionInfoJSON:
        data: ExceptionInfoJSON = {"type": self.type, "message": self.message, "where": self.where}
        if self.wrapped_in:
            data["wrapped_in"] = self.wrapped_in
        if self.others:
            data["others"] = self.others
        return data


def describe_exception(exc: BaseException) -> ExceptionInfo:
    """The leaf that matters (No response returned. first), with the wrapping and the other leaves."""
    leaves, wrappers = flatten(exc)
    main = next((e for e in leaves if is_no_response_returned(e)), leaves[0])
    others = [f"{type(e).__name__}: {e}" for e in leaves if e is not main]
    return ExceptionInfo(
        type=_qualified(type(main)),
        message=str(main),
        # A leaf built into a group without being raised has no traceback: the group's is the place.
        where=where_raised(main if main.__traceback__ is not None else exc),
        wrapped_in=wrappers,
        others=others,
    )


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__name__ if module == "builtins" else f"{module}.{cls.__name__}"


def classify(
    *,
    exc: BaseException | None,
    timed_out: bool,
    violations: list[str],
    complete_response: bool,
    sent_types: list[str],
    hang_detail: Callable[[], str] = lambda: "",
) -> tuple[Outcome, str, ExceptionInfo | None]:
    """Decide the outcome class, with a one-line detail.

    "No response returned." wins over everything (it is the bug under study, whatever else went
    wrong); then a hang; then a protocol violation (the app's exception is then our own error
    raised into it); then any other exception; else ok, saying whether the response was complete.
    """
    info = describe_exception(exc) if exc is not None else None
    if info is not None and info.type == "RuntimeError" and info.message == NO_RESPONSE_MESSAGE:
        wrap = f" (wrapped in {' > '.join(info.wrapped_in)})" if info.wrapped_in else ""
        return NO_RESPONSE, f"RuntimeError: No response returned. at {info.where}{wrap}", info
    if timed_out:
        return HANG, hang_detail() or "the app did not finish before the timeout", info
    if violations:
        return PROTOCOL_ERROR, violations[0], info
    if info is not None:
        wrap = f" (wrapped in {' > '.join(info.wrapped_in)})" if info.wrapped_in else ""
        return EXCEPTION, f"{info.type}: {info.message} at {info.where}{wrap}", info
    if complete_response:
        return OK, "complete response", None
    if not sent_types:
        return OK, "returned without sending anything", None
    return OK, f"incomplete response: sent only {', '.join(sent_types)}", None


@dataclass
class RunRecord:
    """One run, as one line of the results file. Field names are the documented JSONL schema."""

    scenario: str
    params: dict[str, Any]
    starlette: str
    anyio: str | None
    trio: str | None
    python: str
    backend: str
    profile: str
    seed: int | None
    repeat: int
    outcome: Outcome
    detail: str
    sent: list[SentMessageJSON] = field(default_factory=list)
    receive_calls: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    complete_response: bool = False
    sent_after_disconnect: int = 0
    endpoint: EndpointStateJSON | NoEndpoint = field(default_factory=NoEndpoint)
    exception: ExceptionInfoJSON | None = None
    violations: list[str] = field(default_factory=list)
    #: What the event loop logged during the run (e.g. asyncio's "Task exception was never retrieved").
    loop_errors: list[str] = field(default_factory=list)
    #: Tasks still running when the app returned (cancelled by the driver before the next run).
    leaked_tasks: int = 0
    resolution: str | None = None
    schema: int = SCHEMA_VERSION
    #: ``complete``, ``partial`` or ``none``: what reached the client (see ``Connection.response``).
    response: Response = "none"
    #: Each middleware layer, outermost first: what its dispatch got from ``call_next``, whether its
    #: code after ``call_next`` ran, what its ``receive`` saw, what left it (``scenario._trace``).
    layers: list[dict[str, Any]] = field(default_factory=list)
    #: The layer an escaping exception began in (0: the endpoint), or None.
    raised_in: int | None = None
    #: The scenario's own expectations, checked apart from the outcome: ``{name, met, detail}``.
    expectations: list[dict[str, Any]] = field(default_factory=list)
    #: The server profile's ``receive()`` delay this run played (drawn from ``seed`` where the profile
    #: has a distribution), or None for a profile that answers at once.
    receive_delay: int | None = None
    #: The FastAPI release installed beside Starlette (a FastAPI side of the gate), or None.
    fastapi: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)
