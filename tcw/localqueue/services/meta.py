"""The methods every Taskcluster service has (ping, lbheartbeat, heartbeat, version), for each service's
handler table."""

from __future__ import annotations

import time
from typing import Any

from tcw.localqueue.auth.scopes import Expression
from tcw.localqueue.services.api import ApiCall, Handler

STARTED = time.monotonic()


async def _ping(call: ApiCall) -> Any:
    call.authorize()
    return {"alive": True, "uptime": time.monotonic() - STARTED}


async def _empty(call: ApiCall) -> Any:
    call.authorize()
    return {}


async def _version(call: ApiCall) -> Any:
    from tcw import __version__

    call.authorize()
    return {"version": __version__}


HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "lbheartbeat": _empty,
    "heartbeat": _empty,
    "version": _version,
}
# None: every caller may (the real services require no scope for these).
SCOPES: dict[str, Expression | None] = {name: None for name in HANDLERS}
