"""What a payload's ``mounts`` ask for, read into plain values, and the scopes they need.

The shapes are generic-worker's (``fileMount``, ``readOnlyDirectory``, ``writableDirectoryCache``, each
with a ``content`` that is an artifact, an indexed artifact, a URL, raw text or base64). Paths are
relative to the task directory; one that is absolute, or that leaves the task directory through
``..``, is refused unless the worker allows absolute mounts. Two mounts may not overlap (one inside or
at another): a cache moved back after the task would otherwise carry another mount's files with it,
and a path could lead through a symlink an earlier mount unpacked.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SHA256_PATTERN = re.compile(r"^[a-f0-9]{64}\Z")
PUBLIC_PREFIX = "public/"


@dataclass(frozen=True)
class ArtifactContent:
    task_id: str
    artifact: str
    sha256: str | None = None

    @property
    def key(self) -> str:
        """What the content store files it under when no digest is given (artifacts never change)."""
        return f"artifact:{self.task_id}:{self.artifact}"

    def describe(self) -> str:
        return f"artifact {self.artifact} of task {self.task_id}"


@dataclass(frozen=True)
class IndexedContent:
    namespace: str
    artifact: str
    sha256: None = None

    def describe(self) -> str:
        return f"artifact {self.artifact} of the task indexed at {self.namespace}"


@dataclass(frozen=True)
class UrlContent:
    url: str
    sha256: str | None = None

    def describe(self) -> str:
        return f"URL {self.url}"


@dataclass(frozen=True)
class InlineContent:
    data: bytes
    kind: str  # "raw" or "base64"
    sha256: None = None

    def describe(self) -> str:
        return f"{self.kind} content ({len(self.data)} bytes)"


Content = ArtifactContent | IndexedContent | UrlContent | InlineContent


@dataclass(frozen=True)
class FileMount:
    path: str  # as the payload gives it; the target is resolved against the work dir
    content: Content
    format: str | None = None  # compression, e.g. gz

    def describe(self) -> str:
        return f"file {self.path}"


@dataclass(frozen=True)
class ReadOnlyDirectory:
    path: str
    content: Content
    format: str  # archive, e.g. tar.gz

    def describe(self) -> str:
        return f"read-only directory {self.path}"


@dataclass(frozen=True)
class WritableCache:
    path: str
    cache_name: str
    content: Content | None = None
    format: str | None = None

    def describe(self) -> str:
        return f"cache {self.cache_name} at {self.path}"


Mount = FileMount | ReadOnlyDirectory | WritableCache


@dataclass(frozen=True)
class MountPlan:
    """A payload's mounts, checked, with the exit statuses that purge its caches."""

    mounts: tuple[Mount, ...] = ()
    purge_exit_codes: frozenset[int] = frozenset()

    def required_scopes(self) -> list[str]:
        """The scopes a task must hold: one per cache, one per non-public artifact it reads."""
        needed: list[str] = []
        for mount in self.mounts:
            if isinstance(mount, WritableCache):
                needed.append(f"generic-worker:cache:{mount.cache_name}")
            content = mount.content
            if isinstance(content, ArtifactContent | IndexedContent) and not _is_public(content.artifact):
                needed.append(f"queue:get-artifact:{content.artifact}")
        return list(dict.fromkeys(needed))


def parse_plan(payload: Mapping[str, Any], *, allow_absolute: bool) -> tuple[MountPlan, list[str]]:
    """The payload's mounts and every problem with them (empty when they can be mounted)."""
    problems: list[str] = []
    value = payload.get("mounts", [])
    mounts: list[Mount] = []
    if not isinstance(value, list):
        problems.append("mounts: must be a list")
        value = []
    for index, item in enumerate(value):
        mount = _parse_mount(f"mounts[{index}]", item, problems)
        if mount is not None:
            problem = check_path(mount.path, allow_absolute=allow_absolute)
            if problem:
                problems.append(f"mounts[{index}]: {problem}")
            else:
                mounts.append(mount)
    problems.extend(_overlaps(mounts))
    purge = _parse_purge(payload.get("onExitStatus", {}), problems)
    return MountPlan(tuple(mounts), purge), problems


def check_path(path: str, *, allow_absolute: bool) -> str | None:
    """Why ``path`` cannot be a mount target, or None."""
    if not path or "\0" in path:
        return "the path must be a non-empty string"
    if os.path.isabs(path):
        if allow_absolute:
            return None
        return (
            f"{path} is absolute; this worker mounts only inside the task directory "
            "(mounts.allow_absolute lets it mount anywhere)"
        )
    normal = os.path.normpath(path)
    if normal in {".", ".."} or normal.startswith("../"):
        return f"{path} leaves the task directory (or is the task directory itself)"
    return None


def _overlaps(mounts: Sequence[Mount]) -> list[str]:
    parts = [PurePosixPath(os.path.normpath(mount.path)).parts for mount in mounts]
    problems = []
    for first in range(len(mounts)):
        for second in range(first + 1, len(mounts)):
            shorter = min(len(parts[first]), len(parts[second]))
            if parts[first][:shorter] == parts[second][:shorter]:
                problems.append(
                    f"mounts: {mounts[first].describe()} and {mounts[second].describe()} overlap; "
                    "each mount needs a place of its own"
                )
    return problems


def _parse_mount(where: str, item: object, problems: list[str]) -> Mount | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be an object")
        return None
    if "cacheName" in item:
        return _parse_cache(where, item, problems)
    if "file" in item:
        path, content = _text(item, "file"), _parse_content(f"{where}.content", item.get("content"), problems)
        format = item.get("format")
        if path is None or (format is not None and not isinstance(format, str)):
            problems.append(f"{where}: a fileMount needs a string file (and a string format, if any)")
            return None
        return FileMount(path, content, format) if content is not None else None
    if "directory" in item:
        path, format = _text(item, "directory"), _text(item, "format")
        content = _parse_content(f"{where}.content", item.get("content"), problems)
        if path is None or format is None:
            problems.append(f"{where}: a readOnlyDirectory needs a string directory and an archive format")
            return None
        return ReadOnlyDirectory(path, content, format) if content is not None else None
    problems.append(f"{where}: not a fileMount, readOnlyDirectory or writableDirectoryCache")
    return None


def _parse_cache(where: str, item: Mapping[str, Any], problems: list[str]) -> WritableCache | None:
    name, path = _text(item, "cacheName"), _text(item, "directory")
    if not name or path is None:
        problems.append(f"{where}: a writableDirectoryCache needs a cacheName and a directory")
        return None
    if ("content" in item) != ("format" in item):
        problems.append(f"{where}: a cache's preload needs both content and format")
        return None
    if "content" not in item:
        return WritableCache(path, name)
    content = _parse_content(f"{where}.content", item["content"], problems)
    format = _text(item, "format")
    if format is None:
        problems.append(f"{where}.format: must be a string")
        return None
    return WritableCache(path, name, content, format) if content is not None else None


def _parse_content(where: str, value: object, problems: list[str]) -> Content | None:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be an object")
        return None
    sha256 = value.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and SHA256_PATTERN.match(sha256)):
        problems.append(f"{where}.sha256: must be 64 lower-case hex digits")
        return None
    if isinstance(value.get("raw"), str):
        return InlineContent(value["raw"].encode("utf-8"), "raw")
    if isinstance(value.get("base64"), str):
        try:
            return InlineContent(base64.b64decode(value["base64"], validate=True), "base64")
        except (binascii.Error, ValueError):
            problems.append(f"{where}.base64: not valid base64")
            return None
    if isinstance(value.get("url"), str):
        return UrlContent(value["url"], sha256)
    artifact = value.get("artifact")
    if isinstance(artifact, str) and artifact and isinstance(value.get("taskId"), str):
        return ArtifactContent(value["taskId"], artifact, sha256)
    if isinstance(artifact, str) and artifact and isinstance(value.get("namespace"), str):
        return IndexedContent(value["namespace"], artifact)
    problems.append(f"{where}: needs taskId+artifact, namespace+artifact, url, raw or base64")
    return None


def _parse_purge(value: object, problems: list[str]) -> frozenset[int]:
    purge = value.get("purgeCaches", []) if isinstance(value, Mapping) else None
    if not isinstance(purge, list) or not all(type(code) is int for code in purge):
        problems.append("onExitStatus.purgeCaches: must be a list of exit codes")
        return frozenset()
    return frozenset(purge)


def _is_public(artifact: str) -> bool:
    return artifact.startswith(PUBLIC_PREFIX)


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def missing_scopes(held: Sequence[str], required: Sequence[str]) -> list[str]:
    """The required scopes that ``held`` does not satisfy (exact, or a held scope ending in ``*``).

    Roles (``assume:...``) are not expanded here; the caller leaves those cases to the queue, which
    enforces artifact scopes itself against the run's credentials restricted to the task's scopes."""
    return [scope for scope in required if not any(_satisfies(have, scope) for have in held)]


def _satisfies(held: str, required: str) -> bool:
    return held == required or (held.endswith("*") and required.startswith(held[:-1]))
