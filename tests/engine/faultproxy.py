"""An HTTP proxy between a worker and the local queue that drops, delays or fails a share of requests.

The Host header is forwarded unchanged, so Hawk signatures made for the proxy's address still verify at
the queue. Failures are injected before the request reaches the queue (drop, 500) or after it has been
handled (the answer is lost: the worker must repeat a call that already took effect), the latter only for
calls the protocol lets a client repeat (see ``_repeatable``).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Faults:
    drop: float = 0.0  # close the connection without forwarding
    error: float = 0.0  # answer 500 without forwarding
    delay: float = 0.0  # forward after a pause of up to max_delay
    lose_answer: float = 0.0  # forward, then close the connection instead of answering
    max_delay: float = 0.3
    seed: int = 1
    lose_first: dict[str, int] = field(default_factory=dict)  # path part -> answers to lose, in order
    slow: dict[str, float] = field(default_factory=dict)  # path part -> seconds every such call waits


@dataclass
class FaultProxy:
    upstream: str
    faults: Faults
    injected: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, path, body), in order
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> FaultProxy:
        self._rng = random.Random(self.faults.seed)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path, body))
        for part, seconds in self.faults.slow.items():
            if part in request.path:
                await asyncio.sleep(seconds)
        for part, left in self.faults.lose_first.items():
            if part in request.path and left > 0:
                self.faults.lose_first[part] = left - 1
                await self._forward(request, body)
                return self._drop(request, "lose_answer")
        roll = self._rng.random()
        faults = self.faults
        if roll < faults.drop:
            return self._drop(request, "drop")
        roll -= faults.drop
        if roll < faults.error:
            self.injected["error"] += 1
            return web.Response(status=500, text="injected failure")
        roll -= faults.error
        if roll < faults.delay:
            self.injected["delay"] += 1
            await asyncio.sleep(self._rng.uniform(0, faults.max_delay))
        roll -= faults.delay
        answer = await self._forward(request, body)
        if roll < faults.lose_answer and _repeatable(request.path, body):
            return self._drop(request, "lose_answer")
        return answer

    def _drop(self, request: web.Request, kind: str) -> web.StreamResponse:
        self.injected[kind] += 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(
            request.method,
            target,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Content-Type",),
        ) as upstream:
            payload = await upstream.read()
            reply_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            if "Content-Encoding" in upstream.headers:
                reply_headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            return web.Response(status=upstream.status, body=payload, headers=reply_headers)


def _repeatable(path: str, body: bytes) -> bool:
    """May the answer to this call be lost after it took effect, and the call be repeated?

    Not ``claimWork`` (a lost claim is only recovered when it expires) and not ``createArtifact`` for an
    ``object`` artifact: the queue picks a fresh ``uploadId`` per call, so a repeat conflicts with the
    artifact the lost call created, on the real queue as on the local one.
    """
    if "/claim-work/" in path:
        return False
    return not ("/artifacts/" in path and b'"object"' in body)
