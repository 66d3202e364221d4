"""Queue artifacts through the official client, created with a claimed run's task credentials.

Each storage type is created and read back (bytes and headers), the official upload/download helpers work
unchanged against the local queue, and createArtifact's checks, order and re-creation rules are the real
queue's. Every JSON answer is checked against the official schema when ../shared is present.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import taskcluster
import taskcluster.aio
import taskcluster.aio.download
import taskcluster.aio.upload
import taskcluster.download
import taskcluster.upload
from taskcluster.exceptions import TaskclusterArtifactError

from tcw.localqueue.storage import artifacts, objects, schema
from tests.support.localqueue import api_failure, from_now
from tests.support.references import SchemaCheck
from tests.support.tasks import task_definition
from tests.support.waiting import wait_for

TASK_QUEUE = "tcw-test/artifacts"


@dataclass
class ClaimedRun:
    """A task claimed by a test worker: its ids, the root client and a client with the run's credentials."""

    task_id: str
    run_id: int
    root: Any
    task_queue: Any
    options: dict[str, Any]

    def create(self, name: str, **body: Any) -> dict[str, Any]:
        body.setdefault("expires", from_now(days=1))
        reply: dict[str, Any] = self.task_queue.createArtifact(self.task_id, self.run_id, name, body)
        return reply


def create_task(root: Any) -> str:
    task_id: str = taskcluster.slugId()
    root.createTask(task_id, task_definition(TASK_QUEUE, expires=from_now(days=2)))
    return task_id


def claim(local_queue: Any, root: Any, task_id: str) -> ClaimedRun:
    claims = root.claimWork(TASK_QUEUE, {"workerGroup": "tests", "workerId": "w1", "tasks": 1})["tasks"]
    assert claims and claims[0]["status"]["taskId"] == task_id
    options = local_queue.client_options(claims[0]["credentials"])
    return ClaimedRun(task_id, claims[0]["runId"], root, taskcluster.Queue(options), options)


# What deployments give their anonymous role so that public artifacts (logs...) read without credentials;
# the local queue's anonymous role has no scopes unless given some, as a fresh deployment's.
PUBLIC_ARTIFACTS = ("queue:get-artifact:public/*",)


@pytest.fixture(autouse=True)
def public_artifacts(local_queue: Any) -> None:
    local_queue.set_anonymous_role(PUBLIC_ARTIFACTS)


@pytest.fixture
def run(local_queue: Any) -> ClaimedRun:
    root = taskcluster.Queue(local_queue.client_options())
    return claim(local_queue, root, create_task(root))


def download(run: ClaimedRun, name: str) -> tuple[bytes, str]:
    buf, content_type = taskcluster.download.downloadArtifactToBuf(
        taskId=run.task_id, runId=run.run_id, name=name, queueService=run.root
    )
    return bytes(buf), content_type


def test_s3_artifact_keeps_content_type_and_gzip_encoding(run: ClaimedRun, check_schema: SchemaCheck) -> None:
    text = b"line one\nline two\n" * 1000
    reply = run.create("public/logs/live_backing.log", storageType="s3", contentType="text/plain")
    check_schema("queue", "v1/post-artifact-response.json#", reply)
    put = requests.put(
        reply["putUrl"],
        data=gzip.compress(text),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        timeout=30,
    )
    assert put.status_code == 200
    got = run.root.getArtifact(run.task_id, run.run_id, "public/logs/live_backing.log")
    check_schema("queue", "v1/get-artifact-response.json#", got)
    fetched = requests.get(got["url"], timeout=30, stream=True)
    assert fetched.headers["Content-Type"] == "text/plain"
    assert fetched.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(fetched.raw.read(decode_content=False)) == text
    assert download(run, "public/logs/live_backing.log") == (text, "text/plain")
    followed = requests.get(
        run.root.buildUrl("getArtifact", run.task_id, run.run_id, "public/logs/live_backing.log")
    )
    assert followed.history[0].headers["x-taskcluster-artifact-storage-type"] == "s3"
    assert followed.content == text
    content = run.root.artifact(run.task_id, run.run_id, "public/logs/live_backing.log")
    check_schema("queue", "v1/artifact-content-response.json#", content)


def test_s3_put_must_carry_the_declared_content_type(run: ClaimedRun) -> None:
    reply = run.create("public/x.json", storageType="s3", contentType="application/json")
    wrong = requests.put(reply["putUrl"], data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30)
    assert wrong.status_code == 403
    chunked = requests.put(
        reply["putUrl"], data=iter([b"{", b"}"]), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert chunked.status_code == 411  # S3 wants a Content-Length too


@pytest.mark.parametrize("size", [1000, 70_000])
def test_object_artifact_with_the_official_helpers(
    run: ClaimedRun, check_schema: SchemaCheck, size: int
) -> None:
    data = os.urandom(size)
    reply = run.create("public/build/target.bin", storageType="object", contentType="application/x-tcw")
    check_schema("queue", "v1/post-artifact-response.json#", reply)
    assert reply["name"] == f"t/{run.task_id}/{run.run_id}/public/build/target.bin"
    assert (
        api_failure(run.root.getArtifact, run.task_id, run.run_id, "public/build/target.bin").status_code
        == 404
    )
    object_service = taskcluster.Object(
        {"rootUrl": run.options["rootUrl"], "credentials": reply["credentials"]}
    )
    taskcluster.upload.uploadFromBuf(
        projectId=reply["projectId"],
        name=reply["name"],
        contentType="application/x-tcw",
        contentLength=size,
        expires=reply["expires"],
        uploadId=reply["uploadId"],
        objectService=object_service,
        data=data,
    )
    assert (
        run.task_queue.finishArtifact(
            run.task_id, run.run_id, "public/build/target.bin", {"uploadId": reply["uploadId"]}
        )
        is None
    )
    assert (
        run.task_queue.finishArtifact(
            run.task_id, run.run_id, "public/build/target.bin", {"uploadId": reply["uploadId"]}
        )
        is None
    )
    assert download(run, "public/build/target.bin") == (data, "application/x-tcw")
    check_schema(
        "queue",
        "v1/artifact-content-response.json#",
        run.root.artifact(run.task_id, run.run_id, "public/build/target.bin"),
    )
    got = run.root.getArtifact(run.task_id, run.run_id, "public/build/target.bin")
    check_schema("queue", "v1/get-artifact-response.json#", got)
    assert requests.get(got["url"], timeout=30).content == data


async def test_object_artifact_with_the_aio_helpers(run: ClaimedRun) -> None:
    data = os.urandom(20_000)
    reply = run.create("private/report.bin", storageType="object", contentType="application/octet-stream")
    async with taskcluster.aio.createSession() as session:
        object_options = {"rootUrl": run.options["rootUrl"], "credentials": reply["credentials"]}
        await taskcluster.aio.upload.uploadFromBuf(
            projectId=reply["projectId"],
            name=reply["name"],
            contentType="application/octet-stream",
            contentLength=len(data),
            expires=reply["expires"],
            uploadId=reply["uploadId"],
            objectService=taskcluster.aio.Object(object_options, session=session),
            data=data,
        )
        task_queue = taskcluster.aio.Queue(run.options, session=session)
        await task_queue.finishArtifact(
            run.task_id, run.run_id, "private/report.bin", {"uploadId": reply["uploadId"]}
        )
        root = taskcluster.aio.Queue(
            {**run.options, "credentials": run.root.options["credentials"]}, session=session
        )
        buf, _ = await taskcluster.aio.download.downloadArtifactToBuf(
            taskId=run.task_id, name="private/report.bin", queueService=root
        )
    assert bytes(buf) == data
    signed = run.root.buildSignedUrl("getArtifact", run.task_id, run.run_id, "private/report.bin")
    assert (await asyncio.to_thread(requests.get, signed, timeout=30)).content == data
    unsigned = run.root.buildUrl("getArtifact", run.task_id, run.run_id, "private/report.bin")
    assert (await asyncio.to_thread(requests.get, unsigned, timeout=30)).status_code == 403


def test_finish_artifact_checks(run: ClaimedRun) -> None:
    reply = run.create("public/obj", storageType="object", contentType="text/plain")

    def finish_status(name: str, upload_id: str) -> int:
        body = {"uploadId": upload_id}
        return int(
            api_failure(run.task_queue.finishArtifact, run.task_id, run.run_id, name, body).status_code
        )

    assert finish_status("public/obj", taskcluster.slugId()) == 400  # not this upload
    assert finish_status("public/obj", reply["uploadId"]) == 400  # nothing uploaded yet
    run.create("public/s3", storageType="s3", contentType="text/plain")
    assert finish_status("public/s3", reply["uploadId"]) == 400  # only object artifacts finish
    assert finish_status("public/none", reply["uploadId"]) == 404


def test_reference_link_and_error_artifacts(run: ClaimedRun, check_schema: SchemaCheck) -> None:
    for reply in (
        run.create(
            "public/ref", storageType="reference", url="https://example.com/a", contentType="text/html"
        ),
        run.create("public/link", storageType="link", artifact="public/ref"),
        run.create(
            "public/err", storageType="error", reason="file-missing-on-worker", message="no such file"
        ),
    ):
        check_schema("queue", "v1/post-artifact-response.json#", reply)
    for name in ("public/ref", "public/link"):
        got = run.root.getArtifact(run.task_id, run.run_id, name)
        check_schema("queue", "v1/get-artifact-response.json#", got)
        assert got == {"storageType": "reference", "url": "https://example.com/a"}
    error = api_failure(run.root.getArtifact, run.task_id, run.run_id, "public/err")
    assert error.status_code == 424
    assert error.body == {"reason": "file-missing-on-worker", "message": "no such file"}
    content = run.root.artifact(run.task_id, run.run_id, "public/err")
    check_schema("queue", "v1/artifact-content-response.json#", content)
    with pytest.raises(TaskclusterArtifactError):  # the sync helper would leak its event loop here
        asyncio.run(
            taskcluster.aio.download.downloadArtifactToBuf(
                taskId=run.task_id,
                runId=run.run_id,
                name="public/err",
                queueService=taskcluster.aio.Queue(run.options),
            )
        )
    check_schema(
        "queue", "v1/artifact-content-response.json#", run.root.latestArtifact(run.task_id, "public/link")
    )


def test_link_cycles_are_input_errors(run: ClaimedRun) -> None:
    run.create("public/a", storageType="link", artifact="public/b")
    run.create("public/b", storageType="link", artifact="public/a")
    failure = api_failure(run.root.getArtifact, run.task_id, run.run_id, "public/a")
    assert failure.status_code == 400
    assert "cycle" in failure.body["message"]


def test_link_needs_the_scope_of_every_name(run: ClaimedRun, local_queue: Any) -> None:
    run.create(
        "private/secret", storageType="reference", url="https://example.com/s", contentType="text/plain"
    )
    run.create("public/door", storageType="link", artifact="private/secret")
    anonymous = taskcluster.Queue({"rootUrl": run.options["rootUrl"]})
    assert api_failure(anonymous.getArtifact, run.task_id, run.run_id, "public/door").status_code == 403
    assert api_failure(anonymous.getArtifact, run.task_id, run.run_id, "private/missing").status_code == 403
    assert api_failure(anonymous.getArtifact, run.task_id, run.run_id, "public/missing").status_code == 404


def test_recreation_rules(run: ClaimedRun) -> None:
    day, later = from_now(days=1), from_now(hours=30)
    run.create("public/s3", storageType="s3", contentType="text/plain", expires=day)
    run.create("public/s3", storageType="s3", contentType="text/plain", expires=later)
    conflicts = [
        ("public/s3", {"storageType": "s3", "contentType": "text/html", "expires": later}),
        ("public/s3", {"storageType": "s3", "contentType": "text/plain", "expires": day}),
        ("public/s3", {"storageType": "reference", "url": "https://e.com", "contentType": "text/plain"}),
    ]
    run.create("public/ref", storageType="reference", url="https://e.com/1", contentType="text/plain")
    run.create("public/ref", storageType="reference", url="https://e.com/2", contentType="text/plain")
    run.create("public/ref", storageType="link", artifact="public/s3")
    conflicts.append(
        ("public/ref", {"storageType": "reference", "url": "https://e.com/3", "contentType": "text/plain"})
    )
    run.create("public/err", storageType="error", reason="file-missing-on-worker", message="one")
    conflicts.append(
        ("public/err", {"storageType": "error", "reason": "file-missing-on-worker", "message": "two"})
    )
    for name, body in conflicts:
        failure = api_failure(run.create, name, **body)
        assert failure.status_code == 409, (name, body)
        assert "Artifact already exists with different properties" in failure.body["message"]
    assert run.root.getArtifact(run.task_id, run.run_id, "public/ref")["storageType"] == "s3"


def test_expiry_checks(run: ClaimedRun) -> None:
    failure = api_failure(
        run.create, "public/old", storageType="s3", contentType="a/b", expires=from_now(minutes=-16)
    )
    assert (failure.status_code, failure.body["message"]) == (400, "Expires must be in the future")
    run.create("public/recent", storageType="s3", contentType="a/b", expires=from_now(minutes=-5))
    expired = api_failure(run.root.getArtifact, run.task_id, run.run_id, "public/recent")
    assert (expired.status_code, expired.body["code"]) == (410, "ResourceExpired")
    failure = api_failure(
        run.create, "public/late", storageType="s3", contentType="a/b", expires=from_now(days=3)
    )
    assert failure.status_code == 400
    assert "after the task expiration" in failure.body["message"]


def test_unknown_task_run_or_unclaimed_run_is_an_input_error(run: ClaimedRun) -> None:
    body = {"storageType": "s3", "contentType": "a/b", "expires": from_now(hours=1)}
    unclaimed = create_task(run.root)
    for task_id, run_id in ((taskcluster.slugId(), 0), (run.task_id, 5), (unclaimed, 0)):
        assert api_failure(run.root.createArtifact, task_id, run_id, "public/x", body).status_code == 400


def test_task_credentials_cover_only_their_run(run: ClaimedRun, local_queue: Any) -> None:
    other = claim(local_queue, run.root, create_task(run.root))
    body = {"storageType": "s3", "contentType": "a/b", "expires": from_now(hours=1)}
    assert (
        api_failure(run.task_queue.createArtifact, other.task_id, other.run_id, "public/x", body).status_code
        == 403
    )


def test_no_artifacts_after_completion_but_allowed_shortly_after_exception(
    run: ClaimedRun, local_queue: Any
) -> None:
    run.task_queue.reportCompleted(run.task_id, run.run_id)
    failure = api_failure(run.create, "public/late", storageType="s3", contentType="a/b")
    assert failure.status_code == 409
    other = claim(local_queue, run.root, create_task(run.root))
    other.task_queue.reportException(other.task_id, other.run_id, {"reason": "malformed-payload"})
    assert (
        other.create("public/logs/live.log", storageType="s3", contentType="text/plain")["storageType"]
        == "s3"
    )


def test_listing_and_info(run: ClaimedRun, check_schema: SchemaCheck) -> None:
    names = [f"public/file-{index}" for index in range(5)]
    for name in names:
        run.create(name, storageType="s3", contentType="text/plain", contentLength=3)
    run.create("public/pending-object", storageType="object", contentType="text/plain")
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = run.root.listArtifacts(run.task_id, run.run_id, query=query)
        check_schema("queue", "v1/list-artifacts-response.json#", page)
        seen += [artifact["name"] for artifact in page["artifacts"]]
        if "continuationToken" not in page:
            break
        query["continuationToken"] = page["continuationToken"]
    assert seen == [*names, "public/pending-object"]  # listed before it is finished, as the real queue does
    latest = run.root.listLatestArtifacts(run.task_id)
    assert [artifact["name"] for artifact in latest["artifacts"]] == seen
    info = run.root.artifactInfo(run.task_id, run.run_id, "public/file-0")
    check_schema("queue", "v1/artifact-response.json#", info)
    assert info["contentLength"] == 3
    assert run.root.latestArtifactInfo(run.task_id, "public/file-1")["name"] == "public/file-1"
    assert (
        api_failure(run.root.artifactInfo, run.task_id, run.run_id, "public/pending-object").status_code
        == 404
    )
    assert api_failure(run.root.listArtifacts, run.task_id, 3).status_code == 404
    assert api_failure(run.root.listLatestArtifacts, taskcluster.slugId()).status_code == 404


def test_public_object_artifact_downloads_without_credentials(run: ClaimedRun) -> None:
    data = b"public bytes"
    reply = run.create("public/small.txt", storageType="object", contentType="text/plain")
    taskcluster.upload.uploadFromBuf(
        projectId=reply["projectId"],
        name=reply["name"],
        contentType="text/plain",
        contentLength=len(data),
        expires=reply["expires"],
        uploadId=reply["uploadId"],
        objectService=taskcluster.Object(
            {"rootUrl": run.options["rootUrl"], "credentials": reply["credentials"]}
        ),
        data=data,
    )
    run.task_queue.finishArtifact(
        run.task_id, run.run_id, "public/small.txt", {"uploadId": reply["uploadId"]}
    )
    anonymous = taskcluster.Queue({"rootUrl": run.options["rootUrl"]})
    buf, content_type = taskcluster.download.downloadArtifactToBuf(
        taskId=run.task_id, name="public/small.txt", queueService=anonymous
    )
    assert (bytes(buf), content_type) == (data, "text/plain")
    latest = requests.get(
        anonymous.buildUrl("getLatestArtifact", run.task_id, "public/small.txt"), timeout=30
    )
    assert latest.history[0].headers["x-taskcluster-artifact-storage-type"] == "object"
    assert latest.content == data


def test_s3_names_with_odd_characters(run: ClaimedRun) -> None:
    name = "public/dir with space/100%?#&=.txt"
    reply = run.create(name, storageType="s3", contentType="text/plain")
    assert requests.put(reply["putUrl"], data=b"odd", headers={"Content-Type": "text/plain"}, timeout=30).ok
    assert download(run, name) == (b"odd", "text/plain")
    assert [a["name"] for a in run.root.listArtifacts(run.task_id, run.run_id)["artifacts"]] == [name]


def test_expired_artifacts_and_objects_are_removed_with_their_bytes(
    make_local_queue: Any, tmp_path: Path
) -> None:
    db_file = tmp_path / "queue.sqlite3"
    queue = make_local_queue(db=str(db_file))
    root = taskcluster.Queue(queue.client_options())
    run = claim(queue, root, create_task(root))
    past = from_now(minutes=-5)
    reply = run.create("public/old.log", storageType="s3", contentType="text/plain", expires=past)
    assert requests.put(reply["putUrl"], data=b"old", headers={"Content-Type": "text/plain"}, timeout=30).ok
    run.create("public/new.log", storageType="s3", contentType="text/plain")
    run.create("public/old.bin", storageType="object", contentType="text/plain", expires=past)
    queue.stop()
    blob_dir = db_file.with_name(db_file.name + ".blobs")
    assert sum(1 for path in blob_dir.rglob("*") if path.is_file()) == 1
    db = schema.open_db(str(db_file))
    try:
        now = datetime.now(UTC)
        assert artifacts.expire_artifacts(db, blob_dir, now) == 2
        assert objects.expire_objects(db, blob_dir, now) == 1
        assert [row[0] for row in db.execute("SELECT name FROM artifacts")] == ["public/new.log"]
    finally:
        db.close()
    assert not any(path.is_file() for path in blob_dir.rglob("*"))


def test_the_running_queue_sweeps_expired_artifacts_and_their_bytes(
    run: ClaimedRun, local_queue: Any
) -> None:
    soon = from_now(seconds=1)
    reply = run.create("public/short-lived.log", storageType="s3", contentType="text/plain", expires=soon)
    assert requests.put(reply["putUrl"], data=b"brief", headers={"Content-Type": "text/plain"}, timeout=30).ok
    blob_dir = local_queue.state.blob_dir
    assert sum(1 for path in blob_dir.rglob("*") if path.is_file()) == 1
    wait_for(lambda: not any(path.is_file() for path in blob_dir.rglob("*")), timeout=15)
    gone = api_failure(run.root.getArtifact, run.task_id, run.run_id, "public/short-lived.log")
    assert (gone.status_code, gone.body["code"]) == (404, "ResourceNotFound")
