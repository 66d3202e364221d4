"""worker-manager's scope expressions by method name, as its API reference states them (a test compares
them)."""

from __future__ import annotations

from tcw.localqueue.auth.scopes import Expression
from tcw.localqueue.services import meta

_MANAGE_POOL = {
    "AllOf": ["worker-manager:manage-worker-pool:<workerPoolId>", "worker-manager:provider:<providerId>"]
}
_WORKER = "<workerPoolId>/<workerGroup>/<workerId>"

SCOPES: dict[str, Expression | None] = {
    **meta.SCOPES,
    "createWorkerPool": _MANAGE_POOL,
    "updateWorkerPool": _MANAGE_POOL,
    "deleteWorkerPool": "worker-manager:manage-worker-pool:<workerPoolId>",
    "workerPool": "worker-manager:get-worker-pool:<workerPoolId>",
    "listWorkerPools": "worker-manager:list-worker-pools",
    "reportWorkerError": {
        "AllOf": ["assume:worker-pool:<workerPoolId>", "assume:worker-id:<workerGroup>/<workerId>"]
    },
    "listWorkerPoolErrors": "worker-manager:list-worker-pool-errors:<workerPoolId>",
    "worker": f"worker-manager:get-worker:{_WORKER}",
    "createWorker": f"worker-manager:create-worker:{_WORKER}",
    "removeWorker": f"worker-manager:remove-worker:{_WORKER}",
    "shouldWorkerTerminate": f"worker-manager:should-worker-terminate:{_WORKER}",
    "listWorkersForWorkerPool": "worker-manager:list-workers:<workerPoolId>",
    "registerWorker": None,  # workers have no credentials yet: the identity proof is the check
    "reregisterWorker": f"worker-manager:reregister-worker:{_WORKER}",
}
