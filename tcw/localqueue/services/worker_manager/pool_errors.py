"""The errors workers report (reportWorkerError, or worker-runner forwarding an ``error-report``) and their
list: public, for the pool's administrators, so a worker must never put a secret in one."""

from __future__ import annotations

from typing import Any

from tcw.localqueue.core import checks
from tcw.localqueue.core.dates import format_date
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.worker_manager.pools import require_pool
from tcw.localqueue.services.worker_manager.rules import check_worker_pool_id
from tcw.localqueue.storage import worker_pools as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.worker_pools import ErrorRow


def error_json(error: ErrorRow) -> dict[str, Any]:
    return {
        "workerPoolId": error.worker_pool_id,
        "errorId": error.error_id,
        "reported": error.reported,
        "kind": error.kind,
        "title": error.title,
        "description": error.description,
        "extra": error.extra,
    }


async def report_worker_error(call: ApiCall) -> Any:
    import taskcluster  # for slugId; here so that importing the service stays light

    worker_pool_id = check_worker_pool_id(call.params)
    body = call.body
    call.authorize(workerGroup=body["workerGroup"], workerId=body["workerId"])
    require_pool(call.state, worker_pool_id)
    error = ErrorRow(
        error_id=taskcluster.slugId(),
        worker_pool_id=worker_pool_id,
        reported=format_date(call.state.now()),
        kind=body["kind"],
        title=body["title"],
        description=body["description"],
        extra={**body["extra"], "workerGroup": body["workerGroup"], "workerId": body["workerId"]},
    )
    with transaction(call.state.db):
        rows.insert_error(call.state.db, error)
    return error_json(error)


async def list_worker_pool_errors(call: ApiCall) -> Any:
    worker_pool_id = check_worker_pool_id(call.params)
    call.authorize()
    limit, offset = checks.page(call.query)
    page = rows.error_page(call.state.db, worker_pool_id, call.query.get("errorId"), limit, offset)
    return {
        "workerPoolErrors": [error_json(error) for error in page],
        **checks.next_token(offset, limit, len(page)),
    }


HANDLERS: dict[str, Handler] = {
    "reportWorkerError": report_worker_error,
    "listWorkerPoolErrors": list_worker_pool_errors,
}
