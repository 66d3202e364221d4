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

import logging
import os
import pprint
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from tcw.errors import QueueRefused, QueueUnavailable, RunGone, TcwError, TransientQueueError, UsageError

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
    """The builder the pool and inspect-runs pass around (a callable of options and session)."""
    return aio_client("worker-manager", options, session)


def sync_client(service: str, options: Mapping[str, Any]) -> Any:
    """The sync client of any service by its reference name (``secrets`` -> ``taskcluster.Secrets``)."""
    import taskcluster

    return getattr(taskcluster, _class_name(service))(_copy(options))


def aio_client(service: str, options: Mapping[str, Any], session: aiohttp.ClientSession | None = None) -> Any:
    """The aio client of any service; without ``session`` it makes its own for each call."""
    import taskcluster.aio

    return getattr(taskcluster.aio, _class_name(service))(_copy(options), session=session)


def _class_name(service: str) -> str:
    """``worker-manager`` -> ``WorkerManager``; unknown names raise UsageError."""
    import taskcluster

    name = "".join(part.capitalize() for part in service.split("-"))
    if not isinstance(getattr(taskcluster, name, None), type):
        raise UsageError(f"no Taskcluster service {service!r} in the official client")
    return name


def swap_credentials(client: Any, credentials: Mapping[str, str]) -> None:
    """Make a client sign its later calls with ``credentials``: the client reads its options on each
    call, so one assignment swaps them and a call in flight completes with the old ones. (A sync client
    in another thread reads clientId and accessToken one after the other; a swap between the two reads
    fails that one call with a 401, which the client's caller sees as any auth failure.)"""
    client.options = {**client.options, "credentials": dict(credentials)}


def hawk_ext(credentials: Mapping[str, str], authorized_scopes: Sequence[str]) -> str:
    """The Hawk ``ext`` the official client sends for these credentials restricted to these scopes (the
    task proxy signs with it)."""
    import taskcluster

    options = {"rootUrl": "http://unused.invalid", "credentials": dict(credentials)}
    ext = taskcluster.Secrets({**options, "authorizedScopes": list(authorized_scopes)}).makeHawkExt()
    return ext.decode() if isinstance(ext, bytes) else str(ext)


def restricted_options(root_url: str, credentials: Mapping[str, str], scopes: list[str]) -> dict[str, Any]:
    """Client options acting with ``credentials`` but only with ``scopes`` (``authorizedScopes``): a
    run's credentials narrowed to what its task may do, so a task cannot reach what its scopes do not
    allow through the worker's extra ones."""
    return {"rootUrl": root_url, "credentials": dict(credentials), "authorizedScopes": list(scopes)}


async def aio_download_latest_artifact(
    file: Any, *, task_id: str, name: str, options: Mapping[str, Any], max_retries: int = 5
) -> None:
    """The aio face of ``download_artifact``, to ``file`` (seekable; rewound for each retry): the
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


def download_artifact(
    options: Mapping[str, Any], task_id: str, run_id: int, name: str, file: BinaryIO | None
) -> bytes:
    """The official client's artifact download (object, s3 and reference artifacts; links followed by
    the queue; gzip content-encoding decoded), into ``file`` (seekable: retries start it over) or, when
    ``file`` is None, returned. An error artifact raises ``ArtifactError`` with its reason and message;
    any other failure is read by ``sync_call``."""
    import asyncio

    import aiohttp
    import taskcluster.aio.download
    import taskcluster.exceptions

    async def fetch() -> bytes:
        async with aio_session(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)) as session:
            arguments = {"taskId": task_id, "runId": str(run_id), "name": name}
            queue = aio_queue(options, session)
            if file is not None:
                await taskcluster.aio.download.downloadArtifactToFile(
                    file=file, queueService=queue, **arguments
                )
                return b""
            data, _ = await taskcluster.aio.download.downloadArtifactToBuf(queueService=queue, **arguments)
            return bytes(data)

    what = f"download {name} of task {task_id} run {run_id}"
    try:
        with sync_call(what):
            try:
                return asyncio.run(fetch())
            except taskcluster.exceptions.TaskclusterArtifactError as error:  # before sync_call reads it
                raise ArtifactError(f"{name}: an error artifact ({error.reason}): {error}") from error
    except aiohttp.ClientResponseError as error:  # the bytes' own URL answered 4xx
        raise QueueUnavailable(f"cannot {what}: its URL answered {error.status} {error.message}") from error


def _copy(options: Mapping[str, Any]) -> dict[str, Any]:
    """The client encodes credentials in place: never hand it the caller's own mappings. (Every client
    is built through here, so this is where its Hawk library is made to stop formatting debug strings.)"""
    defer_mohawk_debug_formatting()
    copied = dict(options)
    if "credentials" in copied:
        copied["credentials"] = dict(copied["credentials"])
    return copied


class _PformatWhenLogged:
    """What a mohawk module sees as ``pprint``: ``pformat`` formats only if the module's logger would
    emit a DEBUG record, and answers a placeholder that nobody sees otherwise."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def pformat(self, value: object) -> str:
        if self._log.isEnabledFor(logging.DEBUG):
            return pprint.pformat(value)
        return "(not formatted: DEBUG logging is off)"


@cache
def defer_mohawk_debug_formatting() -> None:
    """Make mohawk (the Hawk library of the official client, and of the local deployment's checks) skip
    formatting debug messages nobody will see.

    mohawk 1.1.0, its latest release, formats its debug messages before calling ``log.debug`` on every
    request signed or verified: ``log.debug("...{parts}".format(parts=pprint.pformat(parts)))``, where
    ``parts`` is the parsed URL, the parsed header, or the whole payload. ``pprint`` of a payload is the
    cost: ~0.2 ms to sign a 200-byte body, 0.8 ms for 5 kB, 11 ms for 100 kB, all thrown away unless
    mohawk's loggers are at DEBUG. Its modules reach ``pformat`` through their module global ``pprint``;
    this gives ``mohawk.base`` and ``mohawk.util`` one that checks, as ``log.debug`` itself does, whether
    the record would be emitted, so with mohawk's debug logging on its output is what it always was.
    A mohawk without those globals (a later release) is left as it is.
    """
    import mohawk.base
    import mohawk.util

    for module in (mohawk.base, mohawk.util):
        if getattr(module, "pprint", None) is pprint and isinstance(
            getattr(module, "log", None), logging.Logger
        ):
            module.pprint = _PformatWhenLogged(module.log)


# -- failures ---------------------------------------------------------------------------------------


class ArtifactError(TcwError):
    """The artifact asked for is an ``error`` artifact: the worker said why it is missing (exit 1)."""


# The service appends the request's details after this line; people want what comes before it.
_DETAILS_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class ClientFailure:
    status: int | None  # the HTTP status, or None when no answer came (connection error, timeout)
    message: str  # the service's whole message (a 400 lists each broken rule on its own line)
    from_service: bool = True  # False: the answer had no Taskcluster error body (not a deployment?)

    @property
    def first_line(self) -> str:
        return self.message.splitlines()[0]


def read_failure(error: BaseException) -> ClientFailure:
    """What a failed call said; reading only attributes, so any of ``client_failures()`` will do."""
    status = getattr(error, "status_code", None) or getattr(error, "status", None)
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    from_service = isinstance(message, str) and bool(message.strip())
    if not isinstance(message, str) or not message.strip():
        message = str(getattr(error, "message", None) or error)
    message = message.split(_DETAILS_SEPARATOR)[0].strip() or type(error).__name__
    return ClientFailure(int(status) if status else None, message, from_service)


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
    if 400 <= status < 500 and not failure.from_service:
        text = f"{what}: {not_a_deployment(status)}"
    if status in gone:
        return RunGone(text, status)
    return QueueRefused(text, status)


@contextmanager
def sync_call(what: str, client: Any = None) -> Iterator[None]:
    """Sync calls whose failures end a command, each said in one line: bad input (400, 404, 409) is a
    ``UsageError`` with every reason the service gave; the rest is ``QueueUnavailable``. ``client`` (the
    client making the call) lets a refusal say whose credentials were used, or that there were none."""
    import taskcluster.exceptions

    try:
        yield
    except taskcluster.exceptions.TaskclusterAuthFailure as error:
        raise QueueUnavailable(f"cannot {what}: {_auth_refusal(read_failure(error), client)}") from error
    except taskcluster.exceptions.TaskclusterRestFailure as error:
        failure = read_failure(error)
        if failure.status == 403 and missing_scopes(failure.message):
            raise QueueUnavailable(f"cannot {what}: {_scope_refusal(failure, client)}") from error
        if failure.status and 400 <= failure.status < 500 and not failure.from_service:
            raise QueueUnavailable(f"cannot {what}: {not_a_deployment(failure.status)}") from error
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


def not_a_deployment(status: int) -> str:
    """What a 4xx without Taskcluster's error body means: the root URL is some other web server."""
    return (
        f"the root URL answers (HTTP {status}), but not as a Taskcluster deployment (no Taskcluster error "
        "body); check --root-url / TASKCLUSTER_ROOT_URL"
    )


NO_CREDENTIALS = "no credentials: TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN are unset"


def _client_id(client: Any) -> str | None:
    credentials = (getattr(client, "options", None) or {}).get("credentials") or {}
    client_id = credentials.get("clientId") if isinstance(credentials, Mapping) else None
    return client_id.decode() if isinstance(client_id, bytes) else client_id


def _auth_refusal(failure: ClientFailure, client: Any) -> str:
    client_id = _client_id(client)
    if "bad mac" in failure.message.lower():
        whose = f"client id {client_id}" if client_id else "the client id"
        return f"authentication failed: the access token does not match {whose} (Bad mac)"
    return f"authentication failed: {failure.first_line}"


def _scope_refusal(failure: ClientFailure, client: Any) -> str:
    client_id = _client_id(client)
    who = f"client {client_id}" if client_id else NO_CREDENTIALS
    return f"the service refused it (403): missing scopes {missing_scopes(failure.message)} ({who})"


def missing_scopes(message: str) -> str:
    """The scopes a 403 says are missing (the fenced block after "missing the following scopes"), as one
    line: ``a and b and one of (c, d)``; empty when the message is not a scope refusal."""
    import json

    _, found, rest = message.partition("missing the following scopes")
    parts = rest.split("```")
    if not found or len(parts) < 3:
        return ""
    block = parts[1].strip()
    try:
        return _expression(json.loads(block))
    except ValueError:
        return " ".join(block.split())


def _expression(value: Any) -> str:
    if isinstance(value, Mapping) and len(value) == 1:
        ((operator, items),) = value.items()
        rendered = [_expression(item) for item in items] if isinstance(items, list) else [str(items)]
        if operator == "AnyOf" and len(rendered) > 1:
            return f"one of ({', '.join(rendered)})"
        return " and ".join(rendered)
    if isinstance(value, list):
        return " and ".join(_expression(item) for item in value)
    return str(value)
