"""What the proxy does to requests and answers, against an upstream of the test's own that shows what
arrived: headers pass unchanged (but for Authorization and hop-by-hop ones), bodies stream both ways
(each side sees the first part before the other side sends the rest), redirects and encodings pass."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from tcw.engine.taskproxy.server import TaskProxy

CREDENTIALS = {"clientId": "tests/proxy", "accessToken": "token"}


@dataclass
class Upstream:
    url: str = ""
    body_started: asyncio.Event = field(default_factory=asyncio.Event)
    answer_may_end: asyncio.Event = field(default_factory=asyncio.Event)


def upstream_app(upstream: Upstream) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen = {
            "method": request.method,
            "path": request.raw_path,
            "headers": dict(request.headers),
            "peer": peer,
        }
        return web.json_response({**seen, "body": body.decode()}, headers={"X-Taskcluster-Trace": "t1"})

    async def cookie(request: web.Request) -> web.Response:
        return web.Response(text="set", headers={"Set-Cookie": "session=abc; Path=/"})

    async def compressed(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b"zipped"), headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        )

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=303, headers={"Location": "https://example.com/elsewhere"})

    async def slow_upload(request: web.Request) -> web.Response:
        first = await request.content.readexactly(5)
        upstream.body_started.set()
        rest = await request.content.read()
        return web.json_response({"body": (first + rest).decode()})

    async def slow_answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"first,")
        await upstream.answer_may_end.wait()
        await response.write(b"last")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/api/echo/v1/headers{tail:.*}", echo)
    app.router.add_get("/api/echo/v1/gzip", compressed)
    app.router.add_get("/api/echo/v1/cookie", cookie)
    app.router.add_get("/api/echo/v1/redirect", redirect)
    app.router.add_put("/api/echo/v1/upload", slow_upload)
    app.router.add_get("/api/echo/v1/stream", slow_answer)
    return app


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[Upstream, TaskProxy]]:
    upstream = Upstream()
    runner = web.AppRunner(upstream_app(upstream))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    upstream.url = f"http://127.0.0.1:{port}"
    proxy = TaskProxy(root_url=upstream.url, credentials=lambda: CREDENTIALS, authorized_scopes=["a:b"])
    await proxy.start()
    yield upstream, proxy
    await proxy.close()
    await runner.cleanup()


async def test_headers_pass_and_authorization_is_the_proxys(proxied: tuple[Upstream, TaskProxy]) -> None:
    upstream, proxy = proxied
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{proxy.url}/api/echo/v1/headers/a%2Fb?x=1&y=%20",
            data=b'{"k": 1}',
            headers={"Content-Type": "application/json", "X-Custom": "kept", "Authorization": "Bearer mine"},
        ) as response,
    ):
        seen = await response.json()
        assert response.headers["X-Taskcluster-Trace"] == "t1"
        assert response.headers["X-Taskcluster-Proxy-Perm-ClientId"] == "tests/proxy"
        assert json.loads(response.headers["X-Taskcluster-Authorized-Scopes"]) == ["a:b"]
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/echo/v1/headers/a%2Fb?x=1&y=%20"  # percent-encoding kept as sent
    assert seen["body"] == '{"k": 1}'
    headers = seen["headers"]
    assert headers["X-Custom"] == "kept" and headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith("Hawk ") and 'id="tests/proxy"' in headers["Authorization"]
    assert headers["Host"] == upstream.url.removeprefix("http://")


async def test_calls_on_new_connections_share_one_kept_alive_upstream_connection(
    proxied: tuple[Upstream, TaskProxy],
) -> None:
    """Tasks' clients connect anew for every call; the proxy's own connection to the deployment stays."""
    _, proxy = proxied
    peers = []
    for _ in range(3):
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
            session.get(f"{proxy.url}/api/echo/v1/headers") as response,
        ):
            peers.append(tuple((await response.json())["peer"]))
    assert len(set(peers)) == 1, peers


async def test_a_head_answer_keeps_its_length(proxied: tuple[Upstream, TaskProxy]) -> None:
    _, proxy = proxied
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/api/echo/v1/gzip", auto_decompress=False) as response:
            length = len(await response.read())
        async with session.head(f"{proxy.url}/api/echo/v1/gzip") as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(length)


async def test_encoded_answers_and_redirects_pass_unchanged(proxied: tuple[Upstream, TaskProxy]) -> None:
    _, proxy = proxied
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(f"{proxy.url}/api/echo/v1/gzip") as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await response.read()) == b"zipped"
        async with session.get(f"{proxy.url}/api/echo/v1/redirect", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "https://example.com/elsewhere"


async def test_request_bodies_stream_through(proxied: tuple[Upstream, TaskProxy]) -> None:
    upstream, proxy = proxied

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.wait_for(upstream.body_started.wait(), 30)  # upstream has it before the rest exists
        yield b",rest"

    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{proxy.url}/api/echo/v1/upload", data=body()) as response,
    ):
        assert (await response.json())["body"] == "first,rest"


async def test_answers_stream_through(proxied: tuple[Upstream, TaskProxy]) -> None:
    upstream, proxy = proxied
    async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/api/echo/v1/stream") as response:
        assert await asyncio.wait_for(response.content.readexactly(6), 30) == b"first,"
        upstream.answer_may_end.set()  # the rest exists only now
        assert await response.content.read() == b"last"


async def get_once(proxy: TaskProxy, path: str) -> tuple[int, dict[str, str], bytes]:
    """Start ``proxy``, GET ``path`` through it, close it: the status, headers and body."""
    await proxy.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(proxy.url + path) as response:
            return response.status, dict(response.headers), await response.read()
    finally:
        await proxy.close()


async def test_an_unreachable_deployment_is_a_502_that_says_so() -> None:
    proxy = TaskProxy(root_url="http://127.0.0.1:9", credentials=lambda: CREDENTIALS, authorized_scopes=[])
    status, _, body = await get_once(proxy, "/api/queue/v1/ping")
    error = json.loads(body)
    assert status == 502
    assert error["code"] == "ProxyUpstreamError" and "127.0.0.1:9" in error["message"]


async def test_credentials_a_client_encoded_to_bytes_still_sign(proxied: tuple[Upstream, TaskProxy]) -> None:
    """The official client encodes the credentials mapping it is given in place; the proxy copes."""
    upstream, _ = proxied
    encoded = {"clientId": b"tests/proxy", "accessToken": b"token"}
    proxy = TaskProxy(root_url=upstream.url, credentials=lambda: encoded, authorized_scopes=[])  # type: ignore[arg-type, return-value]
    status, headers, _ = await get_once(proxy, "/api/echo/v1/headers")
    assert status == 200
    assert headers["X-Taskcluster-Proxy-Perm-ClientId"] == "tests/proxy"


async def test_a_request_in_flight_at_a_swap_completes_and_the_next_uses_the_new(
    proxied: tuple[Upstream, TaskProxy],
) -> None:
    upstream, _ = proxied
    held = {"credentials": CREDENTIALS}
    proxy = TaskProxy(root_url=upstream.url, credentials=lambda: held["credentials"], authorized_scopes=[])
    await proxy.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{proxy.url}/api/echo/v1/stream") as slow:
                assert await asyncio.wait_for(slow.content.readexactly(6), 30) == b"first,"
                held["credentials"] = {"clientId": "tests/renewed", "accessToken": "new"}  # a reclaim
                upstream.answer_may_end.set()
                assert await slow.content.read() == b"last"
                assert slow.headers["X-Taskcluster-Proxy-Perm-ClientId"] == "tests/proxy"
            async with session.get(f"{proxy.url}/api/echo/v1/headers") as after:
                assert 'id="tests/renewed"' in (await after.json())["headers"]["Authorization"]
    finally:
        await proxy.close()


async def test_cookies_pass_to_the_caller_and_stay_out_of_later_requests(
    proxied: tuple[Upstream, TaskProxy],
) -> None:
    """By host name, as a real deployment is reached (aiohttp's cookie jar ignores IP addresses)."""
    upstream, _ = proxied
    by_name = upstream.url.replace("127.0.0.1", "localhost")
    proxy = TaskProxy(root_url=by_name, credentials=lambda: CREDENTIALS, authorized_scopes=[])
    await proxy.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            async with session.get(f"{proxy.url}/api/echo/v1/cookie") as response:
                assert response.headers["Set-Cookie"] == "session=abc; Path=/"
            async with session.get(f"{proxy.url}/api/echo/v1/headers") as response:
                assert "Cookie" not in (await response.json())["headers"]
    finally:
        await proxy.close()
