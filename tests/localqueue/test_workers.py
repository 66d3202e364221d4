"""Workers and task queues: recorded on every claim, quarantine, declareWorker, and the list views."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import taskcluster
from taskcluster.exceptions import TaskclusterRestFailure

from tests.support.localqueue import from_now
from tests.support.tasks import task_definition

PROVISIONER, WORKER_TYPE = "tcw-test", "worker"
QUEUE_ID = f"{PROVISIONER}/{WORKER_TYPE}"


def claim(queue: Any, worker_id: str = "w1", tasks: int = 1) -> list[dict[str, Any]]:
    body = {"workerGroup": "g", "workerId": worker_id, "tasks": tasks}
    return queue.claimWork(QUEUE_ID, body)["tasks"]  # type: ignore[no-any-return]


def create(queue: Any, count: int = 1) -> list[str]:
    ids = [taskcluster.slugId() for _ in range(count)]
    for task_id in ids:
        queue.createTask(task_id, task_definition(QUEUE_ID))
    return ids


def test_worker_recorded_on_every_claim(queue_client: Any) -> None:
    ids = create(queue_client, 22)
    for _ in range(11):
        claim(queue_client, tasks=2)
    worker = queue_client.getWorker(PROVISIONER, WORKER_TYPE, "g", "w1")
    assert worker["taskQueueId"] == QUEUE_ID and worker["workerGroup"] == "g"
    assert worker["recentTasks"] == [{"taskId": task_id, "runId": 0} for task_id in ids[2:]]
    assert worker["firstClaim"] <= worker["lastDateActive"]
    listed = queue_client.listWorkers(PROVISIONER, WORKER_TYPE)["workers"]
    assert listed == [
        {
            "workerGroup": "g",
            "workerId": "w1",
            "firstClaim": worker["firstClaim"],
            "lastDateActive": worker["lastDateActive"],
            "latestTask": {"taskId": ids[-1], "runId": 0},
        }
    ]


def test_unknown_worker_is_404(queue_client: Any) -> None:
    for call, extra in (
        (queue_client.getWorker, ()),
        (queue_client.quarantineWorker, ({"quarantineUntil": from_now(hours=1)},)),
    ):
        with pytest.raises(TaskclusterRestFailure) as caught:
            call(PROVISIONER, WORKER_TYPE, "g", "nobody", *extra)
        assert caught.value.status_code == 404


def test_quarantined_worker_gets_no_work_until_released(queue_client: Any) -> None:
    queue_client.declareWorker(PROVISIONER, WORKER_TYPE, "g", "w1", {"expires": from_now(hours=24)})
    quarantined = queue_client.quarantineWorker(
        PROVISIONER,
        WORKER_TYPE,
        "g",
        "w1",
        {"quarantineUntil": from_now(hours=1), "quarantineInfo": "flaky disk"},
    )
    assert quarantined["quarantineUntil"] > datetime.now(UTC).isoformat()
    assert quarantined["quarantineDetails"][0]["quarantineInfo"] == "flaky disk"
    assert quarantined["quarantineDetails"][0]["clientId"] == "root"
    (task_id,) = create(queue_client)
    started = time.monotonic()
    assert claim(queue_client) == []
    assert time.monotonic() - started >= 0.9  # waits the whole long-poll, like the real queue
    assert [c["status"]["taskId"] for c in claim(queue_client, worker_id="w2")] == [task_id]
    only = queue_client.listWorkers(PROVISIONER, WORKER_TYPE, query={"quarantined": "true"})["workers"]
    assert [w["workerId"] for w in only] == ["w1"]
    released = queue_client.quarantineWorker(
        PROVISIONER, WORKER_TYPE, "g", "w1", {"quarantineUntil": from_now(hours=-1)}
    )
    assert "quarantineUntil" not in released and len(released["quarantineDetails"]) == 2
    create(queue_client)
    assert len(claim(queue_client)) == 1


def test_declare_worker(queue_client: Any) -> None:
    declared = queue_client.declareWorker(
        PROVISIONER, WORKER_TYPE, "g", "fresh", {"expires": from_now(hours=48)}
    )
    assert declared["workerId"] == "fresh" and declared["recentTasks"] == []
    assert declared["expires"] > from_now(hours=47)
    assert queue_client.getWorker(PROVISIONER, WORKER_TYPE, "g", "fresh")["workerId"] == "fresh"


def test_task_queue_views(queue_client: Any) -> None:
    create(queue_client, 3)
    claim(queue_client)
    assert queue_client.taskQueueCounts(QUEUE_ID) == {
        "provisionerId": PROVISIONER,
        "workerType": WORKER_TYPE,
        "taskQueueId": QUEUE_ID,
        "pendingTasks": 2,
        "claimedTasks": 1,
    }
    assert queue_client.pendingTasks(QUEUE_ID)["pendingTasks"] == 2
    queue = queue_client.getTaskQueue(QUEUE_ID)
    assert queue["taskQueueId"] == QUEUE_ID and queue["stability"] == "experimental"
    assert [q["taskQueueId"] for q in queue_client.listTaskQueues()["taskQueues"]] == [QUEUE_ID]
    assert [p["provisionerId"] for p in queue_client.listProvisioners()["provisioners"]] == [PROVISIONER]
    assert queue_client.getProvisioner(PROVISIONER)["provisionerId"] == PROVISIONER
    types = queue_client.listWorkerTypes(PROVISIONER)["workerTypes"]
    assert [(t["workerType"], t["taskQueueId"]) for t in types] == [(WORKER_TYPE, QUEUE_ID)]
    assert queue_client.getWorkerType(PROVISIONER, WORKER_TYPE)["workerType"] == WORKER_TYPE
    with pytest.raises(TaskclusterRestFailure) as caught:
        queue_client.getTaskQueue("nobody/here")
    assert caught.value.status_code == 404


def test_pending_and_claimed_lists_page(queue_client: Any) -> None:
    ids = create(queue_client, 5)
    first = queue_client.listPendingTasks(QUEUE_ID, query={"limit": 3})
    assert len(first["tasks"]) == 3 and "continuationToken" in first
    rest = queue_client.listPendingTasks(QUEUE_ID, query={"continuationToken": first["continuationToken"]})
    assert [t["taskId"] for t in first["tasks"] + rest["tasks"]] == ids
    assert "continuationToken" not in rest
    claim(queue_client, tasks=2)
    claimed = queue_client.listClaimedTasks(QUEUE_ID)["tasks"]
    assert [(t["taskId"], t["workerId"]) for t in claimed] == [(ids[0], "w1"), (ids[1], "w1")]
    with pytest.raises(TaskclusterRestFailure) as caught:
        queue_client.listPendingTasks(QUEUE_ID, query={"limit": "many"})
    assert caught.value.status_code == 400
