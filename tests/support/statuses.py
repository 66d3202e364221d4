"""Task statuses and run records built by hand, shaped like the queue's task-status.yml."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tcw.inspect.runs import Run, runs_of_status

POOL = "prov/pool"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class R:
    """One run to put in a status: who ran it and how it ended."""

    worker: str  # "group/id"
    state: str = "completed"
    reason: str | None = None
    duration: float = 60.0


class StatusFactory:
    """Hands out task statuses with increasing ids and start times."""

    def __init__(self, pool: str = POOL) -> None:
        self.pool = pool
        self.count = 0

    def status(self, *runs: R) -> dict[str, Any]:
        self.count += 1
        provisioner, worker_type = self.pool.split("/")
        started = T0 + timedelta(minutes=self.count)
        raw_runs = []
        for run_id, run in enumerate(runs):
            group, worker_id = run.worker.split("/")
            reason = run.reason or ("completed" if run.state == "completed" else "failed")
            resolved = started + timedelta(seconds=run.duration)
            raw_runs.append(
                {
                    "runId": run_id,
                    "state": run.state,
                    "reasonCreated": "scheduled" if run_id == 0 else "retry",
                    "reasonResolved": reason,
                    "workerGroup": group,
                    "workerId": worker_id,
                    "scheduled": stamp(started),
                    "started": stamp(started),
                    "resolved": stamp(resolved),
                    "takenUntil": stamp(resolved),
                }
            )
            started = resolved
        return {
            "taskId": f"task{self.count:04d}-xxxxxxxxxxxxx"[:22],
            "provisionerId": provisioner,
            "workerType": worker_type,
            "taskQueueId": self.pool,
            "schedulerId": "-",
            "taskGroupId": "group-xxxxxxxxxxxxxxxx",
            "state": runs[-1].state if runs else "pending",
            "retriesLeft": 5 - len(runs),
            "runs": raw_runs,
        }

    def many(self, count: int, *runs: R) -> list[dict[str, Any]]:
        return [self.status(*runs) for _ in range(count)]


def runs_of(statuses: Sequence[dict[str, Any]]) -> list[Run]:
    return [run for status in statuses for run in runs_of_status(status)]


def healthy_pool(factory: StatusFactory, workers: int = 5, each: int = 20) -> list[dict[str, Any]]:
    """Each worker completes most runs and fails one in ten: ordinary task failures."""
    statuses = []
    for index in range(workers):
        name = f"dc1/w{index}"
        statuses += factory.many(each - each // 10, R(name))
        statuses += factory.many(each // 10, R(name, "failed"))
    return statuses
