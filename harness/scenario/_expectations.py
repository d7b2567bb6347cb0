"""A scenario's own expectations, checked apart from the verdict.

The outcome class says what the app did; a scenario may also say what its source *expected*: the PR
#1634 test allows only ``http.response.start``, Starlette's #2516 test wants every layer's code
after ``call_next`` to run, its background-task tests want the task to have run. Such an
expectation is checked on the finished record and written beside the outcome as
``{"name", "met", "detail"}``; it never changes what the app sees (a scenario's expectation is not
the server's business) and never changes the outcome class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from harness.errors import UsageError

Record = Mapping[str, Any]


class ExpectationJSON(TypedDict):
    name: str
    met: bool
    detail: str


@dataclass(frozen=True)
class Expectation:
    name: str
    description: str
    check: Callable[[Record], tuple[bool, str]]


def _sent_types(r: Record) -> list[str]:
    return [str(m.get("type")) for m in r.get("sent") or ()]


def _only_start(r: Record) -> tuple[bool, str]:
    types = _sent_types(r)
    return types == ["http.response.start"], "sent " + (", ".join(types) or "nothing")


def _complete(r: Record) -> tuple[bool, str]:
    return bool(r.get("complete_response")), f"response {r.get('response', '?')}"


def _status(code: int) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        statuses = [m.get("status") for m in r.get("sent") or () if m.get("type") == "http.response.start"]
        return statuses[:1] == [code], f"status {statuses[0] if statuses else 'none'}"

    return check


def _body_len(n: int) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        total = sum(int(m.get("body_len", 0)) for m in r.get("sent") or () if m.get("type") == "http.response.body")
        return total == n and bool(r.get("complete_response")), f"{total} body bytes sent"

    return check


def _every_layer_completed(r: Record) -> tuple[bool, str]:
    layers = [la for la in r.get("layers") or () if "after_call_next" in la]
    skipped = [str(la["layer"]) for la in layers if not la["after_call_next"]]
    if not layers:
        return False, "no traced BaseHTTPMiddleware layer"
    if skipped:
        return False, f"layer(s) {', '.join(skipped)} of {len(layers)} did not reach their code after call_next"
    return True, f"all {len(layers)} layers did"


def _endpoint(key: str, want: Any, what: str) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        value = (r.get("endpoint") or {}).get(key)
        return value == want, f"{what}: {value}"

    return check


def _received(first: Sequence[str]) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        got = list((r.get("endpoint") or {}).get("received") or ())
        return got[: len(first)] == list(first), "the endpoint received " + (", ".join(got) or "nothing")

    return check


def _layer_event(event: str) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        events = [e for la in r.get("layers") or () for e in la.get("events") or ()]
        return event in events, "noted: " + ("; ".join(events) or "nothing")

    return check


def _disconnects(n: int) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        got = list((r.get("endpoint") or {}).get("received") or ())
        count = got.count("http.disconnect")
        return count >= n, f"http.disconnect {count} time(s): {', '.join(got) or 'nothing'}"

    return check


def _polls_turn_true(r: Record) -> tuple[bool, str]:
    polls = list((r.get("endpoint") or {}).get("disconnect_polls") or ())
    return any(polls), f"is_disconnected() said {polls}"


def _no_exception(r: Record) -> tuple[bool, str]:
    exc = r.get("exception")
    return exc is None, "no exception" if exc is None else f"{exc.get('type')}: {exc.get('message')}"


def _raised(type_name: str) -> Callable[[Record], tuple[bool, str]]:
    def check(r: Record) -> tuple[bool, str]:
        exc = r.get("exception")
        if exc is None:
            return False, "no exception left the app"
        qualified = str(exc.get("type"))
        return qualified.rsplit(".", 1)[-1] == type_name, f"{qualified}: {exc.get('message')}"

    return check


EXPECTATIONS: dict[str, Expectation] = {
    e.name: e
    for e in (
        Expectation("only-start-sent", "only http.response.start is sent (the PR #1634 test's send_gen)", _only_start),
        Expectation("complete-response", "the client gets a complete response", _complete),
        Expectation("status-200", "the response starts with status 200", _status(200)),
        Expectation("status-400", "the response starts with status 400", _status(400)),
        Expectation("empty-body", "the complete response has an empty body", _body_len(0)),
        Expectation("custom-body", "the client gets the middleware's own 'Custom' response", _body_len(6)),
        Expectation("good-body", "the client gets the endpoint's 'good!'", _body_len(5)),
        Expectation(
            "every-layer-completed", "every BaseHTTPMiddleware layer's code after call_next ran", _every_layer_completed
        ),
        Expectation("no-exception", "no exception leaves the app", _no_exception),
        Expectation(
            "background-error-raised",
            "the background task's EndpointError leaves the app (the server sees it)",
            _raised("EndpointError"),
        ),
        Expectation(
            "caught-in-dispatch", "the dispatch caught the endpoint's error", _layer_event("caught EndpointError")
        ),
        Expectation("background-ran", "the response's background task ran", _endpoint("background_ran", True, "ran")),
        Expectation(
            "background-after-response",
            "the background task runs only after the whole response was sent",
            _endpoint("background_after_response", True, "after the response"),
        ),
        Expectation("context-exited", "the context manager around the app exited", _layer_event("context exited")),
        Expectation(
            "client-disconnect-raised",
            "request.body() raised ClientDisconnect in the endpoint",
            _endpoint("client_disconnect_raised", True, "raised"),
        ),
        Expectation(
            "disconnect-while-sending",
            "the downstream app got http.disconnect while it was still sending",
            _endpoint("disconnect_while_sending", True, "got it"),
        ),
        Expectation(
            "disconnect-after-sending",
            "the downstream app got http.disconnect after its discarded chunks",
            _received(["http.disconnect"]),
        ),
        Expectation(
            "endpoint-got-disconnect-message",
            "the endpoint gets a plain http.disconnect message (no ClientDisconnect)",
            _received(["http.disconnect"]),
        ),
        Expectation(
            "endpoint-got-body-then-disconnect",
            "the endpoint gets the cached body, then http.disconnect",
            _received(["http.request:hi", "http.disconnect"]),
        ),
        Expectation(
            "disconnect-seen-twice",
            "the endpoint sees http.disconnect twice although the client sent it once",
            _disconnects(2),
        ),
        Expectation(
            "dispatch-saw-disconnected-after-call-next",
            "request.is_disconnected() is True in dispatch after call_next",
            _layer_event("is_disconnected after call_next: True"),
        ),
        Expectation(
            "dispatch-saw-disconnected-after-body",
            "request.is_disconnected() is True in dispatch after body()",
            _layer_event("is_disconnected after body: True"),
        ),
        Expectation(
            "is-disconnected-turns-true",
            "request.is_disconnected() in the endpoint turns True once the client has gone",
            _polls_turn_true,
        ),
    )
}


def check_names(names: Sequence[str]) -> None:
    """One line for an expectation nobody defined."""
    for name in names:
        if name not in EXPECTATIONS:
            raise UsageError(f"unknown expectation {name!r}; choose from {', '.join(EXPECTATIONS)}")


def evaluate(names: Sequence[str], record: Record) -> list[ExpectationJSON]:
    """Each named expectation, checked on a finished record."""
    out: list[ExpectationJSON] = []
    for name in names:
        met, detail = EXPECTATIONS[name].check(record)
        out.append({"name": name, "met": met, "detail": detail})
    return out
