"""What an operator of a fleet sees of a running worker: its HTTP servers and its status file.

``operator_surface`` starts, as the worker settings ask, one aiohttp server for live logs
(``live_log_port``) and one for ``/metrics`` and ``/healthz`` (``metrics_port``; without one they are
served beside the live logs), and keeps the work root's status file (always). Port 0 takes any free port;
the URLs really bound are in the status file's ``endpoints`` (and in ``tcw status``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from tcw.config import WorkerSettings
from tcw.engine import health
from tcw.engine.status import status_file
from tcw.engine.worker import Worker

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 2.0  # every run has ended when the servers stop: only idle connections remain
ANY_ADDRESS = ("0.0.0.0", "::", "")


@contextlib.asynccontextmanager
async def serving(address: str, port: int, routes: Sequence[web.RouteDef]) -> AsyncIterator[int]:
    """An aiohttp server with ``routes`` on ``address``:``port`` for the block; yields the bound port."""
    from aiohttp import web

    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, address, port)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def default_base_url(address: str, port: int) -> str:
    """``http://<host>:<port>``: the address listened on, or this host's name when it listens on all."""
    host = socket.getfqdn() if address in ANY_ADDRESS else address
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


@contextlib.asynccontextmanager
async def operator_surface(worker: Worker, settings: WorkerSettings) -> AsyncIterator[dict[str, str]]:
    """The worker's live log and metrics servers and status file for the block; yields their URLs."""
    endpoints: dict[str, str] = {}

    def checks() -> list[web.RouteDef]:  # only when served: building them imports aiohttp.web
        return health.routes(worker.metrics, settings.health_window)

    async with contextlib.AsyncExitStack() as stack:
        if settings.live_log_port is not None:
            shared = checks() if settings.metrics_port is None else []
            routes = [*worker.live_logs.routes(), *shared]
            port = await stack.enter_async_context(
                serving(settings.listen_address, settings.live_log_port, routes)
            )
            local = default_base_url(settings.listen_address, port)
            worker.live_logs.base_url = settings.live_log_url or local
            endpoints["liveLogs"] = worker.live_logs.base_url
            if shared:
                endpoints["metrics"] = f"{local}/metrics"
            log.info("live logs at %s/log/<token>", worker.live_logs.base_url)
        if settings.metrics_port is not None:
            port = await stack.enter_async_context(
                serving(settings.listen_address, settings.metrics_port, checks())
            )
            endpoints["metrics"] = f"{default_base_url(settings.listen_address, port)}/metrics"
        if "metrics" in endpoints:
            endpoints["healthz"] = endpoints["metrics"].removesuffix("/metrics") + "/healthz"
            log.info("metrics at %s, health at %s", endpoints["metrics"], endpoints["healthz"])
        endpoints["status"] = str(await stack.enter_async_context(status_file(worker, endpoints)))
        try:
            yield endpoints
        finally:
            worker.live_logs.base_url = None
