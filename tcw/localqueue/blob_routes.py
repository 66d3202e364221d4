"""The byte endpoints that signed URLs point at: PUT for ``putUrl`` uploads (s3 artifacts and object
uploads) and GET for downloads. They stand in for a deployment's S3 bucket, so they are authorized by the
URL's signature (blobs.py), not by Hawk, and answer S3-like errors outside the API's error shape.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from tcw.localqueue import blobs, objects


def _queue_state(request: web.Request) -> Any:
    from tcw.localqueue.app import STATE

    return request.app[STATE]


def _required_length(request: web.Request) -> str:
    if request.content_length is None:
        raise web.HTTPLengthRequired(text="MissingContentLength: a PUT must carry Content-Length")
    return str(request.content_length)


async def _put_blob(request: web.Request) -> web.StreamResponse:
    """PUT to a putUrl: ``s3/...`` keys (s3 artifacts) pin the content type; ``object/...`` keys also the
    length and an identity encoding, and only while the upload is unfinished."""
    state = _queue_state(request)
    db, now = state.db, state.now()
    content_type = request.headers.get("Content-Type", "")
    length = _required_length(request)
    key = blobs.blob_key_of(request)
    is_object = key.startswith("object/")
    blobs.check_signature(request, db, now, (content_type, length) if is_object else (content_type,))
    encoding = request.headers.get("Content-Encoding") or None
    if is_object:
        _check_object_put(db, key.removeprefix("object/"), encoding)
        encoding = None
    await blobs.store_stream(
        db,
        state.blob_dir,
        key,
        request.content,
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


async def _get_blob(request: web.Request) -> web.StreamResponse:
    state = _queue_state(request)
    key = blobs.check_signature(request, state.db, state.now())
    blob = blobs.load_blob(state.db, key)
    if blob is None:
        raise web.HTTPNotFound(text="NoSuchKey: the specified key does not exist")
    return blobs.blob_response(state.blob_dir, blob)


def extra_routes() -> list[web.RouteDef]:
    """Unauthenticated byte endpoints (putUrl uploads, simple downloads) that the API hands out."""
    path = blobs.URL_PREFIX + "{key:.+}"
    return [web.put(path, _put_blob), web.get(path, _get_blob)]
