"""The proxy's HTTP itself, as clients and deployments really behave: a kept-alive task connection
carrying several calls (pipelined too), large bodies streamed both ways (chunked and with a length, curl's
``Expect: 100-continue`` included), bytes that are not HTTP, a task going away mid-answer, and a
deployment closing a kept-alive connection or cutting an answer short."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tcw.engine.taskproxy.server import TaskProxy

CREDENTIALS = {"clientId": "tests/wire", "accessToken": "token"}
BIG = 8 << 20  # larger than every buffer on the way, so only streaming gets it through
HUGE = 64 << 20  # more than the kernel's buffers on the way hold


async def digest(request: web.Request) -> web.Response:
    """What arrived: the body's size and sha256, read as it comes; and how it was framed."""
    hashed, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_any():
        hashed.update(chunk)
        size += len(chunk)
    framing = {"chunked": "chunked" in request.headers.get("Transfer-Encoding", "")}
    return web.json_response({"size": size, "sha256": hashed.hexdigest(), **framing})


async def big_answer(request: web.Request) -> web.StreamResponse:
    """``BIG`` bytes of a known pattern, chunked (no length: the proxy cannot pass it in one piece)."""
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    block = bytes(range(256)) * 256
    for _ in range(BIG // len(block)):
        await response.write(block)
    await response.write_eof()
    return response


@dataclass
class Deployment:
    url: str
    abandoned: asyncio.Event  # its endless answer's reader went away
    all_written: asyncio.Event  # its huge answer is all written


@pytest.fixture
async def upstream() -> AsyncIterator[Deployment]:
    """An aiohttp deployment."""
    abandoned, all_written = asyncio.Event(), asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            for _ in range(1000):  # 10 s at most: a proxy that does not pass the task's leaving on fails
                await response.write(b"more,")
                await asyncio.sleep(0.01)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            abandoned.set()
        return response

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = HUGE
        await response.prepare(request)
        block = b"h" * (1 << 20)
        for _ in range(HUGE // len(block)):
            await response.write(block)
        all_written.set()
        return response

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"path": request.raw_path})

    app = web.Application(client_max_size=2 * BIG)
    app.router.add_route("*", "/api/wire/v1/digest", digest)
    app.router.add_get("/api/wire/v1/big", big_answer)
    app.router.add_get("/api/wire/v1/endless", endless)
    app.router.add_get("/api/wire/v1/ping/{n}", ping)
    app.router.add_get("/api/wire/v1/huge", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield Deployment(f"http://127.0.0.1:{runner.addresses[0][1]}", abandoned, all_written)
    await runner.cleanup()


@pytest.fixture
async def proxy(upstream: Deployment) -> AsyncIterator[TaskProxy]:
    started = TaskProxy(root_url=upstream.url, credentials=lambda: CREDENTIALS, authorized_scopes=[])
    await started.start()
    yield started
    await started.close()


async def raw_exchange(
    proxy: TaskProxy, data: bytes, answers: int
) -> list[tuple[bytes, dict[str, str], bytes]]:
    """Send ``data`` on one connection and read ``answers`` answers with a length off it, in order:
    (status line, headers, body) each."""
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        found = []
        for _ in range(answers):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status, *lines = head.decode().split("\r\n")
            headers = {
                name.lower(): value for name, _, value in (line.partition(": ") for line in lines if line)
            }
            found.append((status.encode(), headers, await reader.readexactly(int(headers["content-length"]))))
        return found
    finally:
        writer.close()


def get(path: str, port: str, *more: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *more, "", ""]).encode()


async def test_one_kept_alive_task_connection_carries_several_calls(proxy: TaskProxy) -> None:
    """As the aio official client (aiohttp, kept alive) calls; answered in order, pipelined or not."""
    port = proxy.url.rsplit(":", 1)[1]
    one_by_one = [(await raw_exchange(proxy, get(f"/api/wire/v1/ping/{n}", port), 1))[0] for n in range(2)]
    pipelined = await raw_exchange(proxy, b"".join(get(f"/api/wire/v1/ping/{n}", port) for n in range(3)), 3)
    for n, (status, headers, body) in zip([0, 1, 0, 1, 2], [*one_by_one, *pipelined], strict=True):
        assert status == b"HTTP/1.1 200 OK"
        assert "connection" not in headers  # kept alive
        assert json.loads(body)["path"] == f"/api/wire/v1/ping/{n}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for n in range(3):
            async with session.get(f"{proxy.url}/api/wire/v1/ping/{n}") as response:
                assert (await response.json())["path"] == f"/api/wire/v1/ping/{n}"


async def test_a_refused_request_answers_and_the_connection_goes_on(proxy: TaskProxy) -> None:
    port = proxy.url.rsplit(":", 1)[1]
    refused_then_served = get("/nowhere", port) + get("/api/wire/v1/ping/1", port)
    (status, _, body), (after, _, _) = await raw_exchange(proxy, refused_then_served, 2)
    assert status.startswith(b"HTTP/1.1 404") and json.loads(body)["code"] == "ResourceNotFound"
    assert after == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize("garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost\r\n\r\n"])
async def test_a_malformed_request_is_a_400_and_the_proxy_serves_on(proxy: TaskProxy, garbage: bytes) -> None:
    [(status, headers, body)] = await raw_exchange(proxy, garbage, 1)
    assert status == b"HTTP/1.1 400 Bad Request" and headers["connection"] == "close"
    assert json.loads(body)["code"] == "BadRequest"
    port = proxy.url.rsplit(":", 1)[1]
    [(status, _, _)] = await raw_exchange(proxy, get("/api/wire/v1/ping/1", port), 1)
    assert status == b"HTTP/1.1 200 OK"


async def curl_json(*args: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--fail", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "big"
    data = os.urandom(BIG)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("framing", [["-H", "Transfer-Encoding: chunked"], []], ids=["chunked", "length"])
async def test_a_large_upload_streams_through(
    proxy: TaskProxy, big_file: tuple[Path, str], framing: list[str]
) -> None:
    """curl sends an 8 MiB file chunked, or with its length after ``Expect: 100-continue``."""
    path, sha256 = big_file
    seen = await curl_json(
        "-X", "PUT", *framing, "--data-binary", f"@{path}", f"{proxy.url}/api/wire/v1/digest"
    )
    assert seen == {"size": BIG, "sha256": sha256, "chunked": bool(framing)}


async def test_a_chunked_body_that_came_whole_with_its_head_goes_up_once(proxy: TaskProxy) -> None:
    """Before the proxy's first connection to the deployment exists: the body waits, and goes up once."""
    port = proxy.url.rsplit(":", 1)[1]
    head = f"PUT /api/wire/v1/digest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked = head.encode() + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    for _ in range(2):  # the second over the kept-alive upstream connection the first left
        [(status, _, body)] = await raw_exchange(proxy, chunked, 1)
        assert status == b"HTTP/1.1 200 OK", body
        assert json.loads(body) == {
            "size": 5,
            "sha256": hashlib.sha256(b"abcde").hexdigest(),
            "chunked": True,
        }


async def test_a_bewit_request_waiting_for_100_continue_gets_it(
    proxy: TaskProxy, upstream: Deployment
) -> None:
    """The proxy reads /bewit's body itself, so it tells a client that asks (curl would wait 10 s)."""
    process = await asyncio.create_subprocess_exec(
        *("curl", "-sS", "-i", "-X", "POST", "-H", "Expect: 100-continue", "--expect100-timeout", "10"),
        *("--data-binary", f"{upstream.url}/api/wire/v1/ping/1", f"{proxy.url}/bewit"),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 5)
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 303 See Other\r\n"), out


async def test_a_large_answer_streams_through(proxy: TaskProxy) -> None:
    hashed, size = hashlib.sha256(), 0
    async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/api/wire/v1/big") as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        async for chunk in response.content.iter_any():
            hashed.update(chunk)
            size += len(chunk)
    block = bytes(range(256)) * 256
    assert size == BIG and hashed.hexdigest() == hashlib.sha256(block * (BIG // len(block))).hexdigest()


async def test_a_task_hanging_up_mid_request_is_let_go(proxy: TaskProxy) -> None:
    """Half a body and then the end of what the task sends: that request will never be whole, so the
    proxy drops it (and its connection) instead of holding the deployment's connection open for it."""
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"PUT /api/wire/v1/digest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 100\r\n\r\n"
    writer.write(head.encode() + b"only ten b")
    writer.write_eof()
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        pass  # aborted: as good as closed
    finally:
        writer.close()


async def test_a_task_reading_slowly_slows_the_deployments_answer(
    proxy: TaskProxy, upstream: Deployment
) -> None:
    """The proxy reads the answer no faster than the task does (it does not hold 64 MiB for it), and the
    kept-alive connection it read it on serves the next call."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        async with session.get(f"{proxy.url}/api/wire/v1/huge") as response:
            assert len(await response.content.readexactly(1 << 20)) == 1 << 20
            await asyncio.sleep(0.3)  # time enough for an unchecked proxy to take it all
            assert not upstream.all_written.is_set()
            rest = 0
            async for chunk in response.content.iter_any():
                rest += len(chunk)
            assert rest == HUGE - (1 << 20)
        async with session.get(f"{proxy.url}/api/wire/v1/ping/1") as after:
            assert after.status == 200


async def test_a_task_leaving_mid_answer_ends_the_deployments_answer_too(
    proxy: TaskProxy, upstream: Deployment
) -> None:
    abandoned = upstream.abandoned
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{proxy.url}/api/wire/v1/endless")
        assert (await response.content.readexactly(5)) == b"more,"
        response.close()  # the task goes away
    await asyncio.wait_for(abandoned.wait(), 5)
    async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/api/wire/v1/ping/1") as after:
        assert after.status == 200


Answer = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@asynccontextmanager
async def raw_deployment(answer: Answer) -> AsyncIterator[str]:
    """A deployment (its URL) answering the n-th request on each connection with ``answer`` (False:
    hang up after it); it waits for its connections to end when done."""
    serving: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        serving.add(asyncio.current_task())  # type: ignore[arg-type]
        n = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                n += 1
                if not await answer(n, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await asyncio.wait_for(asyncio.gather(*serving), 10)


async def proxy_for(url: str) -> TaskProxy:
    proxy = TaskProxy(root_url=url, credentials=lambda: CREDENTIALS, authorized_scopes=[])
    await proxy.start()
    return proxy


@pytest.mark.parametrize(("method", "sent_again"), [("GET", True), ("POST", False)])
async def test_a_kept_alive_connection_the_deployment_dropped_is_tried_anew_when_that_is_safe(
    method: str, sent_again: bool
) -> None:
    """The deployment answers once per connection and hangs up on the second request without a word
    (an idle timeout racing the next request): the proxy sends a bodiless GET again on a new connection,
    and answers a POST, which may have been acted on, 502 for the task's client to decide."""
    connections = 0

    async def once_per_connection(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        nonlocal connections
        if n == 1:
            connections += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return n == 1

    async with raw_deployment(once_per_connection) as url:
        proxy = await proxy_for(url)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{proxy.url}/api/x/v1/y") as response:
                    assert response.status == 200 and await response.read() == b"ok"
                async with session.request(method, f"{proxy.url}/api/x/v1/y") as response:
                    status, body = response.status, await response.read()
        finally:
            await proxy.close()
    if sent_again:
        assert (status, body, connections) == (200, b"ok", 2)
    else:
        assert status == 502 and json.loads(body)["code"] == "ProxyUpstreamError"
        assert connections == 1


async def test_an_answer_the_deployment_cuts_short_is_cut_for_the_task_too() -> None:
    async def short(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()
        return False

    async with raw_deployment(short) as url:
        proxy = await proxy_for(url)
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/api/x/v1/y") as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
        finally:
            await proxy.close()
