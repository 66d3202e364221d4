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
MAX_DECODED = 64 << 20  # a gzip-encoded log is decoded this far at most: a task may upload a gzip bomb
GZIP_WINDOW = 16 + zlib.MAX_WBITS


@dataclass(frozen=True)
class LogText:
    text: str
    truncated: bool  # only the last TAIL_BYTES are shown
    cut_short: bool = False  # decoding stopped at MAX_DECODED: the text is not the log's end


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
    return await asyncio.to_thread(read_tail, path, blob.content_encoding == "gzip")


def read_tail(path: Path, gzipped: bool) -> LogText:
    """The last TAIL_BYTES of the log, decoded; memory stays within a few chunks whatever the file holds."""
    if not gzipped:
        size = path.stat().st_size
        with path.open("rb") as file:
            file.seek(max(0, size - TAIL_BYTES))
            return LogText(file.read(TAIL_BYTES).decode("utf-8", errors="replace"), size > TAIL_BYTES)
    tail, total = b"", 0
    decoder = zlib.decompressobj(GZIP_WINDOW)
    with path.open("rb") as file:
        while (chunk := file.read(blobs.CHUNK_SIZE)) and not decoder.eof:
            while chunk:
                data = decoder.decompress(chunk, blobs.CHUNK_SIZE)
                chunk = decoder.unconsumed_tail
                total += len(data)
                tail = (tail + data)[-TAIL_BYTES:]
                if total > MAX_DECODED:
                    return LogText(tail.decode("utf-8", errors="replace"), True, cut_short=True)
    return LogText(tail.decode("utf-8", errors="replace"), total > TAIL_BYTES)
