"""Collecting task statuses and worker records from the queue, concurrently and each only once.

Every call goes through the official ``taskcluster.aio`` client (its hawk signing and retries, built by
``tcw.taskcluster_client``) behind one semaphore, so ``--concurrency`` bounds the requests in flight
however many sources are given. Task groups come first because one ``listTaskGroup`` page carries a
thousand statuses; the per-task ``status`` calls that recent tasks and explicit ids need are then made
only for tasks not already known.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from tcw.errors import QueueUnavailable, UsageError
from tcw.inspect.runs import MANAGER_KEY, WorkerInfo, WorkerKey
from tcw.taskcluster_client import (
    ClientFailure,
    aio_queue,
    aio_session,
    aio_worker_manager,
    client_failures,
    read_failure,
)

log = logging.getLogger(__name__)

STATUS_BATCH = 1000  # task ids per ``statuses`` call: the queue's largest page
REQUEST_TIMEOUT = 60.0  # seconds per request; the sync client's default would be none at all


class Progress(Protocol):
    """Where collection reports how far it got (a rich bar on a terminal, nothing otherwise)."""

    def add_total(self, count: int) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class NoProgress:
    def add_total(self, count: int) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Sources:
    """What to read runs from; any combination."""

    task_groups: tuple[str, ...] = ()
    task_queues: tuple[str, ...] = ()  # "provisionerId/workerType"
    task_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.task_groups or self.task_queues or self.task_ids)


@dataclass
class Collection:
    """Everything fetched: task statuses by taskId, worker records by worker, and the calls it took."""

    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: dict[WorkerKey, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    pool_errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # worker-manager's, by pool

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def worker_infos(self) -> dict[WorkerKey, WorkerInfo]:
        return {key: WorkerInfo.from_record(record) for key, record in self.workers.items()}


class QueueReader:
    """The queue as inspection uses it: bounded, counted calls whose failures become ``QueueUnavailable``."""

    def __init__(self, queue: Any, concurrency: int, calls: Counter[str]) -> None:
        self._queue = queue
        self._slots = asyncio.Semaphore(concurrency)
        self._calls = calls

    async def call(
        self, method: str, *args: Any, missing_ok: bool = False, label: str | None = None, **kwargs: Any
    ) -> Any:
        """Call ``method`` of the official client; with ``missing_ok`` a 404 returns None.

        ``label`` stands for the arguments in error messages (a payload of a thousand ids is no message).
        """
        async with self._slots:
            self._calls[method] += 1
            try:
                return await getattr(self._queue, method)(*args, **kwargs)
            except client_failures() as error:
                failure = read_failure(error)
                if missing_ok and failure.status == 404:
                    return None
                raise _unavailable(method, label or ", ".join(map(str, args)), failure) from error

    async def pages(
        self, method: str, *args: Any, page_size: int | None, missing_ok: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a paginated list: follow ``continuationToken`` until a page has none; with
        ``missing_ok``, a 404 is no page at all."""
        query: dict[str, Any] = {"limit": page_size} if page_size else {}
        while True:
            page = await self.call(method, *args, query=dict(query), missing_ok=missing_ok)
            if page is None:
                return
            yield page
            token = page.get("continuationToken")
            if not token:
                return
            query["continuationToken"] = token

    async def items(
        self, method: str, *args: Any, key: str, page_size: int | None, missing_ok: bool = False
    ) -> list[Any]:
        pages = self.pages(method, *args, page_size=page_size, missing_ok=missing_ok)
        return [item async for page in pages for item in page[key]]


def _unavailable(method: str, arguments: str, failure: ClientFailure) -> QueueUnavailable | UsageError:
    """A 400 is the request's fault (a bad task group id...): every reason the service gave, exit 2, as
    `tcw task status` says it; anything else means the queue cannot be used (exit 5)."""
    if failure.status == 400:
        return UsageError(f"queue call {method}({arguments}) refused: 400 {failure.message}")
    code = f"HTTP {failure.status}: " if failure.status else ""
    return QueueUnavailable(f"queue call {method}({arguments}) failed: {code}{failure.first_line}")


class _Collector:
    def __init__(
        self, reader: QueueReader, collection: Collection, progress: Progress, page_size: int | None
    ):
        self.reader = reader
        self.collection = collection
        self.progress = progress
        self.page_size = page_size
        self.listed_pools: set[str] = set()

    async def task_group(self, task_group_id: str) -> None:
        async for page in self.reader.pages("listTaskGroup", task_group_id, page_size=self.page_size):
            tasks = page.get("tasks", [])
            self.progress.add_total(len(tasks))
            for entry in tasks:
                status = entry["status"]
                self.collection.statuses[status["taskId"]] = status
            self.progress.advance(len(tasks))

    async def task_queue(self, task_queue_id: str) -> list[str]:
        """The worker records of a pool and the task ids its workers ran recently."""
        provisioner_id, worker_type = _split_task_queue(task_queue_id)
        self.listed_pools.add(task_queue_id)
        listed = await self.reader.items(
            "listWorkers", provisioner_id, worker_type, key="workers", page_size=self.page_size
        )
        self.progress.add_total(len(listed))
        details = await asyncio.gather(*(self._worker(task_queue_id, entry) for entry in listed))
        return [task_id for recent in details for task_id in recent]

    async def _worker(self, task_queue_id: str, entry: Mapping[str, Any]) -> list[str]:
        provisioner_id, worker_type = _split_task_queue(task_queue_id)
        key = WorkerKey(task_queue_id, entry["workerGroup"], entry["workerId"])
        worker = await self.reader.call(
            "getWorker", provisioner_id, worker_type, key.worker_group, key.worker_id, missing_ok=True
        )
        self.progress.advance()
        if worker is None:  # the row expired between the list and the get (taskcluster#7389)
            self.collection.workers[key] = dict(entry)
            return []
        self.collection.workers[key] = {k: v for k, v in worker.items() if k != "recentTasks"}
        return [recent["taskId"] for recent in worker.get("recentTasks", [])]

    async def statuses(self, named: Iterable[str], recent: Iterable[str]) -> None:
        """The status of every task not yet known, a thousand per ``statuses`` call.

        ``statuses`` is experimental; a queue without it (404) gets one ``status`` call per task instead. A
        named task must exist; a recent task may have expired since its worker ran it.
        """
        wanted = {t: False for t in recent if t not in self.collection.statuses}
        wanted.update({t: True for t in named if t not in self.collection.statuses})
        if not wanted:
            return
        self.progress.add_total(len(wanted))
        ids = list(wanted)
        size = min(self.page_size or STATUS_BATCH, STATUS_BATCH)
        batches = await asyncio.gather(
            *(self._status_batch(ids[i : i + size]) for i in range(0, len(ids), size))
        )
        if not all(batches):
            log.info("this queue has no statuses endpoint; asking for one status per task")
            await asyncio.gather(*(self._status(t) for t in ids if t not in self.collection.statuses))
        missing = [t for t, required in wanted.items() if t not in self.collection.statuses and required]
        if missing:
            raise UsageError(f"the queue has no task {', '.join(missing)}")
        gone = sum(1 for t in wanted if t not in self.collection.statuses)
        if gone:
            log.warning("%d recent tasks are gone from the queue (expired); skipping them", gone)

    async def _status_batch(self, task_ids: list[str]) -> bool:
        """Statuses of up to a thousand tasks; False when the queue has no ``statuses`` endpoint."""
        query: dict[str, Any] = {"limit": len(task_ids)}
        while True:
            label = f"{len(task_ids)} task ids"
            page = await self.reader.call(
                "statuses", payload={"taskIds": task_ids}, query=dict(query), label=label, missing_ok=True
            )
            if page is None:
                return False
            for entry in page.get("statuses", []):
                self.collection.statuses[entry["taskId"]] = entry["status"]
            self.progress.advance(len(page.get("statuses", [])))
            if not page.get("continuationToken"):
                return True
            query["continuationToken"] = page["continuationToken"]

    async def _status(self, task_id: str) -> None:
        answer = await self.reader.call("status", task_id, missing_ok=True)
        self.progress.advance()
        if answer is not None:
            self.collection.statuses[task_id] = answer["status"]

    async def pool_workers(self) -> None:
        """Worker records (quarantine state) for pools seen only through task statuses."""
        pools = {_task_queue_of(status) for status in self.collection.statuses.values()} - self.listed_pools
        await asyncio.gather(*(self._pool_workers(pool) for pool in sorted(pools)))

    async def _pool_workers(self, task_queue_id: str) -> None:
        provisioner_id, worker_type = _split_task_queue(task_queue_id)
        try:
            listed = await self.reader.items(
                "listWorkers", provisioner_id, worker_type, key="workers", page_size=self.page_size
            )
        except QueueUnavailable as error:
            log.warning("quarantine state of %s unknown: %s", task_queue_id, error.message)
            return
        for entry in listed:
            self.collection.workers[WorkerKey(task_queue_id, entry["workerGroup"], entry["workerId"])] = entry


async def managed_pool(reader: QueueReader, collection: Collection, pool: str, page_size: int | None) -> None:
    """worker-manager's view of a pool: its workers' records (kept in the queue's records of the same
    workers) and the errors its workers reported. A deployment without worker-manager, or without that
    pool, has no view to add; one that refuses to show it costs a warning, not the inspection."""
    try:
        managed, errors = await asyncio.gather(
            reader.items(
                "listWorkersForWorkerPool", pool, key="workers", page_size=page_size, missing_ok=True
            ),
            reader.items(
                "listWorkerPoolErrors", pool, key="workerPoolErrors", page_size=page_size, missing_ok=True
            ),
        )
    except QueueUnavailable as error:
        log.warning("worker-manager's view of %s unknown: %s", pool, error.message)
        return
    for record in managed:
        key = WorkerKey(pool, record["workerGroup"], record["workerId"])
        collection.workers.setdefault(key, {})[MANAGER_KEY] = record
    if errors:
        collection.pool_errors[pool] = errors


def _split_task_queue(task_queue_id: str) -> tuple[str, str]:
    provisioner_id, _, worker_type = task_queue_id.partition("/")
    return provisioner_id, worker_type


def _task_queue_of(status: Mapping[str, Any]) -> str:
    return str(status.get("taskQueueId") or f"{status['provisionerId']}/{status['workerType']}")


@asynccontextmanager
async def queue_reader(
    client_options: Mapping[str, Any],
    concurrency: int,
    calls: Counter[str],
    client: Callable[[Mapping[str, Any], aiohttp.ClientSession], Any] = aio_queue,
) -> AsyncIterator[QueueReader]:
    """A reader over one HTTP session (connections are reused across all calls), closed on exit; of the
    queue, or of the service ``client`` builds (``aio_worker_manager``)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aio_session(timeout=timeout) as session:
        yield QueueReader(client(client_options, session), concurrency, calls)


async def collect(
    client_options: Mapping[str, Any],
    sources: Sources,
    *,
    concurrency: int,
    progress: Progress | None = None,
    page_size: int | None = None,
) -> Collection:
    """Fetch every status the sources name (each once) and the worker records of their pools."""
    collection = Collection()
    async with queue_reader(client_options, concurrency, collection.calls) as reader:
        collector = _Collector(reader, collection, progress or NoProgress(), page_size)
        groups = [collector.task_group(group) for group in dict.fromkeys(sources.task_groups)]
        pools = [collector.task_queue(pool) for pool in dict.fromkeys(sources.task_queues)]
        _, recent = await asyncio.gather(asyncio.gather(*groups), asyncio.gather(*pools))
        await collector.statuses(sources.task_ids, (task_id for ids in recent for task_id in ids))
        await collector.pool_workers()
    async with queue_reader(client_options, concurrency, collection.calls, aio_worker_manager) as manager:
        managed = dict.fromkeys(sources.task_queues)
        await asyncio.gather(*(managed_pool(manager, collection, pool, page_size) for pool in managed))
    return collection


SAVED_VERSION = 1


def saved_document(collection: Collection, root_url: str | None) -> dict[str, Any]:
    """What ``--save`` writes: the raw statuses and worker records, enough to analyse again offline."""
    return {
        "version": SAVED_VERSION,
        "rootUrl": root_url,
        "statuses": list(collection.statuses.values()),
        "workerPoolErrors": collection.pool_errors,
        "workers": [
            {
                **record,
                "taskQueueId": key.task_queue_id,
                "workerGroup": key.worker_group,
                "workerId": key.worker_id,
            }
            for key, record in sorted(collection.workers.items())
        ],
    }


def load_saved(path: Path) -> tuple[Collection, str | None]:
    """A collection saved by ``--save``, and the root URL it came from."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read saved runs: {error.strerror or error}") from error
    except ValueError as error:
        raise UsageError(f"{path}: not a file written by --save (not JSON: {error})") from error
    if not isinstance(document, dict) or document.get("version") != SAVED_VERSION:
        raise UsageError(f"{path}: not a file written by --save (expected version {SAVED_VERSION})")
    try:
        collection = Collection(
            statuses={status["taskId"]: status for status in document["statuses"]},
            workers={
                WorkerKey(record["taskQueueId"], record["workerGroup"], record["workerId"]): record
                for record in document["workers"]
            },
            pool_errors=dict(document.get("workerPoolErrors") or {}),
        )
    except (KeyError, TypeError) as error:
        raise UsageError(f"{path}: saved runs are incomplete (missing {error})") from error
    return collection, document.get("rootUrl")
