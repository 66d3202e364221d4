"""The object service: createUpload, finishUpload, startDownload, download and object metadata.

As in Taskcluster, an object is first an *upload* (``uploadId`` set; only its uploader, who knows that id,
may finish it) and becomes an immutable, downloadable object when ``finishUpload`` succeeds. The first
``createUpload`` locks in ``projectId``, ``uploadId`` and ``expires``; later calls may propose methods again
(a fresh ``putUrl``) and add hashes, never change them. The queue locks in uploads for ``object`` artifacts
through ``storage.objects.lock_in_upload`` directly, as the real queue calls createUpload with no methods.

Unlike the real service, whose backend never sees the bytes, ``finishUpload`` here checks the declared hashes
against the bytes that arrived, so a truncated or corrupted upload fails loudly in development.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from tcw.localqueue.core.checks import (
    PRINTABLE,
    PROJECT_ID,
    SHA256,
    SHA512,
    SLUGID,
    Check,
    any_value,
    date_time,
    fields,
    integer,
    is_true,
    string,
)
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import (
    InputError,
    InvalidRequestArguments,
    NoMatchingMethod,
    RequestConflict,
    ResourceNotFound,
)
from tcw.localqueue.services.api import ApiCall, Handler, Reply
from tcw.localqueue.storage import blobs
from tcw.localqueue.storage import objects as rows
from tcw.localqueue.storage.database import transaction

DATA_INLINE_MAX_BYTES = 8192
MAX_CONTENT_LENGTH = 2**63 - 1
PUT_URL_LIFETIME = timedelta(minutes=45)
PUT_URL_GRACE = timedelta(seconds=10)
GET_URL_LIFETIME = timedelta(seconds=60)
GET_URL_GRACE = timedelta(seconds=60)
DOWNLOAD_METHODS = ("simple", "getUrl")  # in order of preference, as the real service
HASH_CHECK = string(max_length=128)

HASHES = fields({}, {"sha256": string(SHA256), "sha512": string(SHA512)}, others=any_value)
# Checked by the dispatcher before the handler runs, as the real service validates its input schema.
BODY_CHECKS: dict[str, Check] = {
    "createUpload": fields(
        {
            "projectId": string(PROJECT_ID),
            "uploadId": string(SLUGID),
            "expires": date_time,
            "proposedUploadMethods": fields(
                {},
                {
                    "dataInline": fields({"contentType": string(), "objectData": string(max_length=10926)}),
                    "putUrl": fields({"contentType": string(), "contentLength": integer()}),
                },
            ),
        },
        {"hashes": HASHES},
    ),
    "finishUpload": fields({"projectId": string(PROJECT_ID), "uploadId": string(SLUGID)}, {"hashes": HASHES}),
    "startDownload": fields(
        {"acceptDownloadMethods": fields({}, {"simple": is_true, "getUrl": is_true})},
    ),
}


def _name(call: ApiCall) -> str:
    """The object name route argument: printable ASCII only, as the real service's route pattern."""
    name = call.params["name"]
    if not name or not PRINTABLE.match(name):
        raise InvalidRequestArguments(f"name {name!r} must be printable ASCII (0x20 - 0x7e)")
    return name


def add_hashes(db: sqlite3.Connection, found: rows.ObjectRow, hashes: dict[str, Any]) -> dict[str, str]:
    """Record new hashes; an algorithm may be given twice only with the same value (409 otherwise)."""
    merged = dict(found.hashes)
    for algorithm, value in hashes.items():
        if HASH_CHECK(value, algorithm):
            raise InputError(f"hash {algorithm} must be a string")
        if merged.get(algorithm, value) != value:
            raise RequestConflict(
                "Content hash already exists with a different value", details={"name": found.name}
            )
        merged[algorithm] = value
    if merged != found.hashes:
        rows.set_hashes(db, found.name, merged)
    return merged


# --- API methods -------------------------------------------------------------------------------------


async def create_upload(call: ApiCall) -> Any:
    body, name = call.body, _name(call)
    call.authorize(projectId=body["projectId"])
    db, now = call.state.db, call.state.now()
    with transaction(db):
        found = rows.lock_in_upload(
            db,
            name=name,
            project_id=body["projectId"],
            upload_id=body["uploadId"],
            expires=parse_date(body["expires"]),
            now=now,
        )
        add_hashes(db, found, body.get("hashes") or {})
        upload_method = _agree_upload_method(call, name, body["proposedUploadMethods"], now)
    return {
        "projectId": body["projectId"],
        "uploadId": body["uploadId"],
        "expires": body["expires"],
        "uploadMethod": upload_method,
    }


def _agree_upload_method(call: ApiCall, name: str, proposed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Prefer ``dataInline`` (done at once) over ``putUrl``; ``{}`` when nothing was proposed."""
    if "dataInline" in proposed:
        method = proposed["dataInline"]
        data = _decode_inline(method["objectData"])
        blobs.store_bytes(
            call.state.db,
            call.state.blob_dir,
            rows.blob_key(name),
            data,
            content_type=method["contentType"],
            now=now,
        )
        return {"dataInline": True}
    if "putUrl" in proposed:
        method = proposed["putUrl"]
        if not 0 <= method["contentLength"] <= MAX_CONTENT_LENGTH:
            raise InputError(f"putUrl contentLength must be between 0 and {MAX_CONTENT_LENGTH}")
        content_type, length = method["contentType"], str(method["contentLength"])
        url = blobs.signed_url(
            call.state.db,
            call.state.root_url,
            rows.blob_key(name),
            method="PUT",
            expires=now + PUT_URL_LIFETIME + PUT_URL_GRACE,
            pinned=(content_type, length),
        )
        headers = {"Content-Type": content_type, "Content-Length": length, "Content-Encoding": "identity"}
        return {"putUrl": {"url": url, "expires": format_date(now + PUT_URL_LIFETIME), "headers": headers}}
    return {}


def _decode_inline(object_data: str) -> bytes:
    try:
        data = base64.b64decode(object_data, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("Invalid base64 objectData") from None
    if len(data) > DATA_INLINE_MAX_BYTES:
        raise InputError(f"dataInline objectData may hold at most {DATA_INLINE_MAX_BYTES} bytes")
    return data


async def finish_upload(call: ApiCall) -> Any:
    body, name, db = call.body, _name(call), call.state.db
    call.authorize(projectId=body["projectId"])
    found = rows.load_object(db, name)
    if found is None:
        raise ResourceNotFound(f'Object "{name}" not found', details={"name": name})
    if found.project_id != body["projectId"]:
        raise InputError(f'Object "{name}" does not have projectId {body["projectId"]}')
    hashes = body.get("hashes") or {}
    if found.finished:
        _check_finished_hashes(found, hashes)
        return {}
    if found.upload_id != body["uploadId"]:
        raise RequestConflict(f'Object "{name}" does not have uploadId {body["uploadId"]}')
    with transaction(db):
        declared = add_hashes(db, found, hashes)
        _verify_data(db, name, declared)
        rows.finish_upload(db, name)
    return {}


def _check_finished_hashes(found: rows.ObjectRow, hashes: dict[str, Any]) -> None:
    """Repeating finishUpload is fine if it brings no new or different hash."""
    for algorithm, value in hashes.items():
        if algorithm not in found.hashes:
            raise RequestConflict(
                f'Object "{found.name}" is already finished, but without hash algorithm {algorithm}'
            )
        if found.hashes[algorithm] != value:
            raise RequestConflict(
                f'Object "{found.name}" is already finished, '
                f"but with a different hash for algorithm {algorithm}"
            )


def _verify_data(db: sqlite3.Connection, name: str, declared: dict[str, str]) -> None:
    blob = blobs.load_blob(db, rows.blob_key(name))
    if blob is None:
        raise InputError(f'Object "{name}" has no data: upload it (dataInline or putUrl) before finishUpload')
    for algorithm, value in declared.items():
        actual = blob.hashes.get(algorithm)
        if actual is not None and actual != value:
            raise InputError(
                f'Object "{name}": the {algorithm} hash given ({value}) '
                f"does not match the uploaded data ({actual})"
            )


def _readable_object(call: ApiCall) -> rows.ObjectRow:
    name = _name(call)
    found = rows.finished_object(call.state.db, name)
    if found is None:
        raise ResourceNotFound(f'Object "{name}" not found', details={"name": name})
    return found


async def start_download(call: ApiCall) -> Any:
    call.authorize()
    found = _readable_object(call)
    accepted = call.body["acceptDownloadMethods"]
    method = next((m for m in DOWNLOAD_METHODS if m in accepted), None)
    if method is None:
        raise NoMatchingMethod(f"Object supports methods {', '.join(DOWNLOAD_METHODS)}")
    db, now = call.state.db, call.state.now()
    if method == "simple":
        return {"method": "simple", "url": rows.simple_download_url(db, call.state.root_url, found.name, now)}
    url = blobs.signed_url(
        db,
        call.state.root_url,
        rows.blob_key(found.name),
        method="GET",
        expires=now + GET_URL_LIFETIME + GET_URL_GRACE,
    )
    return {
        "method": "getUrl",
        "url": url,
        "expires": format_date(now + GET_URL_LIFETIME),
        "hashes": found.hashes,
    }


async def object_metadata(call: ApiCall) -> Any:
    call.authorize()
    found = _readable_object(call)
    return {"projectId": found.project_id, "expires": format_date(found.expires), "hashes": found.hashes}


async def download(call: ApiCall) -> Any:
    call.authorize()
    found = _readable_object(call)
    url = rows.simple_download_url(call.state.db, call.state.root_url, found.name, call.state.now())
    return Reply(303, headers={"Location": url})


HANDLERS: dict[str, Handler] = {
    "createUpload": create_upload,
    "finishUpload": finish_upload,
    "startDownload": start_download,
    "object": object_metadata,
    "download": download,
}
