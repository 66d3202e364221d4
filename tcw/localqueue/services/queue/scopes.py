"""The queue's scope expressions by method name, as its API reference states them (a test compares them),
with the newer methods as the installed client documents them."""

from __future__ import annotations

from typing import Any

from tcw.localqueue.auth.scopes import Expression, each
from tcw.localqueue.services import meta

_RESOLVE = "queue:resolve-task:<taskId>/<runId>"
_CREATE_ARTIFACT = "queue:create-artifact:<taskId>/<runId>"
_GET_ARTIFACTS = {"AllOf": [{"each": "queue:get-artifact:<name>", "for": "name", "in": "names"}]}
_LIST_RUN_ARTIFACTS = "queue:list-artifacts:<taskId>:<runId>"
_LIST_LATEST_ARTIFACTS = "queue:list-artifacts:<taskId>"


def _task_action(action: str) -> dict[str, Any]:
    """scheduleTask, rerunTask and cancelTask share one shape: per task, per project, or by scheduler."""
    return {
        "AnyOf": [
            f"queue:{action}:<schedulerId>/<taskGroupId>/<taskId>",
            f"queue:{action}-in-project:<projectId>",
            {"AllOf": [f"queue:{action}", "assume:scheduler-id:<schedulerId>/<taskGroupId>"]},
        ]
    }


SCOPES: dict[str, Expression | None] = {
    **meta.SCOPES,
    # queue: tasks
    "task": "queue:get-task:<taskId>",
    "tasks": {"AllOf": [each("queue:get-task:<taskId>", "taskId", "taskIds")]},
    "status": "queue:status:<taskId>",
    "statuses": {"AllOf": [each("queue:status:<taskId>", "taskId", "taskIds")]},
    "listTaskGroup": "queue:list-task-group:<taskGroupId>",
    "getTaskGroup": "queue:list-task-group:<taskGroupId>",
    "cancelTaskGroup": "queue:cancel-task-group:<schedulerId>/<taskGroupId>",
    "sealTaskGroup": "queue:seal-task-group:<schedulerId>/<taskGroupId>",
    "listDependentTasks": "queue:list-dependent-tasks:<taskId>",
    "createTask": {
        "AllOf": [
            each("<scope>", "scope", "scopes"),
            each("queue:route:<route>", "route", "routes"),
            "queue:create-task:project:<projectId>",
            "queue:scheduler-id:<schedulerId>",
            {
                "AnyOf": [
                    each(
                        "queue:create-task:<priority>:<provisionerId>/<workerType>", "priority", "priorities"
                    )
                ]
            },
        ]
    },
    "scheduleTask": _task_action("schedule-task"),
    "rerunTask": _task_action("rerun-task"),
    "cancelTask": _task_action("cancel-task"),
    "changeTaskPriority": {
        "AnyOf": ["queue:change-task-priority:<taskId>", "queue:change-task-priority-in-queue:<taskQueueId>"]
    },
    "changeTaskGroupPriority": "queue:change-task-group-priority:<schedulerId>/<taskGroupId>",
    # queue: the worker's side of a run
    "claimWork": {"AllOf": ["queue:claim-work:<taskQueueId>", "queue:worker-id:<workerGroup>/<workerId>"]},
    "claimTask": {
        "AllOf": ["queue:claim-task:<provisionerId>/<workerType>", "queue:worker-id:<workerGroup>/<workerId>"]
    },
    "reclaimTask": "queue:reclaim-task:<taskId>/<runId>",
    "reportCompleted": _RESOLVE,
    "reportFailed": _RESOLVE,
    "reportException": _RESOLVE,
    # queue: artifacts
    "createArtifact": _CREATE_ARTIFACT,
    "finishArtifact": _CREATE_ARTIFACT,
    "getArtifact": _GET_ARTIFACTS,
    "getLatestArtifact": _GET_ARTIFACTS,
    "artifact": _GET_ARTIFACTS,
    "latestArtifact": _GET_ARTIFACTS,
    "listArtifacts": _LIST_RUN_ARTIFACTS,
    "artifactInfo": _LIST_RUN_ARTIFACTS,
    "listLatestArtifacts": _LIST_LATEST_ARTIFACTS,
    "latestArtifactInfo": _LIST_LATEST_ARTIFACTS,
    # queue: provisioners, task queues and workers
    "listProvisioners": "queue:list-provisioners",
    "getProvisioner": "queue:get-provisioner:<provisionerId>",
    "pendingTasks": "queue:pending-count:<taskQueueId>",
    "taskQueueCounts": {"AllOf": ["queue:pending-count:<taskQueueId>", "queue:claimed-count:<taskQueueId>"]},
    # newer than references.json; scopes as the installed client documents them
    "taskQueueCountsBatch": {
        "AllOf": [
            each("queue:pending-count:<taskQueueId>", "taskQueueId", "taskQueueIds"),
            each("queue:claimed-count:<taskQueueId>", "taskQueueId", "taskQueueIds"),
        ]
    },
    "listPendingTasks": "queue:pending-list:<taskQueueId>",
    "listClaimedTasks": "queue:claimed-list:<taskQueueId>",
    "listWorkerTypes": "queue:list-worker-types:<provisionerId>",
    "getWorkerType": "queue:get-worker-type:<provisionerId>/<workerType>",
    "listTaskQueues": "queue:list-task-queues",
    "getTaskQueue": "queue:get-task-queue:<taskQueueId>",
    "listWorkers": "queue:list-workers:<provisionerId>/<workerType>",
    "getWorker": "queue:get-worker:<provisionerId>/<workerType>/<workerGroup>/<workerId>",
    "quarantineWorker": {
        "AllOf": ["queue:quarantine-worker:<provisionerId>/<workerType>/<workerGroup>/<workerId>"]
    },
    "declareWorker": {
        "AllOf": [
            each(
                "queue:declare-worker:<provisionerId>/<workerType>/<workerGroup>/<workerId>#<property>",
                "property",
                "properties",
            )
        ]
    },
}
