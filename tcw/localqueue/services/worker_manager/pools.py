"""Worker pools: create, update, delete (hand to the null provider), read and list them, with the counts
and capacities of their workers by state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tcw.localqueue.core import checks
from tcw.localqueue.core.dates import format_date
from tcw.localqueue.core.errors import InputError, RequestConflict, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.services.worker_manager.rules import (
    NULL_PROVIDER,
    check_provider_config,
    check_worker_pool_id,
)
from tcw.localqueue.storage import worker_pools as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.worker_pools import PoolRow

_STATES = ("requested", "running", "stopping", "stopped")


def pool_json(state: QueueState, pool: PoolRow) -> dict[str, Any]:
    counts = rows.pool_counts(state.db, pool.worker_pool_id)
    by_state: dict[str, Any] = {}
    for name in _STATES:
        count, capacity = counts.get(name, (0, 0))
        by_state[f"{name}Count"] = count
        by_state[f"{name}Capacity"] = capacity
    return {
        "workerPoolId": pool.worker_pool_id,
        "providerId": pool.provider_id,
        "description": pool.description,
        "config": pool.config,
        "owner": pool.owner,
        "emailOnError": pool.email_on_error,
        "created": pool.created,
        "lastModified": pool.last_modified,
        "currentCapacity": by_state["requestedCapacity"] + by_state["runningCapacity"],
        **by_state,
    }


def require_pool(state: QueueState, worker_pool_id: str) -> PoolRow:
    pool = rows.load_pool(state.db, worker_pool_id)
    if pool is None:
        raise ResourceNotFound(f"Worker pool {worker_pool_id} does not exist")
    return pool


def _pool_from_body(worker_pool_id: str, body: dict[str, Any], created: str, now: str) -> PoolRow:
    return PoolRow(
        worker_pool_id=worker_pool_id,
        provider_id=body["providerId"],
        previous_provider_ids=[],
        description=body["description"],
        config=body["config"],
        owner=body["owner"],
        email_on_error=body["emailOnError"],
        created=created,
        last_modified=now,
    )


async def create_worker_pool(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize(providerId=call.body["providerId"])
    check_provider_config(call.body["providerId"], call.body["config"])
    now = format_date(call.state.now())
    pool = _pool_from_body(worker_pool_id, call.body, now, now)
    with transaction(call.state.db):
        if not rows.insert_pool(call.state.db, pool):
            raise RequestConflict("Worker pool already exists")
    return pool_json(call.state, pool)


def _replace_provider(state: QueueState, old: PoolRow, new: PoolRow) -> PoolRow:
    """``new`` keeps ``old``'s creation time and remembers the providers it had (their workers may still
    register until they stop)."""
    previous = list(old.previous_provider_ids)
    if old.provider_id != new.provider_id and old.provider_id not in previous:
        previous.append(old.provider_id)
    updated = replace(new, created=old.created, previous_provider_ids=previous)
    rows.replace_pool(state.db, updated)
    return updated


async def update_worker_pool(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize(providerId=call.body["providerId"])
    check_provider_config(call.body["providerId"], call.body["config"])
    if call.body.get("workerPoolId", worker_pool_id) != worker_pool_id:
        raise InputError("Incorrect workerPoolId in request body")
    now = format_date(call.state.now())
    with transaction(call.state.db):
        old = require_pool(call.state, worker_pool_id)
        updated = _replace_provider(call.state, old, _pool_from_body(worker_pool_id, call.body, now, now))
    return pool_json(call.state, updated)


async def delete_worker_pool(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize()
    now = format_date(call.state.now())
    with transaction(call.state.db):
        old = require_pool(call.state, worker_pool_id)
        deleted = replace(old, provider_id=NULL_PROVIDER, last_modified=now)
        updated = _replace_provider(call.state, old, deleted)
    return pool_json(call.state, updated)


async def worker_pool(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize()
    return pool_json(call.state, require_pool(call.state, worker_pool_id))


async def list_worker_pools(call: ApiCall) -> Any:
    call.authorize()
    limit, offset = checks.page(call.query)
    page = rows.pool_page(call.state.db, limit, offset)
    return {
        "workerPools": [pool_json(call.state, pool) for pool in page],
        **checks.next_token(offset, limit, len(page)),
    }


HANDLERS: dict[str, Handler] = {
    "createWorkerPool": create_worker_pool,
    "updateWorkerPool": update_worker_pool,
    "deleteWorkerPool": delete_worker_pool,
    "workerPool": worker_pool,
    "listWorkerPools": list_worker_pools,
}
