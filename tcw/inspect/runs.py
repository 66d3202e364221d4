"""Run records: one per task run that a worker claimed, flattened out of the queue's task statuses.

The queue reports runs nested in task statuses (task-status.yml); every analysis here is per worker, so the
statuses are flattened once into immutable records that carry what a verdict needs: who ran it, how it
ended, why, and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tcw.taskcluster_client import parse_time

# Exception reasons that point at the worker rather than the task or the user. `worker-shutdown` is spot
# churn and `malformed-payload`, `intermittent-task`, `canceled`, `deadline-exceeded`, `superseded` are
# the task's or the user's doing, so none of those make a run "bad" for the worker.
WORKER_FAULT_REASONS = frozenset({"claim-expired", "internal-error", "resource-unavailable"})
RESOLVED_STATES = frozenset({"completed", "failed", "exception"})
MANAGER_KEY = "workerManager"  # where a worker record keeps worker-manager's record of the same worker


@dataclass(frozen=True, order=True)
class WorkerKey:
    """A worker as the queue knows it: its pool (task queue) and its ``workerGroup/workerId``."""

    task_queue_id: str
    worker_group: str
    worker_id: str

    @property
    def name(self) -> str:
        return f"{self.worker_group}/{self.worker_id}"

    @property
    def provisioner_id(self) -> str:
        return self.task_queue_id.split("/", 1)[0]

    @property
    def worker_type(self) -> str:
        return self.task_queue_id.split("/", 1)[1]


@dataclass(frozen=True)
class WorkerInfo:
    """What the queue's worker records add to the runs (listWorkers / getWorker)."""

    quarantine_until: datetime | None = None
    first_claim: datetime | None = None
    last_date_active: datetime | None = None
    # worker-manager's view, when the deployment has it and knows the worker (its ``worker`` record)
    manager_state: str | None = None
    manager_last_modified: datetime | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> WorkerInfo:
        managed = record.get(MANAGER_KEY) or {}
        return cls(
            quarantine_until=optional_time(record.get("quarantineUntil")),
            first_claim=optional_time(record.get("firstClaim")),
            last_date_active=optional_time(record.get("lastDateActive")),
            manager_state=managed.get("state"),
            manager_last_modified=optional_time(managed.get("lastModified")),
        )

    def quarantined(self, now: datetime) -> bool:
        return self.quarantine_until is not None and self.quarantine_until > now


@dataclass(frozen=True)
class Run:
    """One claimed run of a task."""

    task_id: str
    run_id: int
    worker: WorkerKey
    state: str
    reason_created: str
    reason_resolved: str | None
    scheduled: datetime | None
    started: datetime | None
    resolved: datetime | None

    @property
    def is_resolved(self) -> bool:
        return self.state in RESOLVED_STATES

    @property
    def is_bad(self) -> bool:
        """Whether this run counts against its worker: it failed, or ended in a worker-fault exception."""
        return self.state == "failed" or (
            self.state == "exception" and self.reason_resolved in WORKER_FAULT_REASONS
        )

    @property
    def duration(self) -> float | None:
        """Seconds from claim to resolution, for resolved runs."""
        if self.started is None or self.resolved is None:
            return None
        return (self.resolved - self.started).total_seconds()

    def link(self, root_url: str) -> str:
        """Where a person sees the run: the deployment's UI page (`tcw queue serve` serves one too)."""
        return f"{root_url.rstrip('/')}/tasks/{self.task_id}/runs/{self.run_id}"


def optional_time(value: Any) -> datetime | None:
    """A timestamp a record may lack (None, or absent: no such moment yet)."""
    if not isinstance(value, str) or not value:
        return None
    return parse_time(value)


def format_time(value: datetime | None) -> str | None:
    """The same format back: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def runs_of_status(status: Mapping[str, Any]) -> Iterator[Run]:
    """The claimed runs of one task status; runs never claimed have no worker and are skipped."""
    task_queue_id = status.get("taskQueueId") or f"{status['provisionerId']}/{status['workerType']}"
    for raw in status.get("runs", []):
        if not raw.get("workerGroup") or not raw.get("workerId"):
            continue
        yield Run(
            task_id=status["taskId"],
            run_id=int(raw["runId"]),
            worker=WorkerKey(task_queue_id, raw["workerGroup"], raw["workerId"]),
            state=raw["state"],
            reason_created=raw.get("reasonCreated", ""),
            reason_resolved=raw.get("reasonResolved"),
            scheduled=optional_time(raw.get("scheduled")),
            started=optional_time(raw.get("started")),
            resolved=optional_time(raw.get("resolved")),
        )


def runs_of_statuses(statuses: Iterable[Mapping[str, Any]], since: datetime | None = None) -> list[Run]:
    """Every claimed run in ``statuses`` started at or after ``since`` (all of them when None)."""
    runs = [run for status in statuses for run in runs_of_status(status)]
    if since is not None:
        runs = [run for run in runs if run.started is not None and run.started >= since]
    return runs
