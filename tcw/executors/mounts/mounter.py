"""Mounting a run's ``mounts`` before its commands and handing its caches on (or purging them) after.

``MountManager`` belongs to one executor for the worker's life; ``mounted`` is one run's use of it::

    plan = manager.plan(ctx)                     # MalformedPayload before anything is fetched
    async with manager.mounted(ctx, plan) as run:
        ... run the commands, telling run.saw_exit(returncode) ...

A cache goes back to the pool only when the block ends normally, the run was not cancelled (lost claim,
shutdown, maxRunTime's kill leaves the task failed and so raising) and the last exit status is not in
``onExitStatus.purgeCaches``; otherwise it is purged. When mounting itself fails no task code has run, so
the caches mounted so far go back as they were.

When tasks run as a user of their own (the engine gives each run's directory to it), what is mounted
becomes that user's: a file mount, a cache (walked only when its owner changes: a new or preloaded cache),
and the directories of a read-only mount, whose files stay the content store's, read-only and shared by
hard links. The mounts root itself is private to the worker's user, so a task reaches other caches and
the store only through what is mounted in its own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tcw.executors.api import MalformedPayload, ResourceUnavailable, TaskContext, WorkerShutdown
from tcw.executors.mounts import disk, fsutil
from tcw.executors.mounts.caches import CacheMoveFailed, CacheStore, HeldCache
from tcw.executors.mounts.fetch import fetch
from tcw.executors.mounts.spec import (
    FileMount,
    Mount,
    MountPlan,
    WritableCache,
    missing_scopes,
    parse_plan,
)
from tcw.executors.mounts.store import ContentStore, link_tree
from tcw.executors.mounts.unpack import (
    UnsafeArchive,
    UnsupportedFormat,
    check_archive,
    check_compression,
    decompress_to,
    unpack,
)

if TYPE_CHECKING:
    from tcw.config import Config

log = logging.getLogger(__name__)

MIB = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class MountSettings:
    root: Path | None = None  # None: "mounts" beside the runs' work directories
    allow_absolute: bool = False
    min_free_bytes: int = 10240 * MIB
    download_retries: int = 5  # after the first try, for 5xx and connection errors


class MountedRun:
    """One run's mounts: the caches it holds and the exit status that may purge them."""

    def __init__(self, plan: MountPlan) -> None:
        self.plan = plan
        self.caches: list[HeldCache] = []
        self.last_exit: int | None = None

    def saw_exit(self, returncode: int | None) -> None:
        self.last_exit = returncode

    def purge_reason(self, ctx: TaskContext, error: BaseException | None) -> str | None:
        if error is not None:
            return f"the task did not complete ({type(error).__name__}: {error})"
        if ctx.cancelled.is_set():
            return "the run was cancelled"
        if self.last_exit is not None and self.last_exit in self.plan.purge_exit_codes:
            return f"exit status {self.last_exit} is listed in onExitStatus.purgeCaches"
        return None

    def release(self, ctx: TaskContext, purge_reason: str | None) -> None:
        """Hand each cache on or purge it; synchronous (renames only), so cancellation cannot cut it."""
        for held in self.caches:
            if held.mounted_at is None:  # its preload failed, or mounting stopped before it
                held.purge()
                continue
            if purge_reason is not None:
                held.purge()
                ctx.log.info("Purged cache %s: %s", held.name, purge_reason)
                continue
            try:
                kept = held.put_back()
            except CacheMoveFailed as error:
                held.purge()
                ctx.log.error("Purged cache %s: %s", held.name, error)
                continue
            if kept:
                ctx.log.info("Cache %s kept for the next task", held.name)
            else:
                ctx.log.warning(
                    "Purged cache %s: the task left no directory at %s", held.name, held.mounted_at
                )
        self.caches = []


class MountManager:
    def __init__(self, settings: MountSettings | None = None) -> None:
        self.settings = settings or MountSettings()
        self._root = self.settings.root

    @classmethod
    def from_config(cls, config: Config) -> MountManager:
        mounts = config.mounts
        # Collect at least to the disk guard's minimum, or the guard would stop claims collection could allow.
        minimum = max(mounts.min_free_space_mb, config.worker.min_free_disk_mb)
        return cls(MountSettings(mounts.root_path(config.worker), mounts.allow_absolute, minimum * MIB))

    def root_for(self, ctx: TaskContext) -> Path:
        if self._root is None:
            self._root = ctx.work_dir.parent / "mounts"
        return self._root

    async def before_claim(self) -> None:
        """Collect idle caches and stored content while the disk is short of the minimum."""
        if self._root is None or not self._root.is_dir():
            return  # not configured and no run yet said where the work root is, or nothing mounted yet
        result = await asyncio.to_thread(disk.collect, self._root, self.settings.min_free_bytes)
        for removed in result.removed:
            log.info("disk: collected %s", removed)
        if result.free is not None and result.free < self.settings.min_free_bytes:
            log.warning(
                "disk: %d MiB free under %s, below the minimum of %d MiB (in use: %s)",
                result.free // MIB,
                self._root,
                self.settings.min_free_bytes // MIB,
                ", ".join(result.busy) or "nothing",
            )

    def plan(self, ctx: TaskContext) -> MountPlan:
        """The payload's mounts, or ``MalformedPayload`` naming every problem and missing scope."""
        plan, problems = parse_plan(ctx.payload, allow_absolute=self.settings.allow_absolute)
        for mount in plan.mounts:
            problem = _format_problem(mount)
            if problem:
                problems.append(f"{mount.describe()}: {problem}")
        scopes = ctx.task.get("scopes", [])
        held = [scope for scope in scopes if isinstance(scope, str)] if isinstance(scopes, list) else []
        missing = missing_scopes(held, plan.required_scopes())
        if missing:
            problems.append(
                f"the task lacks the scopes its mounts need: {', '.join(missing)} "
                f"(it has: {', '.join(held) or 'none'})"
            )
        if problems:
            raise MalformedPayload("mounts cannot be made: " + "; ".join(problems))
        return plan

    @contextlib.asynccontextmanager
    async def mounted(self, ctx: TaskContext, plan: MountPlan) -> AsyncIterator[MountedRun]:
        run = MountedRun(plan)
        if not plan.mounts:
            yield run
            return
        root = self.root_for(ctx)
        fsutil.make_private(root)
        try:
            await self._mount_all(ctx, run, CacheStore(root / "caches"), ContentStore(root / "store"))
        except BaseException:
            run.release(ctx, None)  # no task code ran: the caches are as they were
            raise
        try:
            yield run
        except BaseException as error:
            run.release(ctx, run.purge_reason(ctx, error))
            raise
        run.release(ctx, run.purge_reason(ctx, None))

    async def _mount_all(
        self, ctx: TaskContext, run: MountedRun, caches: CacheStore, store: ContentStore
    ) -> None:
        loop = asyncio.get_running_loop()
        owner = _task_owner(ctx)
        lock = await _store_in_use(store)
        try:
            for mount in run.plan.mounts:
                if ctx.cancelled.is_set():
                    raise WorkerShutdown("the run was cancelled while its mounts were being made")
                started = loop.time()
                target = _target(ctx, mount, owner)
                if isinstance(mount, WritableCache):
                    how = await self._mount_cache(ctx, run, caches, store, mount, target)
                    if owner is not None and os.lstat(target).st_uid != owner[0]:
                        await asyncio.to_thread(fsutil.give_tree, target, owner)  # new, or a user's change
                else:
                    fetched = await fetch(ctx, store, mount.content, retries=self.settings.download_retries)
                    how = "downloaded" if fetched.downloaded else "no download"
                    if isinstance(mount, FileMount):
                        writing = asyncio.to_thread(decompress_to, fetched.path, mount.format, target)
                        await _guarded(mount, writing)
                        if owner is not None:
                            os.lchown(target, *owner)
                    else:
                        making = asyncio.to_thread(store.tree, fetched.path, fetched.sha256, mount.format)
                        tree, unpacked = await _guarded(mount, making)
                        await asyncio.to_thread(link_tree, tree, target)
                        if owner is not None:
                            await asyncio.to_thread(fsutil.give_directories, target, owner)
                        how += ", unpacked" if unpacked else ", unpacked before: linked"
                ctx.log.info("Mounted %s in %.4f s (%s)", mount.describe(), loop.time() - started, how)
        finally:
            lock.release()

    async def _mount_cache(
        self,
        ctx: TaskContext,
        run: MountedRun,
        caches: CacheStore,
        store: ContentStore,
        mount: WritableCache,
        target: Path,
    ) -> str:
        held = await asyncio.to_thread(caches.acquire, mount.cache_name)
        run.caches.append(held)
        how = "handed on from an earlier task"
        if held.fresh:
            how = "new and empty"
            if mount.content is not None and mount.format is not None:
                fetched = await fetch(ctx, store, mount.content, retries=self.settings.download_retries)
                await _guarded(mount, asyncio.to_thread(unpack, fetched.path, mount.format, held.data))
                how = "new, preloaded"
            else:
                held.data.mkdir()
        try:
            held.mount(target, f"{ctx.task_id}/{ctx.run_id}")
        except CacheMoveFailed as error:
            raise ResourceUnavailable(f"{mount.describe()}: {error}") from error
        return how


async def _store_in_use(store: ContentStore) -> fsutil.Lock:
    """The store's shared lock, polled rather than waited for in a thread: a cancelled run must not
    leave a thread that takes the lock later and holds it for ever. Collection holds it briefly."""
    while (lock := store.try_use()) is None:  # noqa: ASYNC110 (a flock between processes: no Event)
        await asyncio.sleep(0.05)
    return lock


def _task_owner(ctx: TaskContext) -> fsutil.Owner | None:
    """The user tasks run as, when it is not the worker's: the engine gives each run's directory to it."""
    info = os.stat(ctx.work_dir)
    return None if info.st_uid == os.geteuid() else (info.st_uid, info.st_gid)


def _target(ctx: TaskContext, mount: Mount, owner: fsutil.Owner | None) -> Path:
    """Where ``mount`` goes, its missing parents made (inside the task directory, the task user's)."""
    target = ctx.work_dir / mount.path  # an absolute path (when allowed) stays absolute
    if target.is_symlink() or target.exists():
        raise MalformedPayload(f"{mount.describe()}: {target} exists already")
    missing = [parent for parent in target.parents if not parent.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        for parent in missing:
            if parent.is_relative_to(ctx.work_dir):
                os.lchown(parent, *owner)
    return target


def _format_problem(mount: Mount) -> str | None:
    if isinstance(mount, FileMount):
        return check_compression(mount.format)
    if mount.format is None:
        return None
    return check_archive(mount.format)


async def _guarded(mount: Mount, work: Awaitable[T]) -> T:
    """Await unpacking work; a bad archive is the payload's fault, a full disk the worker's."""
    try:
        return await work
    except (UnsafeArchive, UnsupportedFormat) as error:
        raise MalformedPayload(f"{mount.describe()}: archive refused: {error}") from error
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ResourceUnavailable(f"{mount.describe()}: no space left: {error}") from error
        raise MalformedPayload(f"{mount.describe()}: cannot unpack the content: {error}") from error
    except Exception as error:  # tarfile, zipfile, zlib, lzma, zstandard errors: a damaged archive
        raise MalformedPayload(
            f"{mount.describe()}: the content is not a valid {getattr(mount, 'format', None)} archive "
            f"({type(error).__name__}: {error})"
        ) from error
