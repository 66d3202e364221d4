"""Issue 10, item 12: what has expired is deleted by the queue service's background job, as Taskcluster's
expire-* jobs do: tasks (with their runs and dependencies) after their ``expires``, task groups after
theirs, workers after their ``expires`` unless quarantined beyond it."""

from __future__ import annotations

from typing import Any

import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import api_failure, from_now
from tests.support.tasks import task_definition
from tests.support.waiting import wait_for

QUEUE_ID = "tcw-test/worker"


def gone(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except taskcluster.exceptions.TaskclusterRestFailure as failure:
        return bool(failure.status_code == 404)
    return False


def test_expired_tasks_runs_groups_and_workers_are_deleted(
    local_queue: LocalQueue, queue_client: Any
) -> None:
    soon = from_now(seconds=1)
    short, kept = taskcluster.slugId(), taskcluster.slugId()
    queue_client.createTask(short, task_definition(QUEUE_ID, deadline=soon, expires=soon))
    queue_client.createTask(kept, task_definition(QUEUE_ID, dependencies=[short]))
    claim = queue_client.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w1", "tasks": 1})["tasks"]
    assert claim[0]["status"]["taskId"] == short
    workers = "tcw-test", "worker", "g"
    for worker_id in ("leaving", "quarantined"):
        queue_client.declareWorker(*workers, worker_id, {"expires": soon})
    queue_client.quarantineWorker(*workers, "quarantined", {"quarantineUntil": from_now(hours=1)})

    wait_for(lambda: gone(queue_client.status, short), timeout=30)
    assert gone(queue_client.task, short) and gone(queue_client.getTaskGroup, short)
    assert api_failure(queue_client.listArtifacts, short, "0").status_code == 404  # its runs went with it
    assert gone(queue_client.getWorker, *workers, "leaving")
    assert queue_client.getWorker(*workers, "quarantined")["workerId"] == "quarantined"
    assert queue_client.getWorker(*workers, "w1")["workerId"] == "w1"  # seen by a claim: kept a day
    assert queue_client.status(kept)["status"]["state"] == "unscheduled"  # its own expiry is a year away
    assert [task["status"]["taskId"] for task in queue_client.listTaskGroup(kept)["tasks"]] == [kept]
    db = local_queue.state.db
    assert db.execute("SELECT COUNT(*) FROM runs WHERE task_id = ?", (short,)).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM workers WHERE worker_id = 'leaving'").fetchone()[0] == 0
