"""The one adapter over the official ``taskcluster`` client: building clients, reading their failures,
and Taskcluster's timestamps. Nothing else in tcw constructs a client (a test enforces it).

Clients come in two faces: sync (``sync_queue``, for the CLI's one-off calls and the registry's task
fetches) and aio over a shared session (``aio_session``, ``aio_queue``, ``aio_object``, for the engine and
inspection). A failed call is read one way for every caller (``read_failure``); callers differ in what a
failure means to them (the engine: retry or drop the run; the CLI: usage error or unavailable; inspect: a
404 may be fine), and ``translate`` / ``sync_call`` turn it into the flat error tree of ``tcw.errors``.

The client raises ``TaskclusterRestFailure`` (status and the service's JSON body), ``TaskclusterAuthFailure``
for a 401 (not a subclass of the former), ``TaskclusterConnectionError``, and lets aiohttp's
``ClientResponseError`` or a ``TimeoutError`` through from its async side.

The client and aiohttp are imported when first used, not with this module: ``tcw --help`` and the
offline commands import it (for ``parse_time``) and must stay quick.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from tcw.errors import QueueRefused, QueueUnavailable, RunGone, TransientQueueError, UsageError

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")


@cache
def client_failures() -> tuple[type[BaseException], ...]:
    """Everything a call of the official client (sync or aio) raises when it fails."""
    import aiohttp
    import taskcluster.exceptions

    return (taskcluster.exceptions.TaskclusterFailure, aiohttp.ClientError, TimeoutError)


@cache
def connection_failures() -> tuple[type[BaseException], ...]:
    """The failures where no answer came: worth retrying."""
    import aiohttp
    import taskcluster.exceptions

    return (taskcluster.exceptions.TaskclusterConnectionError, aiohttp.ClientError, TimeoutError)


# -- times ------------------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """Taskcluster's timestamps (``2026-11-29T06:00:05.653Z``) as aware datetimes; raises ValueError."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- clients ----------------------------------------------------------------------------------------


def sync_queue(options: Mapping[str, Any]) -> Any:
    """The sync queue client (``rootUrl`` and optional ``credentials`` in ``options``)."""
    import taskcluster

    return taskcluster.Queue(_copy(options))


def aio_session(
    *, timeout: aiohttp.ClientTimeout, connector: aiohttp.BaseConnector | None = None
) -> aiohttp.ClientSession:
    """The HTTP session aio clients share (use it as an async context manager)."""
    import taskcluster.aio

    return taskcluster.aio.createSession(connector=connector, timeout=timeout)  # type: ignore[no-any-return]


def aio_queue(options: Mapping[str, Any], session: aiohttp.ClientSession) -> Any:
    import taskcluster.aio

    return taskcluster.aio.Queue(_copy(options), session=session)


def aio_object(options: Mapping[str, Any], session: aiohttp.ClientSession) -> Any:
    import taskcluster.aio

    return taskcluster.aio.Object(_copy(options), session=session)


def aio_worker_manager(options: Mapping[str, Any], session: aiohttp.ClientSession) -> Any:
    import taskcluster.aio

    return taskcluster.aio.WorkerManager(_copy(options), session=session)


def aio_index(options: Mapping[str, Any], session: aiohttp.ClientSession) -> Any:
    import taskcluster.aio

    return taskcluster.aio.Index(_copy(options), session=session)


def restricted_options(root_url: str, credentials: Mapping[str, str], scopes: list[str]) -> dict[str, Any]:
    """Client options acting with ``credentials`` but only with ``scopes`` (``authorizedScopes``): a
    run's credentials narrowed to what its task may do, so a task cannot reach what its scopes do not
    allow through the worker's extra ones."""
    return {"rootUrl": root_url, "credentials": dict(credentials), "authorizedScopes": list(scopes)}


async def download_artifact(
    file: Any, *, task_id: str, name: str, options: Mapping[str, Any], max_retries: int = 5
) -> None:
    """The official client's artifact download to ``file`` (seekable; rewound for each retry): the
    latest run's artifact of any storage type, 5xx and connection errors retried, object hashes checked.
    Raises the client's failures (``TaskclusterArtifactError`` for an error artifact)."""
    import taskcluster.aio
    import taskcluster.aio.download

    queue = taskcluster.aio.Queue(_copy(options))
    await taskcluster.aio.download.downloadArtifactToFile(
        file=file, taskId=task_id, name=name, queueService=queue, maxRetries=max_retries
    )


async def download_url(file: Any, url: str, *, max_retries: int = 5) -> None:
    """A plain URL's body to ``file`` with the official client's retry and streaming helpers: 5xx and
    connection errors are retried with its back-off, a 4xx raises ``aiohttp.ClientResponseError``."""
    import aiohttp
    from taskcluster.aio.reader_writer import FileWriter, streamingCopy
    from taskcluster.aio.retry import retry

    async with aiohttp.ClientSession() as session:

        async def attempt(retry_for: Any) -> None:
            file.seek(0)
            file.truncate()
            try:
                async with session.get(url) as response:
                    response.raise_for_status()
                    await streamingCopy(response.content, FileWriter(file))
            except aiohttp.ClientResponseError as error:
                if 400 <= error.status < 500:
                    raise
                retry_for(error)
            except (aiohttp.ClientError, TimeoutError) as error:
                retry_for(error)

        await retry(max_retries, attempt)


def new_task_id() -> str:
    import taskcluster

    return str(taskcluster.slugId())


async def upload_object(source: Path | BinaryIO | bytes, options: Mapping[str, Any]) -> None:
    """The official client's object upload (createUpload, the bytes inline or by PUT, finishUpload);
    a file already opened (and checked) by the caller is read from its start."""
    import taskcluster.aio.upload

    if isinstance(source, bytes):
        await taskcluster.aio.upload.uploadFromBuf(data=source, contentLength=len(source), **options)
        return
    with source.open("rb") if isinstance(source, Path) else nullcontext(source) as file:
        size = os.fstat(file.fileno()).st_size
        await taskcluster.aio.upload.uploadFromFile(file=file, contentLength=size, **options)


def _copy(options: Mapping[str, Any]) -> dict[str, Any]:
    """The client encodes credentials in place: never hand it the caller's own mappings."""
    copied = dict(options)
    if "credentials" in copied:
        copied["credentials"] = dict(copied["credentials"])
    return copied


# -- failures ---------------------------------------------------------------------------------------

# The service appends the request's details after this line; people want what comes before it.
_DETAILS_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class ClientFailure:
    status: int | None  # the HTTP status, or None when no answer came (connection error, timeout)
    message: str  # the service's whole message (a 400 lists each broken rule on its own line)

    @property
    def first_line(self) -> str:
        return self.message.splitlines()[0]


def read_failure(error: BaseException) -> ClientFailure:
    """What a failed call said; reading only attributes, so any of ``client_failures()`` will do."""
    status = getattr(error, "status_code", None) or getattr(error, "status", None)
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = str(getattr(error, "message", None) or error)
    message = message.split(_DETAILS_SEPARATOR)[0].strip() or type(error).__name__
    return ClientFailure(int(status) if status else None, message)


async def translate(what: str, operation: Awaitable[T], *, gone: frozenset[int] = frozenset()) -> T:
    """Await one aio call and turn the client's exceptions into ours; ``gone``: statuses meaning the
    run is over (``RunGone``), other 4xx are ``QueueRefused``, the rest ``TransientQueueError``."""
    import aiohttp
    import taskcluster.exceptions

    try:
        return await operation
    except taskcluster.exceptions.TaskclusterAuthFailure as error:
        raise _refusal(what, 401, read_failure(error), gone) from error
    # aiohttp's error: the async client re-raises the last 5xx itself once its retries run out.
    except (taskcluster.exceptions.TaskclusterRestFailure, aiohttp.ClientResponseError) as error:
        failure = read_failure(error)
        status = failure.status or 0
        if status >= 500:
            raise TransientQueueError(f"{what}: the queue answered {status}") from error
        raise _refusal(what, status, failure, gone) from error
    except connection_failures() as error:
        raise TransientQueueError(f"{what}: cannot reach the queue ({type(error).__name__})") from error


def _refusal(what: str, status: int, failure: ClientFailure, gone: frozenset[int]) -> RunGone | QueueRefused:
    text = f"{what}: the queue answered {status}: {failure.first_line}"
    if status in gone:
        return RunGone(text, status)
    return QueueRefused(text, status)


@contextmanager
def sync_call(what: str) -> Iterator[None]:
    """Sync calls whose failures end a command: bad input (400, 404, 409) is a ``UsageError`` with every
    reason the service gave; the rest is ``QueueUnavailable``."""
    import taskcluster.exceptions

    try:
        yield
    except taskcluster.exceptions.TaskclusterAuthFailure as error:
        failure = read_failure(error)
        raise QueueUnavailable(f"cannot {what}: authentication failed: {failure.first_line}") from error
    except taskcluster.exceptions.TaskclusterRestFailure as error:
        failure = read_failure(error)
        message = f"cannot {what}: {failure.status} {failure.message}"
        if failure.status in (400, 404, 409):
            raise UsageError(message) from error
        raise QueueUnavailable(message) from error
    except taskcluster.exceptions.TaskclusterConnectionError as error:
        failure = read_failure(error)
        raise QueueUnavailable(
            f"cannot {what}: the queue cannot be reached ({failure.first_line})"
        ) from error
    except taskcluster.exceptions.TaskclusterFailure as error:
        raise QueueUnavailable(f"cannot {what}: {read_failure(error).first_line}") from error
