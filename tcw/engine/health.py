"""``/healthz``: whether the worker's loop still makes progress, for Kubernetes and other supervisors.

Progress is an answered claimWork or a landed reclaim (``WorkerMetrics.last_progress``). A worker that has
seen neither for ``window`` seconds is wedged or cut off from its queue: it answers 503 with what it last
saw, so a supervisor can restart it instead of someone watching a log file's mtime. A busy worker does not
poll, but reclaims its runs, so the window must exceed the time between reclaims.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tcw.engine.metrics import WorkerMetrics

if TYPE_CHECKING:
    from aiohttp import web


def health(metrics: WorkerMetrics, window: float) -> tuple[bool, str]:
    """(healthy?, why), as ``/healthz`` answers it."""
    quiet = time.monotonic() - metrics.last_progress
    if quiet <= window:
        return True, f"ok: last claimWork answer or reclaim {quiet:.0f} s ago\n"
    why = f"unhealthy: no claimWork answer and no reclaim for {quiet:.0f} s (window {window:g} s)"
    if metrics.last_error is not None:
        why += f"; last error: {metrics.last_error.message}"
    return False, why + "\n"


def routes(metrics: WorkerMetrics, window: float) -> list[web.RouteDef]:
    """``/healthz`` and ``/metrics``, served together (on ``metrics_port`` or the live log port)."""
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST

    async def healthz(request: web.Request) -> web.Response:
        healthy, text = health(metrics, window)
        return web.Response(status=200 if healthy else 503, text=text)

    async def exposition(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/healthz", healthz), web.get("/metrics", exposition)]
