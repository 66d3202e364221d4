"""The byte endpoints that signed URLs point at: PUT for ``putUrl`` uploads (s3 artifacts and object
uploads) and GET for downloads. They stand in for a deployment's S3 bucket, so they are authorized by the
URL's signature (storage/blobs.py signs), not by Hawk, and answer S3-like errors outside the API's error
shape. Downloads are ``FileResponse`` (sendfile, ranges) with the stored ``Content-Type`` and
``Content-Encoding``.
"""

from __future__ import annotations

import hmac
import sqlite3
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import blobs, objects


def _required_length(request: web.Request) -> str:
    if request.content_length is None:
        raise web.HTTPLengthRequired(text="MissingContentLength: a PUT must carry Content-Length")
    return str(request.content_length)


async def _put_blob(state: QueueState, request: web.Request) -> web.StreamResponse:
    """PUT to a putUrl: ``s3/...`` keys (s3 artifacts) pin the content type; ``object/...`` keys also the
    length and an identity encoding, and only while the upload is unfinished."""
    db, now = state.db, state.now()
    content_type = request.headers.get("Content-Type", "")
    length = _required_length(request)
    key = blob_key_of(request)
    is_object = key.startswith("object/")
    check_signature(request, db, now, (content_type, length) if is_object else (content_type,))
    encoding = request.headers.get("Content-Encoding") or None
    if is_object:
        _check_object_put(db, key.removeprefix("object/"), encoding)
        encoding = None
    await blobs.store_stream(
        db,
        state.blob_dir,
        key,
        request.content.iter_chunked(blobs.CHUNK_SIZE),
        content_type=content_type,
        content_encoding=encoding,
        now=now,
    )
    return web.Response(status=200)


def _check_object_put(db: sqlite3.Connection, name: str, encoding: str | None) -> None:
    found = objects.load_object(db, name)
    if found is None or found.finished:
        raise web.HTTPForbidden(text=f"AccessDenied: object {name!r} is not being uploaded")
    if encoding not in (None, "identity"):
        raise web.HTTPBadRequest(text="InvalidArgument: object uploads must use Content-Encoding: identity")


async def _get_blob(state: QueueState, request: web.Request) -> web.StreamResponse:
    key = check_signature(request, state.db, state.now())
    blob = blobs.load_blob(state.db, key)
    if blob is None:
        raise web.HTTPNotFound(text="NoSuchKey: the specified key does not exist")
    return blob_response(state.blob_dir, blob)


def blob_response(blob_dir: Path, blob: blobs.Blob) -> web.FileResponse:
    headers = {"Content-Type": blob.content_type}
    if blob.content_encoding:
        headers["Content-Encoding"] = blob.content_encoding
    return web.FileResponse(blobs.blob_path(blob_dir, blob.key), headers=headers)


def blob_routes(state: QueueState) -> list[web.RouteDef]:
    """Unauthenticated byte endpoints (putUrl uploads, simple downloads) that the API hands out."""
    path = blobs.URL_PREFIX + "{key:.+}"

    async def put(request: web.Request) -> web.StreamResponse:
        return await _put_blob(state, request)

    async def get(request: web.Request) -> web.StreamResponse:
        return await _get_blob(state, request)

    return [web.put(path, put), web.get(path, get)]


def blob_key_of(request: web.Request) -> str:
    """The blob key a byte-endpoint request names (one percent-encoded path segment)."""
    raw_path = request.raw_path.split("?", 1)[0]
    return unquote(raw_path[len(blobs.URL_PREFIX) :])


def check_signature(
    request: web.Request, db: sqlite3.Connection, now: datetime, pinned: tuple[str, ...] = ()
) -> str:
    """The blob key of a correctly signed, unexpired request; ``HTTPForbidden`` otherwise (as S3 answers)."""
    key = blob_key_of(request)
    method = "GET" if request.method == "HEAD" else request.method
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        raise web.HTTPForbidden(text="AccessDenied: missing or malformed expires") from None
    expected = blobs.signature(db, method, key, expires, pinned)
    if not hmac.compare_digest(expected, request.query.get("signature", "")):
        raise web.HTTPForbidden(text="SignatureDoesNotMatch: the URL, method or pinned headers differ")
    if expires < now.timestamp():
        raise web.HTTPForbidden(text="AccessDenied: request has expired")
    return key
