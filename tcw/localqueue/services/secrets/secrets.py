"""The secrets service's methods: set, get, remove and list, and the sweep that deletes expired secrets.

As in Taskcluster, an expired secret is gone for every reader at once (``get`` answers 404 "Secret not
found", as the real service's code does, though its description promises a 410), ``list`` leaves it out,
and a periodic job deletes it. A caller without ``secrets:get:<name>`` gets 403 whether or not the secret
exists, because the scope check comes before the lookup.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tcw.localqueue.core import checks
from tcw.localqueue.core.checks import Check, date_time, fields, json_object
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import secrets as rows
from tcw.localqueue.storage.database import transaction

log = logging.getLogger(__name__)

# Expired secrets are deleted every this many background passes: about once a minute at the default 5 s.
SWEEP_EVERY = 12

BODY_CHECKS: dict[str, Check] = {"set": fields({"secret": json_object, "expires": date_time})}


async def set_secret(call: ApiCall) -> Any:
    call.authorize()
    with transaction(call.state.db):
        rows.upsert_secret(
            call.state.db, call.params["name"], call.body["secret"], parse_date(call.body["expires"])
        )
    return {}


async def get_secret(call: ApiCall) -> Any:
    call.authorize()
    found = rows.load_secret(call.state.db, call.params["name"], call.state.now())
    if found is None:
        raise ResourceNotFound("Secret not found")
    return {"secret": found.secret, "expires": format_date(found.expires)}


async def remove_secret(call: ApiCall) -> Any:
    """Succeeds whether or not the secret exists, as the real service."""
    call.authorize()
    with transaction(call.state.db):
        rows.delete_secret(call.state.db, call.params["name"])
    return {}


async def list_secrets(call: ApiCall) -> Any:
    call.authorize()
    limit, offset = checks.page(call.query)
    names = rows.name_page(call.state.db, call.state.now(), limit, offset)
    return {"secrets": names, **checks.next_token(offset, limit, len(names))}


HANDLERS: dict[str, Handler] = {
    "set": set_secret,
    "get": get_secret,
    "remove": remove_secret,
    "list": list_secrets,
}


def sweep_expired(state: QueueState) -> None:
    with transaction(state.db):
        gone = rows.expire_secrets(state.db, state.now())
    if gone:
        log.info("removed %d expired secrets", gone)


async def run_forever(state: QueueState) -> None:
    """Delete expired secrets on the first pass and every ``SWEEP_EVERY``-th after; a failing pass is
    logged and the next one tries again."""
    passes = 0
    while True:
        if passes % SWEEP_EVERY == 0:
            try:
                sweep_expired(state)
            except Exception:
                log.exception("local secrets service: expiry sweep failed")
        passes += 1
        await asyncio.sleep(state.resolver_interval)
