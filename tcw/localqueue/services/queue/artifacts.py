"""Queue artifacts as a worker writes them (createArtifact, finishArtifact), their table and their expiry.

The checks of createArtifact run in the real queue's order, and re-creating an artifact follows its
compatibility rules (same content type, expiry may grow, same details except a reference's URL, or a
reference becoming a link). Storage types behave as on a deployment: ``s3`` answers a put URL (here a
signed local one, see storage/blobs.py), ``object`` locks in an upload on the object service and answers
upload credentials, ``reference`` and ``link`` only point elsewhere, and ``error`` reads as a 424.

The reads (getArtifact ... listArtifacts) are in artifact_reads.py.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from tcw.localqueue.auth.clients import issue_upload_credentials
from tcw.localqueue.core.checks import SLUGID, Check, date_time, fields, integer, one_of, string, tagged
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import InputError, RequestConflict, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.queue.status import status_reply
from tcw.localqueue.storage import blobs, objects
from tcw.localqueue.storage.artifacts import (
    Artifact,
    insert_artifact,
    load_artifact,
    mark_present,
    object_name,
    s3_blob_key,
    update_artifact,
)
from tcw.localqueue.storage.database import Database, transaction
from tcw.localqueue.storage.tasks import RunRow, TaskRow, load_run, load_task

ERROR_REASONS = (
    "file-missing-on-worker",
    "invalid-resource-on-worker",
    "too-large-file-on-worker",
    "file-not-readable-on-worker",
)
_CONTENT_TYPE = string(max_length=255)
_BASE: dict[str, Check] = {"storageType": string(), "expires": date_time}
CREATE_ARTIFACT_CHECKS: dict[str, Check] = {
    "s3": fields({**_BASE, "contentType": _CONTENT_TYPE}, {"contentLength": integer(0)}),
    "object": fields({**_BASE, "contentType": _CONTENT_TYPE}, {"contentLength": integer(0)}),
    "reference": fields({**_BASE, "url": string(min_length=1), "contentType": _CONTENT_TYPE}),
    "link": fields({**_BASE, "artifact": string()}, {"contentType": _CONTENT_TYPE}),
    "error": fields({**_BASE, "reason": one_of(*ERROR_REASONS), "message": string(max_length=4096)}),
}
# Checked by the dispatcher before the handler runs, as the real service validates its input schema.
BODY_CHECKS: dict[str, Check] = {
    "createArtifact": tagged("storageType", CREATE_ARTIFACT_CHECKS),
    "finishArtifact": fields({"uploadId": string(SLUGID)}),
}

MAX_CONTENT_LENGTH = 2**63 - 1  # what an SQLite integer holds
EXPIRES_PAST_TOLERANCE = timedelta(minutes=15)
EXCEPTION_GRACE = timedelta(minutes=25)
S3_PUT_LIFETIME = timedelta(minutes=45)
S3_PUT_GRACE = timedelta(seconds=10)


def artifact_json(artifact: Artifact) -> dict[str, Any]:
    """The ``artifact-response`` shape of listArtifacts and artifactInfo."""
    reply: dict[str, Any] = {
        "storageType": artifact.storage_type,
        "name": artifact.name,
        "expires": format_date(artifact.expires),
        "contentType": artifact.content_type,
    }
    if artifact.content_length is not None:
        reply["contentLength"] = artifact.content_length
    return reply


# --- createArtifact ----------------------------------------------------------------------------------


def calls_compatible(
    original: Artifact, storage_type: str, content_type: str, expires: datetime, details: dict[str, Any]
) -> bool:
    """May this createArtifact repeat (or amend) the existing artifact? The real queue's rules."""
    if storage_type != "link" and original.content_type != content_type:
        return False
    if original.expires > expires:
        return False
    if original.storage_type == storage_type:
        return original.details == details or storage_type == "reference"
    return original.storage_type == "reference" and storage_type == "link"


def _details(body: dict[str, Any], upload_id: str) -> dict[str, Any]:
    storage_type = body["storageType"]
    if storage_type == "object":
        return {"uploadId": upload_id}
    if storage_type == "reference":
        return {"url": body["url"]}
    if storage_type == "link":
        return {"artifact": body["artifact"]}
    if storage_type == "error":
        return {"message": body["message"], "reason": body["reason"]}
    return {}


def _task_and_run(db: Database, task_id: str, run_id: int) -> tuple[TaskRow, RunRow]:
    task = load_task(db, task_id)
    if task is None:
        raise InputError("Task not found")
    run = load_run(db, task_id, run_id)
    if run is None:
        raise InputError("Run not found")
    if not run.worker_group or not run.worker_id:
        raise InputError("Run was not claimed by a worker and so no artifacts can exist")
    return task, run


def _check_run_accepts_artifacts(call: ApiCall, run: RunRow, now: datetime) -> None:
    if run.state == "running":
        return
    if run.state == "exception" and run.resolved is not None and run.resolved > now - EXCEPTION_GRACE:
        return
    status = status_reply(call.state, run.task_id)["status"]
    raise RequestConflict(
        "Artifacts cannot be created for a task after it is resolved, unless it is resolved 'exception', "
        "and even in this case only up to 25 min past resolution.This to ensure that artifacts have been "
        "uploaded before a task is 'completed' and output is consumed by a dependent task\n\n"
        f"Task status: {json.dumps(status, indent=2)}",
        details={"status": status},
    )


async def create_artifact(call: ApiCall) -> Any:
    body = call.body
    db, now = call.state.db, call.state.now()
    task_id, run_id, name = call.params["taskId"], int(call.params["runId"]), call.params["name"]
    expires = parse_date(body["expires"])
    if expires < now - EXPIRES_PAST_TOLERANCE:
        raise InputError("Expires must be in the future")
    if body.get("contentLength", 0) > MAX_CONTENT_LENGTH:
        raise InputError(f"contentLength must be at most {MAX_CONTENT_LENGTH}")
    task, run = _task_and_run(db, task_id, run_id)
    call.authorize(workerGroup=run.worker_group, workerId=run.worker_id)
    if expires > task.expires:
        raise InputError(
            f"Artifact expires ({format_date(expires)}) after the task expiration "
            f"{format_date(task.expires)} "
            "(task.expires < expires) - this is not allowed, artifacts may not expire after the task they "
            "belong to expires",
            details={"taskExpires": format_date(task.expires), "expires": format_date(expires)},
        )
    _check_run_accepts_artifacts(call, run, now)
    storage_type = body["storageType"]
    content_type = body.get("contentType") or "application/binary"
    details = _details(body, _new_upload_id())
    with transaction(db):
        original = load_artifact(db, task_id, run_id, name)
        if original is None:
            _insert_artifact(db, task, run_id, name, body, content_type, details, now)
        elif calls_compatible(original, storage_type, content_type, expires, details):
            update_artifact(
                db, task_id, run_id, name, storage_type=storage_type, details=details, expires=expires
            )
        else:
            raise RequestConflict(
                "Artifact already exists with different properties, and none of the allowed exceptions "
                f"apply: storageType {original.storage_type}, contentType {original.content_type}, "
                f"expires {format_date(original.expires)}",
                details={"originalArtifact": artifact_json(original)},
            )
    return _create_reply(call, task, run, name, storage_type, content_type, details, expires)


def _new_upload_id() -> str:
    import slugid

    return str(slugid.nice())


def _insert_artifact(
    db: sqlite3.Connection,
    task: TaskRow,
    run_id: int,
    name: str,
    body: dict[str, Any],
    content_type: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    expires = parse_date(body["expires"])
    storage_type = body["storageType"]
    if storage_type == "object":
        objects.lock_in_upload(
            db,
            name=object_name(task.task_id, run_id, name),
            project_id=task.project_id,
            upload_id=details["uploadId"],
            expires=expires,
            now=now,
        )
    insert_artifact(
        db,
        task.task_id,
        run_id,
        name,
        storage_type=storage_type,
        content_type=content_type,
        content_length=body.get("contentLength"),
        details=details,
        expires=expires,
    )


def _create_reply(
    call: ApiCall,
    task: TaskRow,
    run: RunRow,
    name: str,
    storage_type: str,
    content_type: str,
    details: dict[str, Any],
    expires: datetime,
) -> dict[str, Any]:
    now = call.state.now()
    if storage_type == "s3":
        put_url = blobs.signed_url(
            call.state.db,
            call.state.root_url,
            s3_blob_key(task.task_id, run.run_id, name),
            method="PUT",
            expires=now + S3_PUT_LIFETIME + S3_PUT_GRACE,
            pinned=(content_type,),
        )
        return {
            "storageType": "s3",
            "contentType": content_type,
            "expires": format_date(now + S3_PUT_LIFETIME),
            "putUrl": put_url,
        }
    if storage_type == "object":
        return _object_reply(call, task, run, name, details["uploadId"], expires)
    return {"storageType": storage_type}


def _object_reply(
    call: ApiCall, task: TaskRow, run: RunRow, name: str, upload_id: str, expires: datetime
) -> dict[str, Any]:
    stored_name = object_name(task.task_id, run.run_id, name)
    credentials = issue_upload_credentials(
        call.state.issuer,
        task_id=task.task_id,
        run_id=run.run_id,
        worker_group=str(run.worker_group),
        worker_id=str(run.worker_id),
        project_id=task.project_id,
        object_name=stored_name,
        expires=expires,
        now=call.state.now(),
    )
    return {
        "storageType": "object",
        "name": stored_name,
        "projectId": task.project_id,
        "uploadId": upload_id,
        "expires": format_date(expires),
        "credentials": credentials,
    }


# --- finishArtifact ----------------------------------------------------------------------------------


async def finish_artifact(call: ApiCall) -> Any:
    call.authorize()
    db = call.state.db
    task_id, run_id, name = call.params["taskId"], int(call.params["runId"]), call.params["name"]
    found = load_artifact(db, task_id, run_id, name)
    if found is None or load_run(db, task_id, run_id) is None:
        raise ResourceNotFound(f"Artifact with taskId `{task_id}`, runId {run_id}, name `{name}` not found")
    if found.storage_type != "object":
        raise InputError("Only object artifacts can be finished")
    if found.present:
        return None
    if call.body["uploadId"] != found.details.get("uploadId"):
        raise InputError("given uploadId does not match that for the artifact")
    if objects.finished_object(db, object_name(task_id, run_id, name)) is None:
        raise InputError("Object storing artifact data does not exist")
    mark_present(db, task_id, run_id, name)
    return None


HANDLERS: dict[str, Handler] = {
    "createArtifact": create_artifact,
    "finishArtifact": finish_artifact,
}
