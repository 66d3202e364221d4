"""The content store: downloaded mount content kept by its sha256 and shared by the worker's runs.

Layout under the store's root::

    lock              shared by runs while they use entries, exclusive while entries are collected
    blobs/<sha256>    downloaded bytes, exactly as fetched
    names/<key hash>  the sha256 of what an artifact (taskId + name) held, for payloads giving no digest
    trees/<sha256>.<format>/tree      an archive unpacked once, its files read-only
    trees/<sha256>.<format>/manifest  what was unpacked (mode, size, mtime of each file); written last
    tmp/              downloads and unpacks in progress; anything here is garbage after a crash

Entries appear by rename from ``tmp/`` when complete, so a killed worker leaves at most garbage in
``tmp/``, never a blob or tree that looks whole. A read-only directory is given to a task as hard links to
a tree's files (a second task mounting the same archive neither downloads nor unpacks it); the files are
read-only, and a tree whose files changed anyway (a task running as root, or one that chmodded them) is
found out by its manifest before the next use, and unpacked again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tcw.executors.mounts import fsutil
from tcw.executors.mounts.unpack import unpack

WRITE_BITS = 0o222


@dataclass(frozen=True)
class StoreEntry:
    path: Path
    kind: str  # "blob" or "tree"
    last_used: float
    size: int


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.names = root / "names"
        self.trees = root / "trees"
        self.tmp = root / "tmp"
        self.trash = root.parent / "trash"

    def open(self) -> None:
        for directory in (self.blobs, self.names, self.trees, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)

    # -- locking -------------------------------------------------------------------------------------

    def try_use(self) -> fsutil.Lock | None:
        """Hold while using entries; None while they are being collected (try again shortly)."""
        self.open()
        return fsutil.try_lock(self.root / "lock", shared=True)

    def try_collect(self) -> fsutil.Lock | None:
        """Exclusive hold for collecting entries, or None when some run is using the store."""
        self.open()
        return fsutil.try_lock(self.root / "lock")

    # -- blobs ---------------------------------------------------------------------------------------

    def blob(self, sha256: str) -> Path | None:
        path = self.blobs / sha256
        if not path.is_file():
            return None
        _touch(path)
        return path

    def digest_for(self, key: str) -> str | None:
        try:
            digest = (self.names / _key_name(key)).read_text().strip()
        except OSError:
            return None
        return digest if self.blob(digest) is not None else None

    def temporary(self) -> Path:
        """A fresh path in ``tmp/`` for a download or an unpack in progress."""
        return self.tmp / uuid.uuid4().hex

    def add_blob(self, temporary: Path, sha256: str, key: str | None = None) -> Path:
        """File a complete, verified download under its digest (and ``key``); returns its path."""
        path = self.blobs / sha256
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
        if key is not None:
            name = self.temporary()
            name.write_text(sha256)
            os.replace(name, self.names / _key_name(key))
        fsutil.sync_directory(self.blobs)
        return path

    def add_bytes(self, data: bytes) -> tuple[Path, str]:
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.blob(sha256)
        if existing is not None:
            return existing, sha256
        temporary = self.temporary()
        temporary.write_bytes(data)
        return self.add_blob(temporary, sha256), sha256

    # -- trees ---------------------------------------------------------------------------------------

    def tree(self, blob: Path, sha256: str, format: str) -> tuple[Path, bool]:
        """The unpacked tree of ``blob`` and whether it was unpacked now (False: a sound one was kept).
        Raises what ``unpack`` raises for a bad archive."""
        entry = self.trees / f"{sha256}.{format}"
        if _sound(entry):
            _touch(entry / "manifest")
            return entry / "tree", False
        fsutil.move_to_trash(entry, self.trash)
        staging = self.temporary()
        staging.mkdir()
        try:
            unpack(blob, format, staging / "tree")
            _freeze(staging)
            os.rename(staging, entry)
        except OSError:
            if not _sound(entry):  # unless another run filed the same tree first
                fsutil.remove_tree(staging)
                raise
        except BaseException:
            fsutil.remove_tree(staging)
            raise
        fsutil.remove_tree(staging)  # gone after a rename; left only when another run won
        return entry / "tree", True

    # -- collection ----------------------------------------------------------------------------------

    def entries(self) -> list[StoreEntry]:
        found = []
        for kind, directory in (("blob", self.blobs), ("tree", self.trees)):
            for path in _listing(directory):
                marker = path / "manifest" if kind == "tree" else path
                with contextlib.suppress(OSError):
                    used = marker.stat().st_mtime
                    size = fsutil.tree_size(path) if kind == "tree" else path.stat().st_blocks * 512
                    found.append(StoreEntry(path, kind, used, size))
        return found

    def remove(self, entry: StoreEntry) -> None:
        """Take one entry away (hold ``try_collect``'s lock); tasks keep the hard links they have."""
        fsutil.move_to_trash(entry.path, self.trash)

    def clear_tmp(self) -> None:
        """Drop what killed runs left in ``tmp/`` (hold ``try_collect``'s lock: none is running)."""
        for path in _listing(self.tmp):
            fsutil.move_to_trash(path, self.trash)


def link_tree(tree: Path, target: Path) -> None:
    """Give a task ``tree`` at ``target``: its own directories, hard links to the read-only files (a
    copy where a link is impossible, e.g. another file system), the same symlinks."""
    target.mkdir(parents=True)
    for directory, subdirectories, files in os.walk(tree):
        relative = os.path.relpath(directory, tree)
        destination = target if relative == "." else target / relative
        for name in subdirectories:
            source = os.path.join(directory, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), destination / name)
            else:
                os.mkdir(destination / name, 0o755)
        for name in files:
            source = os.path.join(directory, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), destination / name)
                continue
            try:
                os.link(source, destination / name)
            except OSError:
                shutil.copy2(source, destination / name)


def _freeze(staging: Path) -> None:
    """Make the tree's files read-only and write the manifest that later uses check them against."""
    manifest: dict[str, list[str | int]] = {}
    tree = staging / "tree"
    for directory, _, files in os.walk(tree):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                manifest[os.path.relpath(path, tree)] = ["link", os.readlink(path)]
                continue
            mode = os.lstat(path).st_mode & 0o7777
            os.chmod(path, mode & ~WRITE_BITS)
            info = os.lstat(path)
            manifest[os.path.relpath(path, tree)] = ["file", info.st_mode, info.st_size, info.st_mtime_ns]
    with open(staging / "manifest", "w", encoding="utf-8") as file:
        json.dump(manifest, file)
        file.flush()
        os.fsync(file.fileno())


def _sound(entry: Path) -> bool:
    """Whether a kept tree is complete and its files unchanged since it was unpacked."""
    try:
        manifest = json.loads((entry / "manifest").read_text())
    except (OSError, ValueError):
        return False
    tree = entry / "tree"
    try:
        for relative, recorded in manifest.items():
            path = tree / relative
            if recorded[0] == "link":
                if os.readlink(path) != recorded[1]:
                    return False
                continue
            info = os.lstat(path)
            if [info.st_mode, info.st_size, info.st_mtime_ns] != recorded[1:]:
                return False
    except (OSError, TypeError, IndexError):
        return False
    return True


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        now = time.time()
        os.utime(path, (now, now), follow_symlinks=False)


def _key_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _listing(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        return []
