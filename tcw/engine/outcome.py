"""The one pure mapping from how a run ended to the queue's report (the outcomes are in the contract)."""

from __future__ import annotations

from tcw.executors.api import COMPLETED, Reason, Resolution, State, TaskOutcome, WorkerShutdown


def resolve(error: BaseException | None) -> Resolution:
    """The pure mapping: how a run that ended with ``error`` (None = returned normally) is reported."""
    if error is None:
        return COMPLETED
    if isinstance(error, TaskOutcome | WorkerShutdown):
        return error.resolution
    return Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)
