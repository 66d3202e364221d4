"""How a task run ends, and the one pure mapping from that to the queue's report.

Executors (and Python handlers) end a run by returning (completed) or raising one of the exceptions below;
each carries its resolution, so the engine never guesses. Anything else raised is a bug in the worker and
resolves ``exception/internal-error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tcw.errors import TcwError


class Reason(StrEnum):
    """The ``reportException`` reasons a worker may send (the queue rejects all others)."""

    WORKER_SHUTDOWN = "worker-shutdown"
    MALFORMED_PAYLOAD = "malformed-payload"
    RESOURCE_UNAVAILABLE = "resource-unavailable"
    INTERNAL_ERROR = "internal-error"
    INTERMITTENT_TASK = "intermittent-task"


class State(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    EXCEPTION = "exception"


@dataclass(frozen=True)
class Resolution:
    """What the engine reports for a run: a state, and a reason when the state is ``exception``."""

    state: State
    reason: Reason | None = None

    def __str__(self) -> str:
        return f"{self.state}/{self.reason}" if self.reason else str(self.state)


COMPLETED = Resolution(State.COMPLETED)
FAILED = Resolution(State.FAILED)


class TaskOutcome(TcwError):
    """Raised by an executor to end a run with a given resolution; the message goes to the task log."""

    resolution: Resolution = Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)


class TaskFailed(TaskOutcome):
    """The task's own code ran and failed (non-zero exit, maxRunTime exceeded, missing artifact)."""

    resolution = FAILED


class MalformedPayload(TaskOutcome):
    """The payload cannot be run by this worker; another run would fail the same way."""

    resolution = Resolution(State.EXCEPTION, Reason.MALFORMED_PAYLOAD)


class ResourceUnavailable(TaskOutcome):
    """Something the task needs exists but could not be reached after retries."""

    resolution = Resolution(State.EXCEPTION, Reason.RESOURCE_UNAVAILABLE)


class IntermittentTask(TaskOutcome):
    """The task asked to be retried (e.g. an exit code listed in ``onExitStatus.retry``)."""

    resolution = Resolution(State.EXCEPTION, Reason.INTERMITTENT_TASK)


class InternalError(TaskOutcome):
    """The worker itself is broken for this task."""

    resolution = Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)


class WorkerShutdown(BaseException):
    """The worker is stopping: the run is reported ``exception/worker-shutdown`` so the queue retries it.

    A ``BaseException`` so that a handler's ``except Exception`` cannot swallow it.
    """

    resolution = Resolution(State.EXCEPTION, Reason.WORKER_SHUTDOWN)


def resolve(error: BaseException | None) -> Resolution:
    """The pure mapping: how a run that ended with ``error`` (None = returned normally) is reported."""
    if error is None:
        return COMPLETED
    if isinstance(error, TaskOutcome | WorkerShutdown):
        return error.resolution
    return Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)
