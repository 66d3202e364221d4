"""A task's life on the local queue, driven by the official client over HTTP: create, claim, reclaim,
resolve, retries, cancel, rerun, schedule, dependencies, priorities, claim expiry and deadline."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import MakeLocalQueue, api_failure, from_now
from tests.support.tasks import task_definition
from tests.support.waiting import wait_for

QUEUE_ID = "tcw-test/worker"
WORKER = {"workerGroup": "group", "workerId": "worker-1"}


def claim_one(queue: Any, task_queue_id: str = QUEUE_ID) -> dict[str, Any]:
    claims = queue.claimWork(task_queue_id, {**WORKER, "tasks": 1})["tasks"]
    assert len(claims) == 1, claims
    return claims[0]  # type: ignore[no-any-return]


def create(queue: Any, **overrides: Any) -> str:
    task_id: str = taskcluster.slugId()
    queue.createTask(task_id, task_definition(**overrides))
    return task_id


def status_code(call: Any) -> int:
    return int(api_failure(call).status_code)


def test_create_claim_reclaim_complete(queue_client: Any, local_queue: LocalQueue) -> None:
    task_id = create(queue_client)
    assert queue_client.status(task_id)["status"]["state"] == "pending"
    claim = claim_one(queue_client)
    assert claim["status"]["taskId"] == task_id and claim["runId"] == 0
    assert claim["task"]["taskQueueId"] == QUEUE_ID
    assert claim["workerGroup"] == "group" and claim["workerId"] == "worker-1"
    taken_until = datetime.fromisoformat(claim["takenUntil"].replace("Z", "+00:00"))
    assert abs((taken_until - datetime.now(UTC)).total_seconds() - 1200) < 5
    task_queue = taskcluster.Queue(local_queue.client_options(claim["credentials"]))
    assert claim["credentials"]["clientId"].startswith(f"task-client/{task_id}/0/on/group/worker-1/until/")
    reclaimed = task_queue.reclaimTask(task_id, "0")
    assert reclaimed["takenUntil"] >= claim["takenUntil"]
    assert reclaimed["status"]["runs"][0]["state"] == "running"
    done = task_queue.reportCompleted(task_id, "0")["status"]
    assert done["state"] == "completed"
    assert done["runs"][0]["reasonResolved"] == "completed" and "resolved" in done["runs"][0]
    # Idempotent repeat; any other resolution or a reclaim is a conflict.
    assert task_queue.reportCompleted(task_id, "0")["status"]["state"] == "completed"
    assert status_code(lambda: task_queue.reportFailed(task_id, "0")) == 409
    assert status_code(lambda: task_queue.reclaimTask(task_id, "0")) == 409


def test_task_returns_definition_with_defaults(queue_client: Any) -> None:
    task_id = create(queue_client)
    definition = queue_client.task(task_id)
    assert definition["taskGroupId"] == task_id
    assert definition["priority"] == "lowest" and definition["retries"] == 5
    assert definition["provisionerId"] == "tcw-test" and definition["workerType"] == "worker"
    assert definition["created"].endswith("Z") and len(definition["created"]) == 24


def test_create_is_idempotent_but_conflicts_on_change(queue_client: Any) -> None:
    task_id = taskcluster.slugId()
    body = task_definition()
    first = queue_client.createTask(task_id, body)
    assert queue_client.createTask(task_id, body) == first
    changed = {**body, "payload": {"other": True}}
    assert status_code(lambda: queue_client.createTask(task_id, changed)) == 409


def test_claim_work_waits_then_answers_empty(local_queue: LocalQueue, queue_client: Any) -> None:
    started = time.monotonic()
    assert queue_client.claimWork(QUEUE_ID, {**WORKER, "tasks": 1}) == {"tasks": []}
    assert 0.9 < time.monotonic() - started < 3


def test_claim_work_wakes_on_create(make_local_queue: MakeLocalQueue) -> None:
    import threading

    local = make_local_queue(claim_work_wait=10)
    queue = taskcluster.Queue(local.client_options())
    timer = threading.Timer(0.3, lambda: create(taskcluster.Queue(local.client_options())))
    started = time.monotonic()
    timer.start()
    claims = queue.claimWork(QUEUE_ID, {**WORKER, "tasks": 4})["tasks"]
    timer.join()
    assert len(claims) == 1
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("trigger", ["rerunTask", "reportException"])
def test_claim_work_wakes_when_a_run_is_added(make_local_queue: MakeLocalQueue, trigger: str) -> None:
    import threading

    local = make_local_queue(claim_work_wait=10)
    queue = taskcluster.Queue(local.client_options())
    task_id = create(queue)
    claim_one(queue)
    if trigger == "rerunTask":
        queue.reportFailed(task_id, "0")
        action = threading.Timer(0.3, lambda: queue.rerunTask(task_id))
    else:
        action = threading.Timer(
            0.3, lambda: queue.reportException(task_id, "0", {"reason": "worker-shutdown"})
        )
    started = time.monotonic()
    action.start()
    polled = taskcluster.Queue(local.client_options()).claimWork(QUEUE_ID, {**WORKER, "tasks": 1})["tasks"]
    action.join()
    assert [claim["runId"] for claim in polled] == [1]
    assert time.monotonic() - started < 3


def test_claim_work_takes_up_to_the_asked_number(queue_client: Any) -> None:
    created = {create(queue_client) for _ in range(5)}
    first = queue_client.claimWork(QUEUE_ID, {**WORKER, "tasks": 3})["tasks"]
    second = queue_client.claimWork(QUEUE_ID, {**WORKER, "tasks": 32})["tasks"]
    assert len(first) == 3 and len(second) == 2
    assert {claim["status"]["taskId"] for claim in first + second} == created


def test_priorities_decide_claim_order(queue_client: Any) -> None:
    low = create(queue_client, priority="low")
    highest = create(queue_client, priority="highest")
    medium = create(queue_client, priority="medium")
    order = [claim_one(queue_client)["status"]["taskId"] for _ in range(3)]
    assert order == [highest, medium, low]


def test_report_failed_and_exception_without_retry(queue_client: Any, local_queue: LocalQueue) -> None:
    failed, broken = create(queue_client), create(queue_client)
    for expected, call, body in (
        (failed, "reportFailed", None),
        (broken, "reportException", {"reason": "malformed-payload"}),
    ):
        claim = claim_one(queue_client)
        task_id = claim["status"]["taskId"]
        assert task_id == expected
        task_queue = taskcluster.Queue(local_queue.client_options(claim["credentials"]))
        args = (task_id, "0") if body is None else (task_id, "0", body)
        status = getattr(task_queue, call)(*args)["status"]
        assert len(status["runs"]) == 1
    states = {queue_client.status(t)["status"]["state"] for t in (failed, broken)}
    assert states == {"failed", "exception"}


@pytest.mark.parametrize(
    ("reason", "reason_created"), [("worker-shutdown", "retry"), ("intermittent-task", "task-retry")]
)
def test_retried_exceptions_add_a_run(queue_client: Any, reason: str, reason_created: str) -> None:
    task_id = create(queue_client, retries=1)
    claim_one(queue_client)
    status = queue_client.reportException(task_id, "0", {"reason": reason})["status"]
    assert [run["state"] for run in status["runs"]] == ["exception", "pending"]
    assert status["runs"][1]["reasonCreated"] == reason_created and status["retriesLeft"] == 0
    # Same reason again is harmless; another reason is a conflict.
    assert queue_client.reportException(task_id, "0", {"reason": reason})["status"]["state"] == "pending"
    other = {"reason": "internal-error"}
    assert status_code(lambda: queue_client.reportException(task_id, "0", other)) == 409
    claim_one(queue_client)
    final = queue_client.reportException(task_id, "1", {"reason": reason})["status"]
    assert final["state"] == "exception" and len(final["runs"]) == 2


def test_unknown_task_or_run_is_404(queue_client: Any) -> None:
    unknown = taskcluster.slugId()
    assert status_code(lambda: queue_client.status(unknown)) == 404
    assert status_code(lambda: queue_client.reportCompleted(unknown, "0")) == 404
    task_id = create(queue_client)
    assert status_code(lambda: queue_client.reclaimTask(task_id, "3")) == 404
    assert status_code(lambda: queue_client.reportCompleted(task_id, "0")) == 409  # pending, not running


def test_claim_expiry_retries_then_resolves(make_local_queue: MakeLocalQueue) -> None:
    local = make_local_queue(claim_timeout=0.3)
    queue = taskcluster.Queue(local.client_options())
    task_id = create(queue, retries=1)
    claim_one(queue)

    def runs() -> list[dict[str, Any]]:
        return queue.status(task_id)["status"]["runs"]  # type: ignore[no-any-return]

    wait_for(lambda: len(runs()) == 2)
    first, second = runs()
    assert (first["state"], first["reasonResolved"]) == ("exception", "claim-expired")
    assert (second["state"], second["reasonCreated"]) == ("pending", "retry")
    claim_one(queue)
    wait_for(lambda: queue.status(task_id)["status"]["state"] == "exception")
    assert len(runs()) == 2 and runs()[1]["reasonResolved"] == "claim-expired"
    assert status_code(lambda: queue.reclaimTask(task_id, "1")) == 409


def test_reclaim_keeps_claim_alive(make_local_queue: MakeLocalQueue) -> None:
    local = make_local_queue(claim_timeout=0.5)
    queue = taskcluster.Queue(local.client_options())
    task_id = create(queue)
    claim = claim_one(queue)
    task_queue = taskcluster.Queue(local.client_options(claim["credentials"]))
    for _ in range(4):
        time.sleep(0.2)
        task_queue = taskcluster.Queue(
            local.client_options(task_queue.reclaimTask(task_id, "0")["credentials"])
        )
    assert task_queue.reportCompleted(task_id, "0")["status"]["state"] == "completed"


def test_deadline_resolves_pending_and_unscheduled_tasks(queue_client: Any) -> None:
    soon = from_now(seconds=0.5)
    pending = create(queue_client, deadline=soon)
    blocked = create(queue_client, deadline=soon, dependencies=[pending])
    assert queue_client.status(blocked)["status"]["state"] == "unscheduled"
    for task_id in (pending, blocked):
        status = wait_for(functools.partial(_resolved, queue_client, task_id))
        assert status["state"] == "exception"
        assert status["runs"][-1]["reasonResolved"] == "deadline-exceeded"
    assert status_code(lambda: queue_client.rerunTask(pending)) == 409


def _resolved(queue: Any, task_id: str) -> dict[str, Any] | None:
    status: dict[str, Any] = queue.status(task_id)["status"]
    return status if status["state"] == "exception" else None


def test_cancel_running_task_makes_reclaim_409(queue_client: Any, local_queue: LocalQueue) -> None:
    task_id = create(queue_client)
    claim = claim_one(queue_client)
    status = queue_client.cancelTask(task_id)["status"]
    assert (status["state"], status["runs"][0]["reasonResolved"]) == ("exception", "canceled")
    task_queue = taskcluster.Queue(local_queue.client_options(claim["credentials"]))
    assert status_code(lambda: task_queue.reclaimTask(task_id, "0")) == 409
    assert status_code(lambda: task_queue.reportCompleted(task_id, "0")) == 409


def test_cancel_unscheduled_task_creates_exception_run(queue_client: Any) -> None:
    required = create(queue_client)
    task_id = create(queue_client, dependencies=[required])
    runs = queue_client.cancelTask(task_id)["status"]["runs"]
    assert runs == [
        {
            **runs[0],
            "runId": 0,
            "state": "exception",
            "reasonCreated": "exception",
            "reasonResolved": "canceled",
        }
    ]


def test_rerun_adds_a_run_with_fresh_retries(queue_client: Any) -> None:
    task_id = create(queue_client, retries=2)
    claim_one(queue_client)
    queue_client.reportFailed(task_id, "0")
    status = queue_client.rerunTask(task_id)["status"]
    assert status["state"] == "pending" and status["retriesLeft"] == 2
    assert status["runs"][1]["reasonCreated"] == "rerun"
    assert queue_client.rerunTask(task_id)["status"]["runs"] == status["runs"]  # still pending: no-op
    assert claim_one(queue_client)["runId"] == 1


def test_dependencies_all_completed_and_all_resolved(queue_client: Any) -> None:
    first = create(queue_client)
    needs_success = create(queue_client, dependencies=[first])
    needs_resolution = create(queue_client, dependencies=[first], requires="all-resolved")
    listed = {t["status"]["taskId"] for t in queue_client.listDependentTasks(first)["tasks"]}
    assert listed == {needs_success, needs_resolution}
    assert queue_client.status(needs_success)["status"]["state"] == "unscheduled"
    claim_one(queue_client)
    queue_client.reportFailed(first, "0")
    assert queue_client.status(needs_success)["status"]["state"] == "unscheduled"
    assert queue_client.status(needs_resolution)["status"]["state"] == "pending"
    scheduled = queue_client.scheduleTask(needs_success)["status"]
    assert scheduled["state"] == "pending" and scheduled["runs"][0]["reasonCreated"] == "scheduled"


def test_completed_dependency_schedules_dependent(queue_client: Any) -> None:
    first = create(queue_client)
    second = create(queue_client, dependencies=[first])
    claim_one(queue_client)
    queue_client.reportCompleted(first, "0")
    assert queue_client.status(second)["status"]["state"] == "pending"
    third = create(queue_client, dependencies=[first])  # already satisfied at creation
    assert queue_client.status(third)["status"]["state"] == "pending"


def test_missing_dependency_is_400(queue_client: Any) -> None:
    assert status_code(lambda: create(queue_client, dependencies=[taskcluster.slugId()])) == 400


def test_task_group_lists_its_tasks(queue_client: Any) -> None:
    group = taskcluster.slugId()
    created = {create(queue_client, taskGroupId=group) for _ in range(3)}
    info = queue_client.getTaskGroup(group)
    assert info["taskGroupId"] == group and info["schedulerId"] == "-"
    page = queue_client.listTaskGroup(group, query={"limit": 2})
    assert len(page["tasks"]) == 2 and "continuationToken" in page
    rest = queue_client.listTaskGroup(group, query={"continuationToken": page["continuationToken"]})
    assert {t["status"]["taskId"] for t in page["tasks"] + rest["tasks"]} == created
    other = task_definition(taskGroupId=group, schedulerId="another")
    assert status_code(lambda: queue_client.createTask(taskcluster.slugId(), other)) == 409


def test_tasks_and_statuses_skip_unknown_ids(queue_client: Any) -> None:
    known = create(queue_client)
    ids = {"taskIds": [known, taskcluster.slugId()]}
    assert [t["taskId"] for t in queue_client.tasks(ids)["tasks"]] == [known]
    assert [s["taskId"] for s in queue_client.statuses(ids)["statuses"]] == [known]


def test_queues_in_one_process_keep_their_own_definitions(make_local_queue: MakeLocalQueue) -> None:
    task_id = taskcluster.slugId()
    first, second = (taskcluster.Queue(make_local_queue().client_options()) for _ in range(2))
    first.createTask(task_id, task_definition(payload={"queue": 1}))
    second.createTask(task_id, task_definition(payload={"queue": 2}))
    assert first.task(task_id)["payload"] == {"queue": 1}
    assert second.task(task_id)["payload"] == {"queue": 2}


def test_seal_then_cancel_task_group(queue_client: Any) -> None:
    group = taskcluster.slugId()
    running, pending = create(queue_client, taskGroupId=group), create(queue_client, taskGroupId=group)
    claim_one(queue_client)
    assert status_code(lambda: queue_client.cancelTaskGroup(group)) == 409  # not sealed yet
    sealed = queue_client.sealTaskGroup(group)["sealed"]
    assert queue_client.sealTaskGroup(group)["sealed"] == sealed
    assert status_code(lambda: create(queue_client, taskGroupId=group)) == 409
    result = queue_client.cancelTaskGroup(group)
    assert (result["taskGroupSize"], result["cancelledCount"]) == (2, 2)
    assert set(result["taskIds"]) == {running, pending}
    for task_id in (running, pending):
        assert queue_client.status(task_id)["status"]["runs"][-1]["reasonResolved"] == "canceled"


def test_changed_priority_reorders_pending_runs(queue_client: Any) -> None:
    group = taskcluster.slugId()
    first = create(queue_client, taskGroupId=group)
    second = create(queue_client, priority="low", taskGroupId=group)
    queue_client.changeTaskPriority(second, {"newPriority": "high"})
    assert queue_client.task(second)["priority"] == "high"
    assert claim_one(queue_client)["status"]["taskId"] == second
    changed = queue_client.changeTaskGroupPriority(group, {"newPriority": "medium"})
    assert changed["taskIds"] == sorted([first, second]) and changed["tasksAffected"] == 2
    queue_client.reportCompleted(second, "0")
    assert status_code(lambda: queue_client.changeTaskPriority(second, {"newPriority": "low"})) == 409
