"""Conformance with the official references (../shared/taskcluster/references.json): the route table, and
every task/run/worker method's request and response validated against the official schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import taskcluster

from tcw.localqueue import app, claims, resolution, tasks, workers
from tcw.localqueue.routes import service_routes
from tcw.localqueue.server import LocalQueue
from tests.fixtures.queue import from_now, task_definition
from tests.fixtures.references import References

pytestmark = pytest.mark.conformance

QUEUE_ID = "tcw-conformance/worker"
WORKER = {"workerGroup": "group", "workerId": "worker"}
OURS = {*tasks.HANDLERS, *claims.HANDLERS, *resolution.HANDLERS, *workers.HANDLERS, *app.SERVICE_HANDLERS}


@pytest.mark.parametrize("service", ["queue", "object"])
def test_route_table_matches_the_reference(references: References, service: str) -> None:
    reference = references.api(service)
    table = service_routes(service).routes
    served = set(app.all_handlers()[service])
    assert served <= set(table), served - set(table)
    for name in served:
        assert name in reference, f"{name} is not in the official {service} reference"
        assert table[name].method == reference[name]["method"].upper(), name
        assert table[name].pattern == reference[name]["route"], name
        assert table[name].output_schema == reference[name].get("output"), name
        assert table[name].input_schema == reference[name].get("input"), name


class Checked:
    """Calls the official client and validates each request body and response with the official schemas."""

    def __init__(self, references: References, client: Any) -> None:
        self.references, self.client = references, client
        self.called: set[str] = set()

    def as_client(self, client: Any) -> Checked:
        other = Checked(self.references, client)
        other.called = self.called
        return other

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        info = service_routes("queue").routes[name]
        if info.input_schema and len(args) > len(info.params):
            self.references.validate("queue", info.input_schema, args[len(info.params)])
        result = getattr(self.client, name)(*args, **kwargs)
        if info.output_schema:
            self.references.validate("queue", info.output_schema, result)
        self.called.add(name)
        return result


@pytest.fixture
def checked(references: References, queue_client: Any) -> Checked:
    return Checked(references, queue_client)


def test_every_method_conforms(checked: Checked, local_queue: LocalQueue) -> None:
    call: Callable[..., Any] = checked
    call("ping")
    group = taskcluster.slugId()
    first, second, third = (taskcluster.slugId() for _ in range(3))
    body = task_definition(
        QUEUE_ID, taskGroupId=group, priority="high", routes=["index.x"], tags={"k": "v"}, scopes=["s:1"]
    )
    call("createTask", first, body)
    call("createTask", second, task_definition(QUEUE_ID, taskGroupId=group, dependencies=[first]))
    call("createTask", third, task_definition(QUEUE_ID, taskGroupId=group, retries=1))
    call("task", first)
    call("status", second)
    call("tasks", {"taskIds": [first, second]})
    call("statuses", {"taskIds": [first, second]})
    call("listTaskGroup", group)
    call("getTaskGroup", group)
    call("listDependentTasks", first)
    call("pendingTasks", QUEUE_ID)
    call("taskQueueCounts", QUEUE_ID)
    call("listPendingTasks", QUEUE_ID)

    claim = call("claimWork", QUEUE_ID, {**WORKER, "tasks": 1})["tasks"][0]
    assert claim["status"]["taskId"] == first
    call("listClaimedTasks", QUEUE_ID)
    as_task = checked.as_client(taskcluster.Queue(local_queue.client_options(claim["credentials"])))
    as_task("reclaimTask", first, "0")
    as_task("reportCompleted", first, "0")
    claim = call("claimTask", third, "0", WORKER)
    call("reportException", third, "0", {"reason": "worker-shutdown"})
    call("claimWork", QUEUE_ID, {**WORKER, "tasks": 2})
    call("reportFailed", second, "0")
    call("reportException", third, "1", {"reason": "internal-error"})
    call("rerunTask", second)
    call("cancelTask", second)
    blocked = taskcluster.slugId()
    call("createTask", blocked, task_definition(QUEUE_ID, dependencies=[second]))
    call("changeTaskPriority", blocked, {"newPriority": "very-high"})
    call("scheduleTask", blocked)
    call("changeTaskGroupPriority", group, {"newPriority": "low"})
    call("sealTaskGroup", group)
    call("cancelTaskGroup", group)

    provisioner, worker_type = QUEUE_ID.split("/")
    call("listProvisioners")
    call("getProvisioner", provisioner)
    call("listWorkerTypes", provisioner)
    call("getWorkerType", provisioner, worker_type)
    call("listTaskQueues")
    call("getTaskQueue", QUEUE_ID)
    call("listWorkers", provisioner, worker_type)
    call("getWorker", provisioner, worker_type, "group", "worker")
    until = from_now(hours=1)
    call("quarantineWorker", provisioner, worker_type, "group", "worker", {"quarantineUntil": until})
    expires = from_now(days=2)
    call("declareWorker", provisioner, worker_type, "group", "other", {"expires": expires})
    assert OURS - {"lbheartbeat", "heartbeat", "version"} == checked.called
