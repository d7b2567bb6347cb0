"""Step two: run a scenario on an event loop and say what happened, as one record per run.

``_driver`` plays one app against one client script and one server profile (``_receive`` and
``_send`` are the two sides, meeting in ``_connection``), bounded in time, and ``_outcome`` classifies
the run. ``_jobs`` expands a selection into runs and executes many of them in one process, one event
loop per backend (``backends/``: one private module per loop behind one interface); ``_shrink``
delta-debugs a user app's middleware list down to the entries a failure needs. ``_isolated`` runs
the whole selection in a worker process that a supervisor bounds from outside its event loop (an
app that blocks the loop or ends the process becomes that run's record) and replaces when it dies.
"""

from harness.run._connection import Connection, ObservedFields, SentMessage
from harness.run._driver import Bounds, Drive, drive, make_scope
from harness.run._isolated import (
    WATCHDOG_GRACE,
    Channel,
    Incomplete,
    Supervised,
    become_worker,
    lingering_threads,
    reporting_exits,
    supervise,
)
from harness.run._isolated import Bounds as WatchBounds
from harness.run._jobs import (
    BaseFields,
    Environment,
    Job,
    RunConfig,
    base_fields,
    environment,
    plan,
    run_job,
    run_jobs,
    run_one,
    run_settled,
    stream_settled,
)
from harness.run._outcome import (
    EXCEPTION,
    EXITED,
    HANG,
    NO_RESPONSE,
    NO_RESPONSE_MESSAGE,
    NOT_APPLICABLE,
    OK,
    OUTCOMES,
    PROTOCOL_ERROR,
    SCHEMA_VERSION,
    ExceptionInfo,
    ExceptionInfoJSON,
    Outcome,
    RunRecord,
    SentMessageJSON,
    classify,
)
from harness.run._receive import ScriptedReceive
from harness.run._send import RecordingSend
from harness.run._shrink import Shrunk, ddmin, failure_of, shrink
from harness.run.backends import BACKENDS, Backend, Bounded, backend_available, get_backend

__all__ = [
    "BACKENDS",
    "EXCEPTION",
    "EXITED",
    "HANG",
    "NOT_APPLICABLE",
    "NO_RESPONSE",
    "NO_RESPONSE_MESSAGE",
    "OK",
    "OUTCOMES",
    "PROTOCOL_ERROR",
    "SCHEMA_VERSION",
    "WATCHDOG_GRACE",
    "Backend",
    "BaseFields",
    "Bounded",
    "Bounds",
    "Channel",
    "Connection",
    "Drive",
    "Environment",
    "ExceptionInfo",
    "ExceptionInfoJSON",
    "Incomplete",
    "Job",
    "ObservedFields",
    "Outcome",
    "RecordingSend",
    "RunConfig",
    "RunRecord",
    "ScriptedReceive",
    "SentMessage",
    "SentMessageJSON",
    "Shrunk",
    "Supervised",
    "WatchBounds",
    "backend_available",
    "base_fields",
    "become_worker",
    "classify",
    "ddmin",
    "drive",
    "environment",
    "failure_of",
    "get_backend",
    "lingering_threads",
    "make_scope",
    "plan",
    "reporting_exits",
    "run_job",
    "run_jobs",
    "run_one",
    "run_settled",
    "shrink",
    "stream_settled",
    "supervise",
]
