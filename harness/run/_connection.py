"""The state one run's client and app share: what has been delivered, sent and seen.

The scripted receive and the recording send each own one side; they meet here so that a client step
such as ``wait:start`` can wait on what the app sent, and the send side can know the client is gone.
Waiters take the current ``changed`` event before checking state, so no notification is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from harness.run._outcome import ExceptionInfo, Outcome, Response, SentMessageJSON, classify
from harness.run.backends import Backend


class ObservedFields(TypedDict):
    """``Connection.observed()``: the fields of a run's record that the connection fills in."""

    sent: list[SentMessageJSON]
    receive_calls: list[str]
    complete_response: bool
    sent_after_disconnect: int
    violations: list[str]
    response: Response


@dataclass
class SentMessage:
    """A message the app sent, reduced to what the verdict needs (bodies by length, not content)."""

    type: str
    status: int | None = None
    body_len: int = 0
    more_body: bool = False

    def to_json(self) -> SentMessageJSON:
        data: SentMessageJSON = {"type": self.type}
        if self.status is not None:
            data["status"] = self.status
        if self.type == "http.response.body":
            data["body_len"] = self.body_len
            data["more_body"] = self.more_body
        return data


@dataclass
class Connection:
    backend: Backend
    #: The client has disconnected (the script reached ``disconnect``).
    client_gone: bool = False
    #: The app has been handed an ``http.disconnect`` by ``receive()``.
    app_saw_disconnect: bool = False
    #: The app is blocked inside ``receive()`` right now.
    app_waiting_in_receive: bool = False
    sent: list[SentMessage] = field(default_factory=list)
    response_started: bool = False
    response_complete: bool = False
    body_chunks: int = 0
    sent_after_disconnect: int = 0
    violations: list[str] = field(default_factory=list)
    receive_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = self.backend.event()

    def notify(self) -> None:
        event, self.changed = self.changed, self.backend.event()
        event.set()

    def observed(self) -> ObservedFields:
        """The record fields this connection saw (the results schema's names), for any run."""
        return {
            "sent": [m.to_json() for m in self.sent],
            "receive_calls": list(self.receive_calls),
            "complete_response": self.response_complete,
            "sent_after_disconnect": self.sent_after_disconnect,
            "violations": list(self.violations),
            "response": self.response,
        }

    @property
    def response(self) -> Response:
        """What reached the client: the final body (``complete``), only some of it (``partial``),
        or nothing at all (``none``)."""
        if self.response_complete:
            return "complete"
        return "partial" if self.response_started or self.sent else "none"

    def classify(
        self, exc: BaseException | None, timed_out: bool, hang_detail: Callable[[], str]
    ) -> tuple[Outcome, str, ExceptionInfo | None]:
        """The run's outcome from what this connection saw and how the app ended."""
        return classify(
            exc=exc,
            timed_out=timed_out,
            violations=self.violations,
            complete_response=self.response_complete,
            sent_types=[m.type for m in self.sent],
            hang_detail=hang_detail,
        )
