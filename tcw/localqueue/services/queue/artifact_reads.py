"""Queue artifacts as readers see them: getArtifact, getLatestArtifact, artifact, latestArtifact,
artifactInfo, latestArtifactInfo, listArtifacts and listLatestArtifacts.

Reads follow links (detecting cycles) and authorize every name on the way with one scope check: the names
are collected first and the check comes before any 404, as the real queue checks before loading each.
A download answers a 303 to the bytes (a signed local URL, an object's simple download URL or a
reference's URL); an ``error`` artifact answers 424 with its reason.
"""

from __future__ import annotations

import base64
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from tcw.localqueue.auth.clients import issue_download_credentials
from tcw.localqueue.core.errors import ApiError, InputError, ResourceExpired, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler, Reply
from tcw.localqueue.services.queue.artifacts import artifact_json
from tcw.localqueue.storage import blobs, objects
from tcw.localqueue.storage.artifacts import (
    Artifact,
    artifacts_after,
    load_artifact,
    object_name,
    s3_blob_key,
)
from tcw.localqueue.storage.database import Database
from tcw.localqueue.storage.tasks import latest_run_id, load_task

MAX_PAGE = 1000
S3_GET_LIFETIME = timedelta(minutes=30)
STORAGE_TYPE_HEADER = "x-taskcluster-artifact-storage-type"


def _follow_links(
    db: sqlite3.Connection, task_id: str, run_id: int, name: str, now: datetime
) -> tuple[list[str], Artifact | ApiError]:
    """Every name visited, and the artifact reached (or the error to answer once scopes are checked)."""
    names: list[str] = []
    while True:
        names.append(name)
        found = load_artifact(db, task_id, run_id, name)
        if found is None or not found.present:
            return names, ResourceNotFound("Artifact not found")
        if found.expires < now:
            return names, ResourceExpired("Artifact expired")
        if found.storage_type != "link":
            return names, found
        name = found.details["artifact"]
        if name in names:
            return names, InputError("Artifact leads to a link cycle")


def _latest_run(db: Database, task_id: str) -> int | ApiError:
    if load_task(db, task_id) is None:
        return ResourceNotFound("Task not found")
    run_id = latest_run_id(db, task_id)
    return ResourceNotFound("Task doesn't have any runs") if run_id is None else run_id


def _raise_or(outcome: int | ApiError) -> int:
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def _resolve(call: ApiCall, *, latest: bool) -> Artifact:
    """The artifact a get/content call names, links followed, after one check of every name's scope."""
    db, task_id, name = call.state.db, call.params["taskId"], call.params["name"]
    names = [name]
    run = _latest_run(db, task_id) if latest else int(call.params["runId"])
    outcome: Artifact | ApiError = (
        run if isinstance(run, ApiError) else ResourceNotFound("Artifact not found")
    )
    if isinstance(run, int):
        names, outcome = _follow_links(db, task_id, run, name, call.state.now())
    call.authorize(names=names)
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def _artifact_url(call: ApiCall, artifact: Artifact) -> str:
    db, now = call.state.db, call.state.now()
    if artifact.storage_type == "reference":
        return str(artifact.details["url"])
    if artifact.storage_type == "object":
        stored_name = object_name(artifact.task_id, artifact.run_id, artifact.name)
        if objects.finished_object(db, stored_name) is None:
            raise ResourceNotFound("Object does not exist.")
        return objects.simple_download_url(db, call.state.root_url, stored_name, now)
    key = s3_blob_key(artifact.task_id, artifact.run_id, artifact.name)
    return blobs.signed_url(db, call.state.root_url, key, method="GET", expires=now + S3_GET_LIFETIME)


def _download_reply(call: ApiCall, artifact: Artifact) -> Reply:
    """getArtifact's answer: a 303 to the bytes with ``{storageType, url}`` as body, or 424 for errors."""
    headers = {STORAGE_TYPE_HEADER: artifact.storage_type}
    if artifact.storage_type == "error":
        body = {"reason": artifact.details["reason"], "message": artifact.details["message"]}
        return Reply(424, body, headers)
    url = _artifact_url(call, artifact)
    headers["Location"] = url
    return Reply(303, {"storageType": artifact.storage_type, "url": url}, headers)


def _content_reply(call: ApiCall, artifact: Artifact) -> dict[str, Any]:
    """The ``artifact`` method's answer: where and how to fetch the content, always as JSON."""
    storage_type = artifact.storage_type
    if storage_type == "error":
        return {"storageType": "error", **artifact.details}
    if storage_type != "object":
        return {"storageType": storage_type, "url": _artifact_url(call, artifact)}
    stored_name = object_name(artifact.task_id, artifact.run_id, artifact.name)
    credentials = issue_download_credentials(
        call.state.issuer,
        task_id=artifact.task_id,
        run_id=artifact.run_id,
        artifact_name=artifact.name,
        object_name=stored_name,
        now=call.state.now(),
    )
    return {"storageType": "object", "name": stored_name, "credentials": credentials}


async def get_artifact(call: ApiCall) -> Any:
    return _download_reply(call, _resolve(call, latest=False))


async def get_latest_artifact(call: ApiCall) -> Any:
    return _download_reply(call, _resolve(call, latest=True))


async def artifact_content(call: ApiCall) -> Any:
    return _content_reply(call, _resolve(call, latest=False))


async def latest_artifact_content(call: ApiCall) -> Any:
    return _content_reply(call, _resolve(call, latest=True))


def _info(call: ApiCall, run_id: int) -> dict[str, Any]:
    found = load_artifact(call.state.db, call.params["taskId"], run_id, call.params["name"])
    if found is None or not found.present:
        raise ResourceNotFound("Artifact not found")
    return artifact_json(found)


async def artifact_info(call: ApiCall) -> Any:
    call.authorize()
    return _info(call, int(call.params["runId"]))


async def latest_artifact_info(call: ApiCall) -> Any:
    call.authorize()
    return _info(call, _raise_or(_latest_run(call.state.db, call.params["taskId"])))


def _page(call: ApiCall, run_id: int) -> dict[str, Any]:
    """One page of the run's artifacts by name, unfinished ones included as the real queue lists them;
    ``continuationToken`` while more remain."""
    limit_text = call.query.get("limit", str(MAX_PAGE))
    if not limit_text.isdigit():
        raise InputError(f"limit must be a positive integer, not {limit_text!r}")
    limit = min(max(int(limit_text), 1), MAX_PAGE)
    after = _decode_token(call.query.get("continuationToken"))
    found = artifacts_after(call.state.db, call.params["taskId"], run_id, after, limit + 1)
    reply: dict[str, Any] = {"artifacts": [artifact_json(artifact) for artifact in found[:limit]]}
    if len(found) > limit:
        reply["continuationToken"] = _encode_token(found[limit - 1].name)
    return reply


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InputError("Invalid continuationToken") from None


async def list_artifacts(call: ApiCall) -> Any:
    call.authorize()
    task_id, run_id = call.params["taskId"], int(call.params["runId"])
    latest = _raise_or(_latest_run(call.state.db, task_id))
    if run_id > latest:
        raise ResourceNotFound(f"Task with taskId: `{task_id}` has no run with runId: {run_id}")
    return _page(call, run_id)


async def list_latest_artifacts(call: ApiCall) -> Any:
    call.authorize()
    return _page(call, _raise_or(_latest_run(call.state.db, call.params["taskId"])))


HANDLERS: dict[str, Handler] = {
    "getArtifact": get_artifact,
    "getLatestArtifact": get_latest_artifact,
    "artifact": artifact_content,
    "latestArtifact": latest_artifact_content,
    "artifactInfo": artifact_info,
    "latestArtifactInfo": latest_artifact_info,
    "listArtifacts": list_artifacts,
    "listLatestArtifacts": list_latest_artifacts,
}
