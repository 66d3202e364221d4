"""Conformance with the official references (../shared/taskcluster/references.json): the route table, and
every served queue, object and secrets method called through the official client, with its request body
validated against the official input schema and its JSON answer against the official output schema."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
import taskcluster

from tcw.localqueue import deployment
from tcw.localqueue.http.routes import service_routes
from tcw.localqueue.server import LocalQueue
from tests.localqueue.test_secrets_service import exercise_secrets
from tests.support.localqueue import from_now
from tests.support.references import References
from tests.support.tasks import task_definition

pytestmark = pytest.mark.conformance

QUEUE_ID = "tcw-conformance/worker"
ARTIFACT_QUEUE_ID = "tcw-conformance/artifacts"
WORKER = {"workerGroup": "group", "workerId": "worker"}


@pytest.mark.parametrize("service", ["queue", "object"])
def test_route_table_matches_the_reference(references: References, service: str) -> None:
    reference = references.api(service)
    table = service_routes(service).routes
    served = set(deployment.all_handlers()[service])
    assert served <= set(table), served - set(table)
    for name in served:
        assert name in reference, f"{name} is not in the official {service} reference"
        assert table[name].method == reference[name]["method"].upper(), name
        assert table[name].pattern == reference[name]["route"], name
        assert table[name].output_schema == reference[name].get("output"), name
        assert table[name].input_schema == reference[name].get("input"), name


class Checked:
    """Calls one service through the official client, validates each request body and each JSON answer with
    the official schemas, and records ``(service, method)`` in ``called`` (shared with as_client twins)."""

    def __init__(
        self, references: References, service: str, client: Any, called: set[tuple[str, str]]
    ) -> None:
        self.references, self.service, self.client, self.called = references, service, client, called

    def as_client(self, client: Any, service: str | None = None) -> Checked:
        return Checked(self.references, service or self.service, client, self.called)

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        info = service_routes(self.service).routes[name]
        if info.input_schema:
            self.references.validate(self.service, info.input_schema, args[len(info.params)])
        result = getattr(self.client, name)(*args, **kwargs)
        if info.output_schema:
            self.references.validate(self.service, info.output_schema, result)
        self.called.add((self.service, name))
        return result


@pytest.fixture
def checked(references: References, queue_client: Any) -> Checked:
    return Checked(references, "queue", queue_client, set())


def test_every_served_method_conforms(checked: Checked, local_queue: LocalQueue) -> None:
    """Fails when a served method has no conformance call here: add one with the method."""
    exercise_tasks_and_claims(checked, local_queue)
    exercise_workers(checked)
    exercise_artifacts(checked, local_queue)
    object_service = checked.as_client(taskcluster.Object(local_queue.client_options()), "object")
    exercise_objects(object_service)
    exercise_secrets(checked.as_client(taskcluster.Secrets(local_queue.client_options()), "secrets"))
    for name in ("ping", "lbheartbeat", "heartbeat", "version"):
        checked(name)
        object_service(name)
    served = {
        (service, name)
        for service, handlers in deployment.all_handlers().items()
        if service != "worker-manager"  # it has its own conformance module, test_worker_manager.py
        for name in handlers
    }
    assert checked.called == served, {"not exercised": served - checked.called}


def exercise_tasks_and_claims(checked: Checked, local_queue: LocalQueue) -> None:
    call: Callable[..., Any] = checked
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


def exercise_workers(call: Callable[..., Any]) -> None:
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


def exercise_artifacts(checked: Checked, local_queue: LocalQueue) -> None:
    """Every storage type created with the run's credentials (an object one uploaded through the object
    service with the credentials createArtifact hands out), then every read."""
    task_id = taskcluster.slugId()
    checked("createTask", task_id, task_definition(ARTIFACT_QUEUE_ID, expires=from_now(days=2)))
    claim = checked("claimWork", ARTIFACT_QUEUE_ID, {**WORKER, "tasks": 1})["tasks"][0]
    as_task = checked.as_client(taskcluster.Queue(local_queue.client_options(claim["credentials"])))
    expires = from_now(days=1)
    s3 = {"storageType": "s3", "contentType": "text/plain", "contentLength": 5, "expires": expires}
    put_url = as_task("createArtifact", task_id, "0", "public/log.txt", s3)["putUrl"]
    put = requests.put(put_url, data=b"hello", headers={"Content-Type": "text/plain"}, timeout=30)
    assert put.status_code == 200
    for name, body in (
        (
            "public/ref",
            {"storageType": "reference", "url": "https://example.com/x", "contentType": "text/html"},
        ),
        ("public/link", {"storageType": "link", "artifact": "public/log.txt"}),
        ("public/error", {"storageType": "error", "reason": "file-missing-on-worker", "message": "gone"}),
    ):
        as_task("createArtifact", task_id, "0", name, {**body, "expires": expires})
    object_body = {"storageType": "object", "contentType": "application/octet-stream", "expires": expires}
    upload = as_task("createArtifact", task_id, "0", "public/data.bin", object_body)
    uploader_options = {"rootUrl": local_queue.root_url, "credentials": upload["credentials"]}
    uploader = checked.as_client(taskcluster.Object(uploader_options), "object")
    data = b"object bytes"
    ids = {"projectId": upload["projectId"], "uploadId": upload["uploadId"]}
    inline = {"contentType": "application/octet-stream", "objectData": base64.b64encode(data).decode()}
    methods = {"dataInline": inline}
    uploader(
        "createUpload",
        upload["name"],
        {**ids, "expires": upload["expires"], "proposedUploadMethods": methods},
    )
    uploader("finishUpload", upload["name"], {**ids, "hashes": {"sha256": hashlib.sha256(data).hexdigest()}})
    as_task("finishArtifact", task_id, "0", "public/data.bin", {"uploadId": upload["uploadId"]})

    assert checked("getArtifact", task_id, "0", "public/log.txt")["storageType"] == "s3"
    assert checked("getLatestArtifact", task_id, "public/link")["storageType"] == "s3"
    assert checked("artifact", task_id, "0", "public/data.bin")["storageType"] == "object"
    assert checked("latestArtifact", task_id, "public/error")["storageType"] == "error"
    assert checked("artifactInfo", task_id, "0", "public/ref")["storageType"] == "reference"
    assert checked("latestArtifactInfo", task_id, "public/data.bin")["name"] == "public/data.bin"
    assert "continuationToken" in checked("listArtifacts", task_id, "0", query={"limit": "2"})
    assert len(checked("listLatestArtifacts", task_id)["artifacts"]) == 5


def exercise_objects(call: Callable[..., Any]) -> None:
    """A putUrl upload finished with both hashes, then every way to read it."""
    name, data, upload_id = "tcw/conformance.bin", b"x" * 1000, taskcluster.slugId()
    ids = {"projectId": "tcw-conformance", "uploadId": upload_id}
    methods = {"putUrl": {"contentType": "application/octet-stream", "contentLength": len(data)}}
    body = {**ids, "expires": from_now(hours=1), "proposedUploadMethods": methods}
    put_url = call("createUpload", name, body)["uploadMethod"]["putUrl"]
    assert requests.put(put_url["url"], data=data, headers=put_url["headers"], timeout=30).status_code == 200
    hashes = {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}
    call("finishUpload", name, {**ids, "hashes": hashes})
    assert call("startDownload", name, {"acceptDownloadMethods": {"simple": True}})["method"] == "simple"
    assert call("startDownload", name, {"acceptDownloadMethods": {"getUrl": True}})["hashes"] == hashes
    assert call("object", name)["hashes"] == hashes
    assert call("download", name)["response"].status_code == 303
