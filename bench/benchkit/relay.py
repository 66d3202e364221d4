"""A relay on 127.0.0.1 in front of one HTTP server, in a background thread: it adds a fixed round trip,
as a worker a network hop away from its deployment sees, and counts the requests that cross it by name,
with the time the server took to start answering each."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchkit.calls import call_name

_BROKEN = (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


@dataclass
class Traffic:
    """Requests by name, and the seconds the server took to answer them (request out to the first byte
    back, the relay's own delay excluded; a long-poll counts its wait)."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    connections: int = 0  # TCP connections the clients opened: fewer than calls when they keep them alive

    def __sub__(self, earlier: Traffic) -> Traffic:
        seconds = {name: value - earlier.seconds.get(name, 0.0) for name, value in self.seconds.items()}
        return Traffic(
            self.calls - earlier.calls,
            {name: value for name, value in seconds.items() if value},
            self.connections - earlier.connections,
        )


class Relay:
    """Bytes pass through untouched, the Host header included: Hawk signs host:port, so the server has to
    see the relay's address that the client signed (a deployment behind nginx passes Host on as it is).

    Each direction delivers every chunk half of ``round_trip`` late; chunks are queued with their due time,
    so latency is added without limiting throughput. Requests are read whole (head and body, held in
    memory: fine for a benchmark's small bodies) so that each is counted once, by its API name.
    """

    def __init__(self, target_host: str, target_port: int, round_trip: float = 0.0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay = round_trip / 2
        self.port = 0
        self._traffic = Traffic()
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), name="bench-relay", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the relay did not start")

    @classmethod
    def in_front_of(cls, root_url: str, round_trip: float = 0.0) -> Relay:
        parts = urlsplit(root_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise SystemExit(f"a relay can only sit in front of an http:// root URL, not {root_url}")
        return cls(parts.hostname, parts.port or 80, round_trip)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def traffic(self) -> Traffic:
        """Requests relayed so far, by name (``queue.claimWork``)."""
        with self._lock:
            traffic = self._traffic
            return Traffic(Counter(traffic.calls), dict(traffic.seconds), traffic.connections)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        with self._lock:
            self._traffic.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_writer.close()
            return
        outstanding: deque[tuple[str, float]] = deque()  # (name, when it reaches the server)
        await asyncio.gather(
            self._pipe(self._requests(client_reader, outstanding), upstream_writer),
            self._pipe(self._answers(upstream_reader, outstanding), client_writer),
        )

    async def _requests(
        self, reader: asyncio.StreamReader, outstanding: deque[tuple[str, float]]
    ) -> AsyncIterator[bytes]:
        while request := await _read_request(reader):
            method, target, message = request
            name = call_name(method, target)
            with self._lock:
                self._traffic.calls[name] += 1
            outstanding.append((name, self.loop.time() + self.delay))
            yield message

    async def _answers(
        self, reader: asyncio.StreamReader, outstanding: deque[tuple[str, float]]
    ) -> AsyncIterator[bytes]:
        """The server's bytes; the first chunk after a request times it (HTTP/1.1 clients do not
        pipeline: the next request waits for this answer)."""
        while chunk := await reader.read(65536):
            if outstanding:
                name, reached = outstanding.popleft()
                with self._lock:
                    seconds = self._traffic.seconds
                    seconds[name] = seconds.get(name, 0.0) + self.loop.time() - reached
            yield chunk

    async def _pipe(self, source: AsyncIterator[bytes], writer: asyncio.StreamWriter) -> None:
        pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await pending.get()
                if (wait := due - self.loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    writer.close()
                    return
                try:
                    writer.write(chunk)
                    await writer.drain()
                except ConnectionError:
                    writer.close()
                    return

        delivery = asyncio.create_task(deliver())
        try:
            async for chunk in source:
                pending.put_nowait((self.loop.time() + self.delay, chunk))
        except _BROKEN:
            pass
        pending.put_nowait((self.loop.time() + self.delay, b""))
        await delivery


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    """One HTTP/1.1 request as (method, target, its bytes); None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    request_line, *header_lines = head.split(b"\r\n")
    method, target, _ = request_line.decode("latin-1").split(" ", 2)
    headers = dict(line.split(b":", 1) for line in header_lines if b":" in line)
    headers = {name.strip().lower(): value.strip().lower() for name, value in headers.items()}
    if headers.get(b"transfer-encoding") == b"chunked":
        return method, target, head + await _read_chunked(reader)
    return method, target, head + await reader.readexactly(int(headers.get(b"content-length", b"0")))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                parts.append(trailer)
            return b"".join([*parts, b"\r\n"])
        parts.append(await reader.readexactly(size + 2))
