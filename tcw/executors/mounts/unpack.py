"""Decompressing a fileMount and unpacking an archive, refusing whatever would escape the target.

Formats are those generic-worker names. The standard library does gz, bz2, xz, zz (zlib) and zip;
``zstandard`` does zst (what most toolchain artifacts are) and ``lz4`` does lz4. The others generic-worker
lists (7z, rar, br, lz, mz, sz) are refused by name. Tar archives are read as a stream, one pass, so a
200 MB tar.gz is decompressed once.

Every entry is checked before it is written, and the archive is refused whole at the first bad one
(the caller unpacks into a fresh directory it throws away on failure): absolute names, names with a
``..`` component, symlinks whose target is absolute or leads out, hard links to anything but a file
unpacked before, device files and fifos, and entries that would be written through a symlink an earlier
entry made. After the last entry every symlink is resolved once more, since a later entry can change what
an earlier link's target leads to.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import tarfile
import typing
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20

COMPRESSIONS = ("gz", "bz2", "xz", "zst", "lz4", "zz")
"""fileMount formats this worker decompresses."""
ARCHIVES = ("tar", "zip", *(f"tar.{compression}" for compression in COMPRESSIONS))
"""readOnlyDirectory and cache preload formats this worker unpacks."""


class UnsafeArchive(Exception):
    """The archive holds an entry that would land outside its target, or one no task needs."""


class UnsupportedFormat(Exception):
    pass


def check_compression(format: str | None) -> str | None:
    """Why ``format`` cannot be decompressed here, or None."""
    if format is None or format in COMPRESSIONS:
        return None
    return (
        f"compression format {format} is not supported by this worker (supported: {', '.join(COMPRESSIONS)})"
    )


def check_archive(format: str) -> str | None:
    if format in ARCHIVES:
        return None
    return f"archive format {format} is not supported by this worker (supported: {', '.join(ARCHIVES)})"


def open_decompressed(path: Path, format: str | None) -> IO[bytes]:
    """``path`` opened for reading through the decompressor ``format`` names (None: as it is)."""
    if format is None:
        return open(path, "rb")
    opener = _OPENERS.get(format)
    if opener is None:
        raise UnsupportedFormat(check_compression(format))
    return typing.cast(IO[bytes], opener(path))


def decompress_to(source: Path, format: str | None, target: Path) -> None:
    """Write ``source``, decompressed, to the new file ``target``."""
    with open_decompressed(source, format) as reader, _create(target, 0o644) as writer:
        while chunk := reader.read(CHUNK):
            writer.write(chunk)


def unpack(archive: Path, format: str, target: Path) -> None:
    """Unpack ``archive`` into the new directory ``target``; raises ``UnsafeArchive`` or
    ``UnsupportedFormat`` (the caller throws ``target`` away then), or OSError/tarfile errors for a
    damaged archive."""
    problem = check_archive(format)
    if problem:
        raise UnsupportedFormat(problem)
    target.mkdir()
    writer = _Writer(target)
    if format == "zip":
        _unpack_zip(archive, writer)
    else:
        compression = format.partition(".")[2] or None
        with open_decompressed(archive, compression) as stream:
            _unpack_tar(stream, writer)
    writer.check_symlinks()


def _unpack_tar(stream: IO[bytes], writer: _Writer) -> None:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if member.isdir():
                writer.directory(member.name, member.mode)
            elif member.isreg():
                source = archive.extractfile(member)
                assert source is not None  # a regular member always has a body
                writer.file(member.name, member.mode, source)
            elif member.issym():
                writer.symlink(member.name, member.linkname)
            elif member.islnk():
                writer.hardlink(member.name, member.linkname)
            else:
                raise UnsafeArchive(f"entry {member.name!r} is a device file or fifo")


def _unpack_zip(path: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                writer.symlink(info.filename, archive.read(info).decode("utf-8", "surrogateescape"))
            elif info.is_dir():
                writer.directory(info.filename, mode or 0o755)
            elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # zip writers may leave the type out
                raise UnsafeArchive(f"entry {info.filename!r} is a device file or fifo")
            else:
                with archive.open(info) as source:
                    writer.file(info.filename, mode or 0o644, source)


class _Writer:
    """Creates entries under ``root``, checking each one first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_real = os.path.realpath(root)
        self.directories: set[str] = {""}  # relative paths known to be real directories we made
        self.files: set[str] = set()  # regular files written, the only valid hard link targets
        self.symlinks: list[str] = []

    def directory(self, name: str, mode: int) -> None:
        relative = self._checked(name)
        if relative:
            self._make_directories(relative)

    def file(self, name: str, mode: int, source: IO[bytes]) -> None:
        relative = self._checked(name)
        path = self._prepare(relative, name)
        with _create(path, _file_mode(mode)) as output:
            while chunk := source.read(CHUNK):
                output.write(chunk)
        self.files.add(relative)

    def symlink(self, name: str, target: str) -> None:
        relative = self._checked(name)
        if not target or os.path.isabs(target) or "\0" in target:
            raise UnsafeArchive(f"symlink {name!r} points at {target!r}, outside the directory")
        resolved = os.path.normpath(os.path.join(os.path.dirname(relative), target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"symlink {name!r} points at {target!r}, outside the directory")
        os.symlink(target, self._prepare(relative, name))
        self.symlinks.append(relative)

    def hardlink(self, name: str, target: str) -> None:
        relative = self._checked(name)
        linked = self._checked(target)
        if linked not in self.files:
            raise UnsafeArchive(f"hard link {name!r} points at {target!r}, not a file unpacked before it")
        os.link(self.root / linked, self._prepare(relative, name))
        self.files.add(relative)

    def check_symlinks(self) -> None:
        """Resolve every symlink in the finished tree: none may lead out of it."""
        for relative in self.symlinks:
            real = os.path.realpath(self.root / relative)
            if real != self.root_real and not real.startswith(self.root_real + os.sep):
                raise UnsafeArchive(f"symlink {relative!r} leads outside the directory")

    def _checked(self, name: str) -> str:
        """``name`` as a clean relative path; refuses names that are absolute or climb out."""
        if "\0" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchive(f"entry {name!r} has an absolute name")
        parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
        if ".." in parts:
            raise UnsafeArchive(f"entry {name!r} has a '..' in its name")
        return "/".join(parts)

    def _prepare(self, relative: str, name: str) -> Path:
        """The path to create ``relative`` at: its parents made (never through a symlink), and a
        non-directory left there by an earlier entry of the same name removed (later entries win)."""
        if not relative:
            raise UnsafeArchive(f"entry {name!r} has no name")
        parent, _, _ = relative.rpartition("/")
        self._make_directories(parent)
        path = self.root / relative
        if relative in self.directories:
            raise UnsafeArchive(f"entry {name!r} would replace a directory")
        if os.path.lexists(path):
            os.unlink(path)
            self.files.discard(relative)
        return path

    def _make_directories(self, relative: str) -> None:
        if relative in self.directories:
            return
        parent, _, _ = relative.rpartition("/")
        self._make_directories(parent)
        path = self.root / relative
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if os.path.islink(path) or not os.path.isdir(path):
                raise UnsafeArchive(
                    f"entry {relative!r} would be written through a symlink or a file"
                ) from None
        self.directories.add(relative)


def _file_mode(mode: int) -> int:
    """Permission bits only, never setuid/setgid/sticky; always readable and writable by the owner."""
    return (mode & 0o777) | 0o600


def _create(path: Path, mode: int) -> IO[bytes]:
    """A new file; fails rather than follow a symlink someone placed at ``path``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    return os.fdopen(descriptor, "wb")


class _ZlibReader:
    """A read-only stream inflating a zlib (``zz``) file."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close(), as a file object is)
        self._inflate = zlib.decompressobj()
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = self._file.read(CHUNK)
            if not chunk:
                self._buffer += self._inflate.flush()
                break
            self._buffer += self._inflate.decompress(chunk)
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _ZlibReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_zst(path: Path) -> IO[bytes]:
    import zstandard

    return typing.cast(IO[bytes], zstandard.open(path, "rb"))


def _open_lz4(path: Path) -> IO[bytes]:
    import lz4.frame

    return typing.cast(IO[bytes], lz4.frame.open(path, "rb"))


_OPENERS: dict[str, Callable[[Path], Any]] = {
    "gz": lambda path: gzip.open(path, "rb"),  # noqa: SIM115 (the caller's with closes them)
    "bz2": lambda path: bz2.open(path, "rb"),  # noqa: SIM115
    "xz": lambda path: lzma.open(path, "rb"),  # noqa: SIM115
    "zz": _ZlibReader,
    "zst": _open_zst,
    "lz4": _open_lz4,
}
