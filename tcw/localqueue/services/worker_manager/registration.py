"""registerWorker and reregisterWorker: a static worker proves itself with its ``staticSecret`` and gets
its own temporary credentials (auth/clients.issue_worker_credentials) until the pool's
``lifecycle.reregistrationTimeout`` (default 4 days) and a single-use secret; before they expire it trades
that secret, with those credentials, for new ones.

As in worker-manager, every refusal of a reregistration says the same thing, so a caller learns nothing
about which part was wrong. One deviation, for pools whose workers re-register on a short timeout: a
static worker's reregistration lasts the pool's reregistrationTimeout too (worker-manager gives static
workers 4 days there whatever the pool says).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from tcw.localqueue.auth.clients import issue_worker_credentials
from tcw.localqueue.core.dates import format_date
from tcw.localqueue.core.errors import InputError, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.services.worker_manager.pools import require_pool
from tcw.localqueue.services.worker_manager.rules import STATIC_PROVIDER
from tcw.localqueue.services.worker_manager.workers import digest
from tcw.localqueue.storage import worker_pools as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.worker_pools import PoolRow, WorkerRow

DEFAULT_REREGISTRATION_TIMEOUT = 345_600  # seconds: worker-manager's default, 4 days
_REFUSED = "Could not generate credentials for this secret"


def _lifetime(pool: PoolRow) -> timedelta:
    lifecycle = pool.config.get("lifecycle") or {}
    return timedelta(seconds=lifecycle.get("reregistrationTimeout") or DEFAULT_REREGISTRATION_TIMEOUT)


def _same(secret: str, stored_digest: str | None) -> bool:
    return stored_digest is not None and hmac.compare_digest(digest(secret), stored_digest)


def _credentials(state: QueueState, worker: WorkerRow, pool: PoolRow) -> dict[str, Any]:
    """Fresh credentials and a fresh single-use secret, whose digest replaces the worker's last one."""
    now = state.now()
    expires = now + _lifetime(pool)
    secret = secrets.token_urlsafe(33)  # 44 characters of [a-zA-Z0-9_-]
    rows.set_secret(state.db, worker.key, digest(secret), format_date(now))
    credentials = issue_worker_credentials(
        state.issuer,
        provider_id=worker.provider_id,
        worker_pool_id=worker.worker_pool_id,
        worker_group=worker.worker_group,
        worker_id=worker.worker_id,
        expires=expires,
        now=now,
    )
    return {"expires": format_date(expires), "credentials": credentials, "secret": secret}


async def register_worker(call: ApiCall) -> Any:
    call.authorize()
    body = call.body
    pool = require_pool(call.state, body["workerPoolId"])
    provider_id = body["providerId"]
    if provider_id != STATIC_PROVIDER:
        raise ResourceNotFound(f"Provider {provider_id} does not exist")
    if provider_id != pool.provider_id and provider_id not in pool.previous_provider_ids:
        raise InputError(f"Worker pool {pool.worker_pool_id} not associated with provider {provider_id}")
    key = (body["workerPoolId"], body["workerGroup"], body["workerId"])
    worker = rows.load_worker(call.state.db, key)
    if worker is None:
        raise ResourceNotFound(
            f"Worker {key[1]}/{key[2]} in worker pool {pool.worker_pool_id} does not exist"
        )
    if worker.expires < format_date(call.state.now()):
        raise InputError(f"Worker {key[1]}/{key[2]} has expired")
    if worker.provider_id != provider_id:
        raise InputError(f"Worker {key[1]}/{key[2]} does not have provider {provider_id}")
    if worker.state != "running":
        raise InputError("worker is not running")
    static_secret = body["workerIdentityProof"].get("staticSecret")
    if not static_secret:
        raise InputError("missing staticSecret in workerIdentityProof")
    if not _same(static_secret, worker.static_secret_digest):
        raise InputError("bad staticSecret in workerIdentityProof")
    with transaction(call.state.db):
        answer = _credentials(call.state, worker, pool)
    return {**answer, "workerConfig": pool.config.get("workerConfig") or {}}


async def reregister_worker(call: ApiCall) -> Any:
    body = call.body
    call.authorize(
        workerPoolId=body["workerPoolId"], workerGroup=body["workerGroup"], workerId=body["workerId"]
    )
    key = (body["workerPoolId"], body["workerGroup"], body["workerId"])
    worker = rows.load_worker(call.state.db, key)
    if worker is None or not _same(body["secret"], worker.secret_digest):
        raise InputError(_REFUSED)
    if worker.state != "running":
        raise InputError(f"Worker {key[1]}/{key[2]} is not running")
    if worker.expires < format_date(call.state.now()):
        raise InputError(f"Worker {key[1]}/{key[2]} has expired")
    with transaction(call.state.db):
        return _credentials(call.state, worker, require_pool(call.state, key[0]))


HANDLERS: dict[str, Handler] = {"registerWorker": register_worker, "reregisterWorker": reregister_worker}
