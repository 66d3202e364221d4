"""The workers of a pool as worker-manager knows them: static workers created by ``createWorker`` (with
the secret they register with), read, listed, removed (stopped: they can no longer register), and asked
whether they should terminate.

The local deployment never scales a pool, so its termination advice is what an operator's API calls
decide: a worker that was removed, has expired, or whose pool was deleted (handed to the null provider)
should terminate; any other should not.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tcw.localqueue.core import checks
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import InputError, RequestConflict, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.services.worker_manager.pools import require_pool
from tcw.localqueue.services.worker_manager.rules import (
    NULL_PROVIDER,
    STATIC_PROVIDER,
    check_worker_pool_id,
    state_filter,
)
from tcw.localqueue.storage import worker_pools as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.worker_pools import WorkerKey, WorkerRow


def digest(secret: str) -> str:
    """What the database keeps of a secret: enough to compare, nothing to replay."""
    return hashlib.sha256(secret.encode()).hexdigest()


def worker_json(worker: WorkerRow) -> dict[str, Any]:
    return {
        "workerPoolId": worker.worker_pool_id,
        "workerGroup": worker.worker_group,
        "workerId": worker.worker_id,
        "providerId": worker.provider_id,
        "created": worker.created,
        "expires": worker.expires,
        "lastModified": worker.last_modified,
        "lastChecked": worker.last_checked,
        "state": worker.state,
        "capacity": worker.capacity,
    }


def worker_key(call: ApiCall) -> WorkerKey:
    return (check_worker_pool_id(call.params), call.params["workerGroup"], call.params["workerId"])


def require_worker(state: QueueState, key: WorkerKey) -> WorkerRow:
    worker = rows.load_worker(state.db, key)
    if worker is None:
        raise ResourceNotFound("Worker not found")
    return worker


async def create_worker(call: ApiCall) -> Any:
    key = worker_key(call)
    call.authorize()
    pool = require_pool(call.state, key[0])
    now = call.state.now()
    if parse_date(call.body["expires"]) < now:
        raise InputError("worker.expires must be in the future")
    if pool.provider_id != STATIC_PROVIDER:
        raise InputError(f"provider {pool.provider_id} does not support creating workers")
    static_secret = call.body.get("providerInfo", {}).get("staticSecret")
    if not static_secret:
        raise InputError("no worker staticSecret provided")
    stamp = format_date(now)
    worker = WorkerRow(
        *key,
        provider_id=pool.provider_id,
        created=stamp,
        expires=format_date(parse_date(call.body["expires"])),
        last_modified=stamp,
        last_checked=stamp,
        state="running",
        capacity=int(call.body.get("capacity", 1)),
        static_secret_digest=digest(static_secret),
        secret_digest=None,
    )
    with transaction(call.state.db):
        if not rows.insert_worker(call.state.db, worker):
            existing = require_worker(call.state, key)
            if (existing.provider_id, existing.static_secret_digest) != (
                pool.provider_id,
                digest(static_secret),
            ):
                raise RequestConflict("Worker already exists")
            worker = existing
    return worker_json(worker)


async def get_worker(call: ApiCall) -> Any:
    key = worker_key(call)
    call.authorize()
    return worker_json(require_worker(call.state, key))


async def list_workers_for_worker_pool(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize()
    require_pool(call.state, worker_pool_id)
    state = state_filter(call.query)
    limit, offset = checks.page(call.query)
    page = rows.worker_page(call.state.db, worker_pool_id, state, limit, offset)
    return {
        "workers": [worker_json(worker) for worker in page],
        **checks.next_token(offset, limit, len(page)),
    }


async def remove_worker(call: ApiCall) -> Any:
    key = worker_key(call)
    call.authorize()
    with transaction(call.state.db):
        require_worker(call.state, key)
        rows.set_state(call.state.db, key, "stopped", format_date(call.state.now()))
    return {}


def termination_reason(state: QueueState, worker: WorkerRow) -> str | None:
    """Why the worker should stop, or None when it should keep working."""
    if worker.state != "running":
        return f"worker is {worker.state}"
    if worker.expires < format_date(state.now()):
        return "worker has expired"
    pool = rows.load_pool(state.db, worker.worker_pool_id)
    if pool is None or pool.provider_id == NULL_PROVIDER:
        return "worker pool was deleted"
    return None


async def should_worker_terminate(call: ApiCall) -> Any:
    key = worker_key(call)
    call.authorize()
    worker = require_worker(call.state, key)
    with transaction(call.state.db):
        rows.touch_checked(call.state.db, key, format_date(call.state.now()))
    reason = termination_reason(call.state, worker)
    return {"terminate": reason is not None, "reason": reason or "none"}


HANDLERS: dict[str, Handler] = {
    "createWorker": create_worker,
    "worker": get_worker,
    "listWorkersForWorkerPool": list_workers_for_worker_pool,
    "removeWorker": remove_worker,
    "shouldWorkerTerminate": should_worker_terminate,
}
