"""Artifact and object bytes on disk, and the signed URLs through which they travel.

The real services never carry data themselves: they hand out pre-signed S3 URLs. The local queue does the
same with URLs of its own (``/_tcw/blobs/<key>``, served by http/blobs.py), signed with a secret kept in
the database so that URLs survive a restart. A signature covers the method, the blob key, the expiry and the
headers the real pre-signed URL pins (``Content-Type``, and ``Content-Length`` for object uploads), so a
PUT with another content type fails as it does on S3.

Bytes stream to a temporary file (hashed on the way, in a worker thread so the event loop stays free) and
replace the blob atomically once complete: memory stays flat for a 1 GB log and a reader never sees half a
file. Each blob keeps its ``Content-Type`` and ``Content-Encoding``, so a gzip-encoded upload is served back
gzip-encoded, as S3 does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import sqlite3
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from tcw.localqueue.core.dates import format_date
from tcw.localqueue.storage.database import get_meta, set_meta

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    content_encoding TEXT,
    sha256 TEXT NOT NULL,
    sha512 TEXT NOT NULL,
    stored TEXT NOT NULL
) WITHOUT ROWID;
"""

URL_PREFIX = "/_tcw/blobs/"
CHUNK_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_SECRET_KEY = "blob_url_secret"


@dataclass(frozen=True)
class Blob:
    key: str
    size: int
    content_type: str
    content_encoding: str | None
    sha256: str
    sha512: str

    @property
    def hashes(self) -> dict[str, str]:
        return {"sha256": self.sha256, "sha512": self.sha512}


def blob_path(blob_dir: Path, key: str) -> Path:
    """Where the bytes of ``key`` live; hashed so that any artifact name makes a safe file name."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return blob_dir / digest[:2] / digest


def load_blob(db: sqlite3.Connection, key: str) -> Blob | None:
    row = db.execute(
        "SELECT key, size, content_type, content_encoding, sha256, sha512 FROM blobs WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else Blob(*row)


def _record_blob(db: sqlite3.Connection, blob: Blob, now: datetime) -> None:
    db.execute(
        "INSERT OR REPLACE INTO blobs (key, size, content_type, content_encoding, sha256, sha512, stored) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            blob.key,
            blob.size,
            blob.content_type,
            blob.content_encoding,
            blob.sha256,
            blob.sha512,
            format_date(now),
        ),
    )


class _GzipEncoder:
    def __init__(self) -> None:
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def encode(self, chunk: bytes, *, final: bool) -> bytes:
        encoded = self.compressor.compress(chunk)
        return encoded + self.compressor.flush() if final else encoded


class _Digest:
    """Size and hashes of the bytes written so far."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha512 = hashlib.sha512()
        self.size = 0

    def absorb(
        self, file: BinaryIO, chunk: bytes, encoder: _GzipEncoder | None = None, *, final: bool = False
    ) -> None:
        if encoder is not None:
            chunk = encoder.encode(chunk, final=final)
        file.write(chunk)
        self.sha256.update(chunk)
        self.sha512.update(chunk)
        self.size += len(chunk)

    def blob(self, key: str, content_type: str, content_encoding: str | None) -> Blob:
        return Blob(
            key, self.size, content_type, content_encoding, self.sha256.hexdigest(), self.sha512.hexdigest()
        )


@contextmanager
def _replacing(final: Path) -> Iterator[BinaryIO]:
    """A temporary file that replaces ``final`` when the block succeeds and vanishes when it fails."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f"{final.name}.{secrets.token_hex(6)}.part")
    try:
        with temp.open("wb") as file:
            yield file
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


async def store_stream(
    db: sqlite3.Connection,
    blob_dir: Path,
    key: str,
    chunks: AsyncIterator[bytes],
    *,
    content_type: str,
    content_encoding: str | None,
    now: datetime,
) -> Blob:
    """Stream a request body (in chunks of up to ``CHUNK_SIZE``) to the blob ``key``; the previous bytes stay
    until the new ones are complete.

    A gzip-encoded body is kept gzip-encoded, as S3 keeps it. aiohttp's server may already have decoded
    the body (its ``auto_decompress``), which shows as missing gzip magic; it is then encoded again.
    """
    digest = _Digest()
    with _replacing(blob_path(blob_dir, key)) as file:
        first = await anext(chunks, b"")
        encoder = _GzipEncoder() if content_encoding == "gzip" and first[:2] != GZIP_MAGIC else None
        await asyncio.to_thread(digest.absorb, file, first, encoder)
        async for chunk in chunks:
            await asyncio.to_thread(digest.absorb, file, chunk, encoder)
        if encoder is not None:
            digest.absorb(file, b"", encoder, final=True)
    blob = digest.blob(key, content_type, content_encoding)
    _record_blob(db, blob, now)
    return blob


def store_bytes(
    db: sqlite3.Connection, blob_dir: Path, key: str, data: bytes, *, content_type: str, now: datetime
) -> Blob:
    """Store a small body (``dataInline`` uploads) at once."""
    digest = _Digest()
    with _replacing(blob_path(blob_dir, key)) as file:
        digest.absorb(file, data)
    blob = digest.blob(key, content_type, None)
    _record_blob(db, blob, now)
    return blob


def delete_blobs(db: sqlite3.Connection, blob_dir: Path, keys: list[str]) -> None:
    for key in keys:
        blob_path(blob_dir, key).unlink(missing_ok=True)
        db.execute("DELETE FROM blobs WHERE key = ?", (key,))


# --- signed URLs -------------------------------------------------------------------------------------


def _secret(db: sqlite3.Connection) -> bytes:
    value = get_meta(db, _SECRET_KEY)
    if value is None:
        value = secrets.token_hex(32)
        set_meta(db, _SECRET_KEY, value)
    return value.encode()


def signature(db: sqlite3.Connection, method: str, key: str, expires: int, pinned: tuple[str, ...]) -> str:
    """What a URL for ``method`` on ``key`` until ``expires`` (epoch seconds) with these headers carries."""
    message = "\n".join((method, key, str(expires), *pinned)).encode()
    return hmac.new(_secret(db), message, hashlib.sha256).hexdigest()


def signed_url(
    db: sqlite3.Connection,
    root_url: str,
    key: str,
    *,
    method: str,
    expires: datetime,
    pinned: tuple[str, ...] = (),
) -> str:
    """A URL letting anyone ``method`` blob ``key`` until ``expires``, with exactly the ``pinned`` headers."""
    epoch = int(expires.timestamp())
    query = urlencode({"expires": epoch, "signature": signature(db, method, key, epoch, pinned)})
    return f"{root_url.rstrip('/')}{URL_PREFIX}{quote(key, safe='')}?{query}"
