"""A task log's text for the web view, after the queue has allowed the anonymous caller to read it.

The queue answers a log read (``getArtifact``) with a redirect; when it points at this deployment's own
bytes (s3 and object artifacts: a signed ``/_tcw/blobs/`` URL) the page shows the end of the text. A
redirect elsewhere (a ``reference``: the worker's live log while the run lasts) is never fetched by the
server, which would let a task make it call any address: the browser streams it (static/live.js).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import blobs

TAIL_BYTES = 1 << 20  # a page shows at most the last MiB of a log
GZIP_WINDOW = 16 + zlib.MAX_WBITS


@dataclass(frozen=True)
class LogText:
    text: str
    truncated: bool  # only the last TAIL_BYTES are shown


def local_blob_key(state: QueueState, url: str) -> str | None:
    """The blob key of a URL of this deployment's byte endpoint, or None for any other URL."""
    if not url.startswith(state.root_url + blobs.URL_PREFIX):
        return None
    return unquote(urlsplit(url).path.removeprefix(blobs.URL_PREFIX))


async def stored_log(state: QueueState, url: str) -> LogText | None:
    """The end of the log the queue redirected to, when its bytes are this deployment's; else None."""
    key = local_blob_key(state, url)
    blob = None if key is None else blobs.load_blob(state.db, key)
    if blob is None:
        return None
    path = blobs.blob_path(state.blob_dir, blob.key)
    return await asyncio.to_thread(_read_tail, path, blob.content_encoding == "gzip")


def _read_tail(path: Path, gzipped: bool) -> LogText:
    tail = b""
    total = 0
    decoder = zlib.decompressobj(GZIP_WINDOW) if gzipped else None
    with path.open("rb") as file:
        while chunk := file.read(blobs.CHUNK_SIZE):
            data = decoder.decompress(chunk) if decoder else chunk
            total += len(data)
            tail = (tail + data)[-TAIL_BYTES:]
    if decoder:
        rest = decoder.flush()
        total += len(rest)
        tail = (tail + rest)[-TAIL_BYTES:]
    return LogText(tail.decode("utf-8", errors="replace"), total > TAIL_BYTES)
