"""The proxy forwards to an https deployment, as every production one is, and checks its certificate.

The deployment here has a self-signed certificate made by the ``openssl`` command; the proxy trusts it
only through ``SSL_CERT_FILE``, which OpenSSL reads when the proxy loads the system's certificates."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tcw.engine.taskproxy import upstream as upstream_module
from tcw.engine.taskproxy.server import TaskProxy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

CREDENTIALS = {"clientId": "tests/tls", "accessToken": "token"}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject]
    subprocess.run([*command, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
async def https_deployment(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"path": request.raw_path, "signed": "Authorization" in request.headers})

    app = web.Application()
    app.router.add_get("/api/tls/v1/echo", echo)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://localhost:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
def fresh_tls_context() -> Iterator[None]:
    """The proxy loads the trusted certificates once per process: let each test load them anew."""
    upstream_module._tls_context.cache_clear()
    yield
    upstream_module._tls_context.cache_clear()


async def call_through_proxy(root_url: str) -> tuple[int, dict[str, object]]:
    proxy = TaskProxy(root_url=root_url, credentials=lambda: CREDENTIALS, authorized_scopes=[])
    await proxy.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/api/tls/v1/echo") as answer:
            return answer.status, await answer.json(content_type=None)
    finally:
        await proxy.close()


@pytest.mark.usefixtures("fresh_tls_context")
async def test_the_proxy_forwards_signed_requests_over_tls(
    https_deployment: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    status, body = await call_through_proxy(https_deployment)
    assert status == 200, body
    assert body == {"path": "/api/tls/v1/echo", "signed": True}


@pytest.mark.usefixtures("fresh_tls_context")
async def test_a_deployment_whose_certificate_is_not_trusted_is_never_sent_the_request(
    https_deployment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "none.pem").write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    status, body = await call_through_proxy(https_deployment)
    assert status == 502, body
    assert "certificate" in json.dumps(body).lower()
