"""The local worker-manager: its route and scope tables against the official reference, every served
method called through the official ``WorkerManager`` client with requests and answers validated against
the official schemas, and the static provider's rules (the secret, single-use reregistration secrets,
the credentials' scopes, removal, termination advice)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
import taskcluster

from tcw.localqueue import deployment
from tcw.localqueue.core.dates import parse_date
from tcw.localqueue.http.routes import service_routes
from tcw.localqueue.server import LocalQueue
from tcw.localqueue.services.worker_manager.scopes import SCOPES
from tests.localqueue.test_conformance import Checked
from tests.support.localqueue import api_failure, from_now
from tests.support.references import References
from tests.support.tasks import task_definition

POOL_ID = "tcw-pool/static-worker"
GROUP, WORKER_ID = "local", "host-1"
SERVICE = "worker-manager"


def pool_body(**config: Any) -> dict[str, Any]:
    return {
        "providerId": "static",
        "description": "hosts in the rack",
        "config": {"workerConfig": {"genericWorker": {"config": {"tcw": {"idle_timeout": 60}}}}, **config},
        "owner": "ops@example.com",
        "emailOnError": False,
    }


def new_secret() -> str:
    return secrets.token_urlsafe(33)


def register_body(static_secret: str, worker_id: str = WORKER_ID) -> dict[str, Any]:
    return {
        "workerPoolId": POOL_ID,
        "providerId": "static",
        "workerGroup": GROUP,
        "workerId": worker_id,
        "workerIdentityProof": {"staticSecret": static_secret},
    }


@pytest.fixture
def manager(local_queue: LocalQueue) -> Any:
    return taskcluster.WorkerManager(local_queue.client_options())


@pytest.fixture
def static_worker(manager: Any) -> str:
    """A pool with one static worker; returns the worker's staticSecret."""
    manager.createWorkerPool(POOL_ID, pool_body())
    static_secret = new_secret()
    body = {"expires": from_now(days=1), "providerInfo": {"staticSecret": static_secret}}
    manager.createWorker(POOL_ID, GROUP, WORKER_ID, body)
    return static_secret


@pytest.mark.conformance
def test_route_table_matches_the_reference(references: References) -> None:
    reference = references.api(SERVICE)
    table = service_routes(SERVICE).routes
    for name in deployment.all_handlers()[SERVICE]:
        assert table[name].method == reference[name]["method"].upper(), name
        assert table[name].pattern == reference[name]["route"], name
        assert table[name].output_schema == reference[name].get("output"), name
        assert table[name].input_schema == reference[name].get("input"), name


@pytest.mark.conformance
def test_scope_table_matches_the_reference(references: References) -> None:
    reference = references.api(SERVICE)
    assert {name: reference[name].get("scopes") for name in SCOPES} == SCOPES


@pytest.mark.conformance
def test_every_served_method_conforms(references: References, local_queue: LocalQueue) -> None:
    """Fails when a served method has no conformance call here: add one with the method."""
    admin = Checked(references, SERVICE, taskcluster.WorkerManager(local_queue.client_options()), set())
    for name in ("ping", "lbheartbeat", "heartbeat", "version"):
        admin(name)
    admin("createWorkerPool", POOL_ID, pool_body(lifecycle={"reregistrationTimeout": 3600}))
    admin("updateWorkerPool", POOL_ID, {**pool_body(), "description": "updated"})
    assert admin("workerPool", POOL_ID)["description"] == "updated"
    assert [pool["workerPoolId"] for pool in admin("listWorkerPools")["workerPools"]] == [POOL_ID]
    static_secret = new_secret()
    body = {"expires": from_now(days=1), "capacity": 2, "providerInfo": {"staticSecret": static_secret}}
    assert admin("createWorker", POOL_ID, GROUP, WORKER_ID, body)["state"] == "running"
    assert admin("worker", POOL_ID, GROUP, WORKER_ID)["capacity"] == 2

    registered = admin("registerWorker", register_body(static_secret))
    as_worker = admin.as_client(
        taskcluster.WorkerManager(local_queue.client_options(registered["credentials"]))
    )
    again = {
        "workerPoolId": POOL_ID,
        "workerGroup": GROUP,
        "workerId": WORKER_ID,
        "secret": registered["secret"],
    }
    renewed = as_worker("reregisterWorker", again)
    assert renewed["secret"] != registered["secret"]
    assert as_worker("shouldWorkerTerminate", POOL_ID, GROUP, WORKER_ID) == {
        "terminate": False,
        "reason": "none",
    }
    error = {"workerGroup": GROUP, "workerId": WORKER_ID, "kind": "config", "title": "t", "description": "d"}
    reported = as_worker("reportWorkerError", POOL_ID, {**error, "extra": {"key": "k"}})
    assert reported["extra"] == {"key": "k", "workerGroup": GROUP, "workerId": WORKER_ID}
    assert admin("listWorkerPoolErrors", POOL_ID)["workerPoolErrors"] == [reported]
    assert [w["workerId"] for w in admin("listWorkersForWorkerPool", POOL_ID)["workers"]] == [WORKER_ID]
    as_worker("removeWorker", POOL_ID, GROUP, WORKER_ID)
    assert (
        admin("listWorkersForWorkerPool", POOL_ID, query={"state": "stopped"})["workers"][0]["state"]
        == "stopped"
    )
    assert admin("deleteWorkerPool", POOL_ID)["providerId"] == "null-provider"
    assert admin.called == {(SERVICE, name) for name in deployment.all_handlers()[SERVICE]}


def test_the_counts_follow_the_workers(manager: Any, static_worker: str) -> None:
    pool = manager.workerPool(POOL_ID)
    assert (pool["runningCount"], pool["runningCapacity"], pool["currentCapacity"]) == (1, 1, 1)
    manager.removeWorker(POOL_ID, GROUP, WORKER_ID)
    pool = manager.workerPool(POOL_ID)
    assert (pool["runningCount"], pool["stoppedCount"], pool["currentCapacity"]) == (0, 1, 0)


def test_registered_credentials_claim_from_the_pool_queue_only(
    local_queue: LocalQueue, manager: Any, static_worker: str
) -> None:
    registered = manager.registerWorker(register_body(static_worker))
    assert registered["credentials"]["clientId"] == f"worker/static/{POOL_ID}/{GROUP}/{WORKER_ID}"
    assert registered["workerConfig"] == pool_body()["config"]["workerConfig"]
    queue = taskcluster.Queue(local_queue.client_options())
    task_id = taskcluster.slugId()
    queue.createTask(task_id, task_definition(POOL_ID))
    as_worker = taskcluster.Queue(local_queue.client_options(registered["credentials"]))
    claimed = as_worker.claimWork(POOL_ID, {"workerGroup": GROUP, "workerId": WORKER_ID, "tasks": 1})
    assert [claim["status"]["taskId"] for claim in claimed["tasks"]] == [task_id]
    refused = api_failure(
        as_worker.claimWork, "other-pool/worker", {"workerGroup": GROUP, "workerId": WORKER_ID, "tasks": 1}
    )
    assert refused.status_code == 403
    other_worker = {"workerGroup": GROUP, "workerId": "host-2", "tasks": 1}
    assert api_failure(as_worker.claimWork, POOL_ID, other_worker).status_code == 403


def test_a_wrong_static_secret_is_refused(manager: Any, static_worker: str) -> None:
    refused = api_failure(manager.registerWorker, register_body(new_secret()))
    assert (refused.status_code, refused.body["code"]) == (400, "InputError")
    assert "bad staticSecret" in refused.body["message"]
    assert static_worker not in str(refused.body)


def test_an_unknown_worker_or_pool_is_not_found(manager: Any, static_worker: str) -> None:
    assert api_failure(manager.registerWorker, register_body(static_worker, "host-9")).status_code == 404
    assert api_failure(manager.workerPool, "nope/nope").status_code == 404
    assert api_failure(manager.worker, POOL_ID, GROUP, "host-9").status_code == 404


def test_a_reregistration_secret_works_once(
    local_queue: LocalQueue, manager: Any, static_worker: str
) -> None:
    registered = manager.registerWorker(register_body(static_worker))
    as_worker = taskcluster.WorkerManager(local_queue.client_options(registered["credentials"]))
    body = {
        "workerPoolId": POOL_ID,
        "workerGroup": GROUP,
        "workerId": WORKER_ID,
        "secret": registered["secret"],
    }
    as_worker.reregisterWorker(body)
    replayed = api_failure(as_worker.reregisterWorker, body)
    assert (replayed.status_code, replayed.body["message"]) == (
        400,
        "Could not generate credentials for this secret",
    )


def test_reregistration_needs_the_worker_s_own_credentials(
    local_queue: LocalQueue, manager: Any, static_worker: str
) -> None:
    registered = manager.registerWorker(register_body(static_worker))
    stranger = local_queue.add_client("stranger", ["queue:*"])
    as_stranger = taskcluster.WorkerManager(local_queue.client_options(stranger))
    body = {
        "workerPoolId": POOL_ID,
        "workerGroup": GROUP,
        "workerId": WORKER_ID,
        "secret": registered["secret"],
    }
    assert api_failure(as_stranger.reregisterWorker, body).status_code == 403


def test_the_credentials_last_the_pool_s_reregistration_timeout(manager: Any) -> None:
    manager.createWorkerPool(POOL_ID, pool_body(lifecycle={"reregistrationTimeout": 60}))
    static_secret = new_secret()
    manager.createWorker(
        POOL_ID,
        GROUP,
        WORKER_ID,
        {"expires": from_now(days=1), "providerInfo": {"staticSecret": static_secret}},
    )
    registered = manager.registerWorker(register_body(static_secret))
    lifetime = parse_date(registered["expires"]) - datetime.now(UTC)
    assert 50 < lifetime.total_seconds() <= 60


def test_a_removed_worker_is_told_to_terminate_and_cannot_register(manager: Any, static_worker: str) -> None:
    manager.removeWorker(POOL_ID, GROUP, WORKER_ID)
    assert manager.shouldWorkerTerminate(POOL_ID, GROUP, WORKER_ID) == {
        "terminate": True,
        "reason": "worker is stopped",
    }
    assert api_failure(manager.registerWorker, register_body(static_worker)).status_code == 400


def test_deleting_the_pool_tells_its_workers_to_terminate(manager: Any, static_worker: str) -> None:
    manager.deleteWorkerPool(POOL_ID)
    decision = manager.shouldWorkerTerminate(POOL_ID, GROUP, WORKER_ID)
    assert decision == {"terminate": True, "reason": "worker pool was deleted"}


def test_bad_pools_and_workers_are_refused(manager: Any) -> None:
    unknown_provider = api_failure(manager.createWorkerPool, POOL_ID, {**pool_body(), "providerId": "aws"})
    assert (unknown_provider.status_code, unknown_provider.body["code"]) == (400, "InputError")
    bad_config = api_failure(manager.createWorkerPool, POOL_ID, pool_body(minCapacity=1))
    assert (bad_config.status_code, bad_config.body["code"]) == (400, "InputValidationError")
    manager.createWorkerPool(POOL_ID, pool_body())
    assert api_failure(manager.createWorkerPool, POOL_ID, pool_body()).status_code == 409
    no_secret = api_failure(manager.createWorker, POOL_ID, GROUP, WORKER_ID, {"expires": from_now(days=1)})
    assert "staticSecret" in no_secret.body["message"]
    past = {"expires": from_now(days=-1), "providerInfo": {"staticSecret": new_secret()}}
    assert "future" in api_failure(manager.createWorker, POOL_ID, GROUP, WORKER_ID, past).body["message"]
    bad_id = api_failure(manager.workerPool, "no-slash-here")
    assert (bad_id.status_code, bad_id.body["code"]) == (400, "InvalidRequestArguments")
