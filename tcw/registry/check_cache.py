"""Compiled payload checks kept on disk, so that a worker starting again neither imports jsonschema nor
compiles its queue's schema again (together about 90 ms of CPU per start, paid by every `tcw run` and
`tcw claim-once`).

An entry holds a schema's fast check (``tcw.registry.fast``: fastjsonschema's code, as a code object) and
stands for "this schema passed its check at load" (``tcw.registry.compiler``): it is written only after
both. It is keyed by a hash of everything that went into it: the schema, the address it came from, and the
versions of Python, tcw, jsonschema and fastjsonschema. A changed schema is another key, so it is checked
and compiled again. Only schemas whose every ``$ref`` points inside themselves are kept: a document they
refer to could change while they do not.

The entries are code the worker runs, so the directory is used only when it is the worker's own: owned by
its user and writable by nobody else (it is made so, mode 0700), opened without following a symbolic
link, and each entry a regular file owned by the user and writable by nobody else. Anything else is
neither read nor written (one warning) and the worker compiles as if there were no cache. A task process
running as the worker's own user could write there, as it could write the worker's installation: where
tasks are not trusted, run them as another user (``worker.task_user``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import marshal
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import CodeType
from typing import Any

from tcw import __version__
from tcw.registry.fast import FastCode

log = logging.getLogger(__name__)

ENTRY_FORMAT = 1
MAX_ENTRY_BYTES = 16 * 1024 * 1024
_NOT_OURS = 0o022  # group or others may write
_warned: set[str] = set()


class CheckCache:
    """The directory of compiled checks; every failure to read or write it only costs a compile."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, schema: Mapping[str, Any], base_uri: str) -> FastCode | None:
        """The stored check for this schema from this address, if there is one to trust."""
        key = entry_key(schema, base_uri)
        if key is None:
            return None
        data = self._read(f"{key}.check")
        if data is None:
            return None
        try:
            entry = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            entry = None
        if not _well_formed(entry, key):
            log.debug("check cache: entry %s unreadable; compiling again", key)
            return None
        _, _, dialect, function, code = entry
        return FastCode(dialect, function, code)

    def store(self, schema: Mapping[str, Any], base_uri: str, code: FastCode) -> None:
        """Keep ``code`` for the next start (nothing when the schema cannot be kept or the directory is
        not the worker's own)."""
        key = entry_key(schema, base_uri)
        if key is None:
            return
        data = marshal.dumps((ENTRY_FORMAT, key, code.dialect, code.function, code.code))
        with self._opened(create=True) as directory:
            if directory is not None:
                _write_atomically(directory, f"{key}.check", data)

    def _read(self, name: str) -> bytes | None:
        with self._opened(create=False) as directory:
            if directory is None:
                return None
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
            except OSError:
                return None  # not there (or a symbolic link planted in its place)
            with os.fdopen(fd, "rb") as file:
                info = os.fstat(file.fileno())
                if not _is_ours(info) or not stat.S_ISREG(info.st_mode):
                    self._distrust(f"{self.directory / name} is not a file of this user's alone")
                    return None
                data = file.read(MAX_ENTRY_BYTES + 1)
                return data if 0 < len(data) <= MAX_ENTRY_BYTES else None

    @contextlib.contextmanager
    def _opened(self, *, create: bool) -> Iterator[int | None]:
        """The directory, opened without following links, or None when it is missing or not ours."""
        try:
            if create:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            yield None
            return
        try:
            if _is_ours(os.fstat(fd)):
                yield fd
            else:
                self._distrust(f"{self.directory} is not this user's alone (owner or mode)")
                yield None
        finally:
            os.close(fd)

    def _distrust(self, why: str) -> None:
        if why not in _warned:
            _warned.add(why)
            log.warning("check cache not used: %s; payload schemas are compiled at every start", why)


def entry_key(schema: Mapping[str, Any], base_uri: str) -> str | None:
    """The hash an entry for ``schema`` is kept under, or None when the schema cannot be kept."""
    if not _self_contained(schema, top=True):
        return None
    material = {"format": ENTRY_FORMAT, **_versions(), "base": base_uri, "schema": schema}
    try:
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # a YAML schema holding a date, say: not JSON, so not kept
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _self_contained(node: Any, *, top: bool = False) -> bool:
    """Every ``$ref`` a fragment of this document, and no ``$id`` below the top moving the base. Only
    string keys, too: JSON would write a YAML key 1 as "1", and the two schemas would share a hash."""
    if isinstance(node, list):
        return all(_self_contained(item) for item in node)
    if not isinstance(node, dict):
        return True
    if not all(isinstance(key, str) for key in node):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        return False
    if not top and any(isinstance(node.get(keyword), str) for keyword in ("$id", "id")):
        return False
    return all(_self_contained(value) for value in node.values())


@functools.cache
def _versions() -> dict[str, str]:
    """What made an entry besides its schema, looked up once per process (finding an installed
    distribution's version reads the installation's metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    from fastjsonschema.version import VERSION as FASTJSONSCHEMA_VERSION

    try:
        jsonschema = version("jsonschema")
    except PackageNotFoundError:
        jsonschema = "none"
    return {
        "python": sys.version,
        "tcw": __version__,
        "jsonschema": jsonschema,
        "fastjsonschema": FASTJSONSCHEMA_VERSION,
    }


def _is_ours(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & _NOT_OURS


def _well_formed(entry: Any, key: str) -> bool:
    return (
        isinstance(entry, tuple)
        and len(entry) == 5
        and entry[:2] == (ENTRY_FORMAT, key)
        and isinstance(entry[2], str)
        and isinstance(entry[3], str)
        and isinstance(entry[4], CodeType)
    )


def _write_atomically(directory: int, name: str, data: bytes) -> None:
    """Two workers storing at once never leave half an entry: each writes its own file, then renames."""
    partial = f".{name}.{os.getpid()}.partial"
    try:
        fd = os.open(
            partial,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=directory,
        )
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(partial, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError as error:
        log.debug("check cache: cannot store %s: %s", name, error)
        with contextlib.suppress(OSError):
            os.unlink(partial, dir_fd=directory)
