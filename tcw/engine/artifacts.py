"""The ``ArtifactPublisher`` of one run: ``object`` (or ``s3``), ``link``, ``reference`` and ``error``.

Every call uses the run's current temporary credentials (through ``RunPort``) and retries what failed
transiently; what still fails raises ``ResourceUnavailable`` so that an artifact is never silently missing.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import aiohttp

from tcw.config import ArtifactStorage
from tcw.engine.queue_port import RunPort
from tcw.engine.retry import retrying
from tcw.engine.upload_source import UnsafeSource, open_upload_source
from tcw.engine.workroot import FileIdentity
from tcw.errors import QueueRefused, TransientQueueError
from tcw.executors.api import ResourceUnavailable, TaskFailed
from tcw.taskcluster_client import client_failures, connection_failures, translate, upload_object

log = logging.getLogger(__name__)

T = TypeVar("T")

UPLOAD_ATTEMPTS = 5
SMALL_PUT_BYTES = 256 * 1024
_TRANSIENT: tuple[type[BaseException], ...] = (TransientQueueError, *connection_failures())
# Not RunGone: a run that is over is the engine's to handle, not an unavailable resource.
_FINAL_FAILURES: tuple[type[BaseException], ...] = (*_TRANSIENT, QueueRefused, *client_failures())
_PUT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)


def guess_content_type(name: str) -> str:
    if name.endswith((".log", ".txt")):
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class RunArtifacts:
    """Publishes artifacts for the run behind ``port``; ``expires`` defaults to the task's.

    A file is uploaded only if it is a regular, singly linked file inside one of ``roots`` (the run's work
    directory, once the run has one) or one of ``own_files`` (the task log): see ``upload_source``.
    """

    def __init__(self, port: RunPort, storage: ArtifactStorage = "s3", attempts: int = UPLOAD_ATTEMPTS):
        self.port = port
        self.storage = storage
        self.attempts = attempts
        self.task_expires = str(port.claim.task["expires"])
        self.roots: list[Path] = []
        self.own_files: set[FileIdentity] = set()

    async def upload(
        self,
        name: str,
        source: Path | bytes,
        *,
        content_type: str | None = None,
        expires: str | None = None,
    ) -> None:
        if isinstance(source, Path):
            await self._check_source(name, source)
        content_type = content_type or guess_content_type(name if isinstance(source, bytes) else source.name)
        expires = expires or self.task_expires
        if self.storage == "s3":
            await self._upload_s3(name, source, content_type, expires)
        else:
            await self._upload_object(name, source, content_type, expires)
        log.debug("uploaded artifact %s", name, extra=self.port.claim.log_fields)

    async def _check_source(self, name: str, source: Path) -> None:
        """Refuse (as an ``error`` artifact and ``TaskFailed``) a file the upload must not read. Checked on
        the loop, not in a thread: an open that cannot block (``O_NONBLOCK``, so a FIFO returns at once) and
        an ``fstat`` cost less than the hop to a thread and back, once per artifact."""
        try:
            self._probe(source)
        except UnsafeSource as problem:
            exists = await asyncio.to_thread(os.path.lexists, source)
            reason = "invalid-resource-on-worker" if exists else "file-missing-on-worker"
            await self.error(name, reason, f"{source} {problem} on the worker")
            raise TaskFailed(f"artifact {name}: {source} {problem}") from problem

    def _probe(self, source: Path) -> None:
        open_upload_source(source, self.roots, self.own_files).close()

    def _open(self, source: Path) -> BinaryIO:
        """The file to send, opened (and checked again) for each attempt."""
        try:
            return open_upload_source(source, self.roots, self.own_files)
        except UnsafeSource as problem:
            raise TaskFailed(f"artifact {source}: {problem}") from problem

    async def link(self, name: str, target: str, *, expires: str | None = None) -> None:
        await self._create(name, {"storageType": "link", "artifact": target}, expires)

    async def reference(
        self, name: str, url: str, *, content_type: str | None = None, expires: str | None = None
    ) -> None:
        body = {
            "storageType": "reference",
            "url": url,
            "contentType": content_type or guess_content_type(url),
        }
        await self._create(name, body, expires)

    async def error(self, name: str, reason: str, message: str, *, expires: str | None = None) -> None:
        await self._create(
            name, {"storageType": "error", "reason": reason, "message": message[:4096]}, expires
        )

    async def _create(self, name: str, body: Mapping[str, Any], expires: str | None) -> Mapping[str, Any]:
        full = {**body, "expires": expires or self.task_expires}
        return await self._step(f"create artifact {name}", lambda: self.port.create_artifact(name, full))

    async def _step(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """One retried step; a final failure (other than the run being over) is ``ResourceUnavailable``."""
        try:
            return await retrying(operation, transient=_TRANSIENT, attempts=self.attempts)
        except _FINAL_FAILURES as error:
            raise ResourceUnavailable(f"{what} failed: {error}") from error

    async def _upload_object(self, name: str, source: Path | bytes, content_type: str, expires: str) -> None:
        # No contentLength: upstream v106 stores it, then its finishArtifact fails (500) validating the
        # artifact-created message, whose schema does not allow the field. s3 artifacts send no message.
        body = {"storageType": "object", "expires": expires, "contentType": content_type}
        reply = await self._create(name, body, expires)
        upload_id = str(reply["uploadId"])
        object_service = self.port.object_service(reply["credentials"])
        options: dict[str, Any] = {
            "projectId": reply["projectId"],
            "name": reply["name"],
            "contentType": content_type,
            "expires": reply["expires"],
            "uploadId": upload_id,
            "objectService": object_service,
        }

        attempts = 0

        async def transfer() -> None:
            nonlocal attempts
            attempts += 1
            try:
                if isinstance(source, bytes):
                    await _upload_to_object_service(name, source, options)
                else:
                    with self._open(source) as file:
                        await _upload_to_object_service(name, file, options)
            except QueueRefused as error:
                # An earlier attempt finished the upload but its answer was lost; the object name is locked
                # to this artifact's uploadId, so the object there is ours (finishArtifact checks it).
                if not (attempts > 1 and error.status == 409):
                    raise
                log.debug("artifact %s was uploaded by an earlier attempt", name)

        await self._step(f"upload artifact {name}", transfer)
        await self._step(f"finish artifact {name}", lambda: self.port.finish_artifact(name, upload_id))

    async def _upload_s3(self, name: str, source: Path | bytes, content_type: str, expires: str) -> None:
        body = {"storageType": "s3", "expires": expires, "contentType": content_type, **_length(source)}
        reply = await self._create(name, body, expires)
        put_url = str(reply["putUrl"])

        async def put() -> None:
            if isinstance(source, bytes):
                await self._put(put_url, source, len(source), content_type)
                return
            with self._open(source) as file:
                size = os.fstat(file.fileno()).st_size
                if size > SMALL_PUT_BYTES:
                    await self._put(put_url, file, size, content_type)
                    return
                # aiohttp reads a file body and closes it in threads (two hops per PUT); a small one (a
                # task log, mostly) is read here at once.
                data = file.read()
            await self._put(put_url, data, len(data), content_type)

        await self._step(f"upload artifact {name}", put)

    async def _put(self, url: str, data: bytes | BinaryIO, length: int, content_type: str) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(length)}
        session = self.port.session
        async with session.put(url, data=data, headers=headers, timeout=_PUT_TIMEOUT) as response:
            if response.status >= 500:
                raise TransientQueueError(f"PUT of an s3 artifact answered {response.status}")
            if response.status >= 400:
                raise QueueRefused(f"PUT of an s3 artifact answered {response.status}", response.status)


def _length(source: Path | bytes) -> dict[str, int]:
    """``contentLength`` for an s3 createArtifact, so listings show its size (`tcw task artifacts`)."""
    try:
        return {"contentLength": len(source) if isinstance(source, bytes) else source.lstat().st_size}
    except OSError:  # gone since it was checked: the upload itself will say so
        return {}


async def _upload_to_object_service(name: str, source: BinaryIO | bytes, options: Mapping[str, Any]) -> None:
    """The official client's upload, its failures as ours."""
    await translate(f"upload {name}", upload_object(source, options))
