"""Getting a mount's content into the content store: from the store itself when it has it, else by
downloading it with the official client's helpers, its sha256 checked before anything uses it.

Artifacts (and indexed artifacts) are read with the run's credentials restricted to the task's scopes
(``authorizedScopes``), so the queue refuses a task an artifact its scopes do not cover even though the
worker's claim credentials could read more. Failures become outcomes a person can act on: a 4xx (no such
artifact, an error artifact, a missing scope) is the payload's fault (malformed-payload), a download
that still fails after the client's retries is resource-unavailable.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcw.executors.api import MalformedPayload, ResourceUnavailable, TaskContext
from tcw.executors.mounts.spec import ArtifactContent, Content, IndexedContent, InlineContent, UrlContent
from tcw.executors.mounts.store import ContentStore
from tcw.taskcluster_client import (
    aio_client,
    aio_download_latest_artifact,
    aio_session,
    client_failures,
    download_url,
    read_failure,
    restricted_options,
)


class _HashingFile:
    """The file a download writes to, hashing as it goes; rewinding (a retry) starts the hash over."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.hash = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        self.hash.update(chunk)
        return int(self.file.write(chunk))

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:
            self.hash = hashlib.sha256()
        return int(self.file.seek(offset, whence))

    def truncate(self, size: int | None = None) -> int:
        return int(self.file.truncate(size))


@dataclass(frozen=True)
class Fetched:
    path: Path  # in the content store
    sha256: str
    downloaded: bool  # False: the store had it


async def fetch(ctx: TaskContext, store: ContentStore, content: Content, *, retries: int = 5) -> Fetched:
    """The stored file holding ``content`` (the caller holds ``store.try_use()``'s lock); a download
    is retried ``retries`` times on 5xx and connection errors."""
    if isinstance(content, InlineContent):
        return Fetched(*store.add_bytes(content.data), downloaded=False)
    if isinstance(content, IndexedContent):
        content = ArtifactContent(await _indexed_task(ctx, content), content.artifact)
    key = content.key if isinstance(content, ArtifactContent) else None
    known = content.sha256 or (store.digest_for(key) if key else None)
    if known is not None:
        found = store.blob(known)
        if found is not None:
            _check_digest(content, known)
            ctx.log.info("Content store has %s (sha256 %s): no download", content.describe(), known)
            return Fetched(found, known, downloaded=False)
    temporary = store.temporary()
    ctx.log.info("Downloading %s", content.describe())
    try:
        file = await asyncio.to_thread(open, temporary, "wb")
        try:
            writer = _HashingFile(file)
            await _download(ctx, content, writer, retries)
        except client_failures() as error:
            raise _outcome(content.describe(), error) from error
        finally:
            file.close()
        digest = writer.hash.hexdigest()
        _check_digest(content, digest)
        return Fetched(store.add_blob(temporary, digest, key), digest, downloaded=True)
    finally:
        if temporary.exists():
            os.unlink(temporary)


async def _download(
    ctx: TaskContext, content: ArtifactContent | UrlContent, writer: _HashingFile, retries: int
) -> None:
    if isinstance(content, UrlContent):
        await download_url(writer, content.url, max_retries=retries)
        return
    options = restricted_options(ctx.root_url, ctx.credentials(), _task_scopes(ctx))
    await aio_download_latest_artifact(
        writer, task_id=content.task_id, name=content.artifact, options=options, max_retries=retries
    )


def _outcome(what: str, error: BaseException) -> MalformedPayload | ResourceUnavailable:
    failure = read_failure(error)
    reason = getattr(error, "reason", None)  # an error artifact says why it stands in
    if reason:
        return MalformedPayload(
            f"cannot mount {what}: it is an error artifact ({reason}): {failure.first_line}"
        )
    if failure.status in (401, 403):
        return MalformedPayload(
            f"cannot mount {what}: access refused ({failure.status}) with the task's scopes: "
            f"{failure.first_line}"
        )
    if failure.status is not None and 400 <= failure.status < 500:
        return MalformedPayload(f"cannot mount {what}: {failure.status}: {failure.first_line}")
    return ResourceUnavailable(f"cannot download {what} after retries: {failure.first_line}")


def _check_digest(content: ArtifactContent | UrlContent, actual: str) -> None:
    if content.sha256 is not None and content.sha256 != actual:
        raise MalformedPayload(
            f"{content.describe()}: sha256 mismatch: the payload expects {content.sha256}, "
            f"the content has {actual}"
        )


async def _indexed_task(ctx: TaskContext, content: IndexedContent) -> str:
    """The taskId the index holds for the namespace (the store then keys the artifact by it)."""
    import aiohttp

    options = restricted_options(ctx.root_url, ctx.credentials(), _task_scopes(ctx))
    async with aio_session(timeout=aiohttp.ClientTimeout(total=60)) as session:
        index = aio_client("index", options, session)
        try:
            found = await index.findTask(content.namespace)
        except client_failures() as error:
            failure = read_failure(error)
            if failure.status == 404 and not await _has_index(index):
                raise MalformedPayload(
                    f"cannot mount {content.describe()}: the deployment at {ctx.root_url} has no index "
                    "service; name the artifact by taskId instead"
                ) from error
            raise _outcome(f"the index namespace {content.namespace}", error) from error
    task_id = found.get("taskId") if isinstance(found, dict) else None
    if not isinstance(task_id, str):
        raise ResourceUnavailable(f"the index answered no taskId for {content.namespace}")
    return task_id


async def _has_index(index: Any) -> bool:
    try:
        await index.ping()
    except client_failures():
        return False
    return True


def _task_scopes(ctx: TaskContext) -> list[str]:
    scopes = ctx.task.get("scopes", [])
    return [scope for scope in scopes if isinstance(scope, str)] if isinstance(scopes, list) else []
