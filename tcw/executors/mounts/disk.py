"""Keeping the work root's disk free: caches and stored content collected least-recently-used, and what
operators see and purge (`tcw cache list`, `tcw cache purge`).

Collection runs before the worker claims a task, and never takes what a run is using: a cache instance a
run holds is locked, and the content store is only collected while no run is using it. It first drops
garbage whatever the free space (the trash, half-made downloads, cache instances a killed worker left
unclean), then, while free space is under the minimum, the least recently used idle entries one by one.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tcw.executors.mounts import fsutil
from tcw.executors.mounts.caches import CLEAN, CacheInstance, CacheStore
from tcw.executors.mounts.store import ContentStore, StoreEntry

log = logging.getLogger(__name__)

FreeSpace = Callable[[], int]
"""Free bytes where the mounts live (a test gives a small disk of its own)."""


@dataclass
class Collection:
    removed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # wanted to go, but a run is using it
    free: int | None = None  # bytes free afterwards; None when there was nothing to look at


@dataclass(frozen=True)
class Inventory:
    caches: list[CacheInstance]
    store: list[StoreEntry]


def collect(root: Path, min_free: int, free_space: FreeSpace | None = None) -> Collection:
    """Free space under ``root`` until ``min_free`` bytes are free or nothing idle is left."""
    result = Collection()
    if not root.is_dir():
        return result  # no run has mounted anything yet
    probe = free_space or (lambda: shutil.disk_usage(root).free)
    caches, store = CacheStore(root / "caches"), ContentStore(root / "store")
    store_lock = store.try_collect()
    try:
        _drop_garbage(root, caches, store if store_lock else None)
        result.free = free = probe()
        if free >= min_free:
            return result
        candidates: list[tuple[float, CacheInstance | StoreEntry]] = [
            (instance.last_used, instance) for instance in caches.instances() if instance.state == CLEAN
        ]
        if store_lock is not None:
            candidates += [(entry.last_used, entry) for entry in store.entries()]
        else:
            result.busy.append("the content store")
        for _, candidate in sorted(candidates, key=lambda pair: pair[0]):
            if isinstance(candidate, CacheInstance):
                size = candidate.size()
                if not caches.remove_idle(candidate):
                    result.busy.append(f"cache {candidate.name}")
                    continue
                result.removed.append(f"cache {candidate.name} ({size} bytes)")
            else:
                store.remove(candidate)
                result.removed.append(
                    f"stored {candidate.kind} {candidate.path.name} ({candidate.size} bytes)"
                )
            fsutil.empty_trash(root / "trash")
            result.free = free = probe()
            if free >= min_free:
                break
        return result
    finally:
        if store_lock is not None:
            store_lock.release()


def _drop_garbage(root: Path, caches: CacheStore, store: ContentStore | None) -> None:
    for instance in caches.instances():
        if instance.state != CLEAN and not instance.in_use:
            caches.remove_idle(instance)
    if store is not None:
        store.clear_tmp()
    fsutil.empty_trash(root / "trash")


def inventory(root: Path) -> Inventory:
    return Inventory(CacheStore(root / "caches").instances(), ContentStore(root / "store").entries())


def purge(root: Path, name: str | None = None) -> Collection:
    """Purge the idle caches named ``name`` (all caches and the content store when None); what a run
    is using is left and reported busy."""
    caches, store = CacheStore(root / "caches"), ContentStore(root / "store")
    result = Collection()
    for instance in caches.instances():
        if name is not None and instance.name != name:
            continue
        if caches.remove_idle(instance):
            result.removed.append(f"cache {instance.name}")
        else:
            result.busy.append(f"cache {instance.name}")
    if name is None and store.root.is_dir():
        lock = store.try_collect()
        if lock is None:
            result.busy.append("the content store")
        else:
            with lock:
                for entry in store.entries():
                    store.remove(entry)
                    result.removed.append(f"stored {entry.kind} {entry.path.name}")
                store.clear_tmp()
    fsutil.empty_trash(root / "trash")
    return result
