"""Live logs: each running run's task log, streamed over HTTP while the run lasts.

The worker serves one path per run, ``/log/<token>``, on its one operator server (``tcw.engine.operator``).
The token cannot be guessed; it is published only in the run's ``public/logs/live.log``, a ``reference``
artifact created once the run has run for ``PUBLISH_DELAY`` and replaced by a ``link`` to
``public/logs/live_backing.log`` once that is uploaded, so the name keeps working after the worker is gone
(as generic-worker does). A run that ends sooner gets only the link.

A reader gets the log from its first byte, then every write as it lands, until the run ends; the answer is
chunked, with the CORS headers Taskcluster's UI needs to stream it into a browser. The task's processes
write the log file themselves, so a reader tails the file with its own descriptor and offset instead of
being fed by the writers: no reader can slow the task, each holds at most one chunk, and a reader whose
connection takes nothing for ``stall_timeout`` seconds is dropped. The file is read wherever ``TaskRun``
says it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tcw.engine.taskrun import TaskRun
from tcw.executors.api import LIVE_LOG_NAME, LOG_NAME

if TYPE_CHECKING:  # aiohttp's server side loads only when a server runs: `tcw run` starts faster
    from aiohttp import web

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8"
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Transfer-Encoding"}
CHUNK = 64 * 1024
POLL_SECONDS = 0.2  # how soon a reader at the end of the file sees a new line
STALL_TIMEOUT = 30.0
MAX_READERS = 32  # per run: each holds a descriptor and up to two chunks; the URL is public
PUBLISH_DELAY = 0.5
"""Seconds a run runs before its live.log reference is created: one call fewer for the many tasks that
end sooner, whose full log (and live.log's link to it) follows at once anyway."""


class LiveStream:
    """One run's log file as readers see it: ``ended`` once its last line is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ended = asyncio.Event()
        self.readers = 0


class LiveRun:
    """One run's live log, from its claim to its link. Without a live log server only ``link`` acts."""

    def __init__(self, run: TaskRun, stream: LiveStream | None, url: str | None) -> None:
        self.run = run
        self.stream = stream
        self.url = url
        self._published: asyncio.Task[None] | None = None
        self._requested = False  # the reference call went out: the link must wait for it
        if url is not None:
            self._published = asyncio.create_task(self._publish(url))

    async def _publish(self, url: str) -> None:
        """Best effort, beside the task: a live log nobody can find leaves the run as it was."""
        await asyncio.sleep(PUBLISH_DELAY)
        self._requested = True
        try:
            await self.run.artifacts.reference(LIVE_LOG_NAME, url, content_type=CONTENT_TYPE)
        except Exception as error:
            log.warning("live log not published: %s", error, extra=self.run.claim.log_fields)

    def end(self) -> None:
        """The last line is written: readers finish at the end of the file."""
        if self.stream is not None:
            self.stream.ended.set()

    async def link(self) -> None:
        """``public/logs/live.log`` becomes a link to the task log (after the reference landed: a link may
        replace a reference, never the other way round)."""
        if self._published is not None and not self._requested:
            self._published.cancel()  # the run ended first: only the link
        elif self._published is not None:
            await self._published
        await self.run.artifacts.link(LIVE_LOG_NAME, LOG_NAME)

    def close(self) -> None:
        self.end()
        if self._published is not None and not self._published.done():
            self._published.cancel()  # the run is over before its live log was published: drop it


class LiveLogs:
    """The live logs of this worker's runs, by token. ``base_url`` is None while no server serves them."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        stall_timeout: float = STALL_TIMEOUT,
        poll: float = POLL_SECONDS,
        max_readers: int = MAX_READERS,
    ) -> None:
        self.base_url = base_url
        self.stall_timeout = stall_timeout
        self.poll = poll
        self.max_readers = max_readers
        self._streams: dict[str, LiveStream] = {}
        self.dropped = 0  # readers dropped for taking nothing within stall_timeout

    def readers(self) -> int:
        """Readers connected now, over all runs."""
        return sum(stream.readers for stream in self._streams.values())

    def routes(self) -> list[web.RouteDef]:
        from aiohttp import web

        return [web.get("/log/{token}", self._serve, allow_head=False)]

    @contextlib.contextmanager
    def start(self, run: TaskRun) -> Iterator[LiveRun]:
        """Serve ``run``'s log (when a server runs) until the block ends."""
        if self.base_url is None:
            live = LiveRun(run, None, None)
            yield live
            live.close()
            return
        token = secrets.token_urlsafe(32)
        stream = LiveStream(run.log_path)
        self._streams[token] = stream
        live = LiveRun(run, stream, f"{self.base_url.rstrip('/')}/log/{token}")
        try:
            yield live
        finally:
            live.close()
            del self._streams[token]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        stream = self._streams.get(request.match_info["token"])
        try:
            file = stream.path.open("rb") if stream is not None else None
        except OSError:
            file = None
        if stream is None or file is None:
            text = f"No live log here: the run is over or never was; read {LOG_NAME} instead.\n"
            return web.Response(status=404, text=text, headers=CORS_HEADERS)
        if stream.readers >= self.max_readers:
            file.close()
            text = f"This live log has {stream.readers} readers already; try again later.\n"
            return web.Response(status=503, text=text, headers={"Retry-After": "10", **CORS_HEADERS})
        stream.readers += 1
        try:
            return await self._stream(request, file, stream)
        finally:
            stream.readers -= 1

    async def _stream(self, request: web.Request, file: BinaryIO, stream: LiveStream) -> web.StreamResponse:
        from aiohttp import web

        with file:
            response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, **CORS_HEADERS})
            response.enable_chunked_encoding()
            await response.prepare(request)
            if await self._copy(file, stream, response):
                await response.write_eof()
            elif request.transport is not None:
                request.transport.abort()  # an unfinished chunked answer: the reader sees it was cut
        return response

    async def _copy(self, file: BinaryIO, stream: LiveStream, response: web.StreamResponse) -> bool:
        """Everything in the file, then each write, until the run ends; False when the reader is dropped."""
        while True:
            ended = stream.ended.is_set()  # read before the check: the last write precedes ``ended``
            chunk = file.read(CHUNK)
            if chunk:
                try:
                    await asyncio.wait_for(response.write(chunk), self.stall_timeout)
                except TimeoutError:
                    self.dropped += 1
                    log.info("live log reader dropped: it took nothing for %.0f s", self.stall_timeout)
                    return False
                except ConnectionError:
                    return False
                await asyncio.sleep(0)  # a reader that keeps up must still let the worker's loop run
                continue
            if ended:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.ended.wait(), self.poll)
