"""What every service's handlers share in one local deployment: the database, the clients, the clock,
settings and the notifier that wakes claimWork long-polls.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tcw.localqueue.auth.clients import Client, ClientStore
from tcw.localqueue.storage.database import Database


class QueueState:
    """One deployment's state; a service that needs more (a worker-manager's provider) adds its field here."""

    def __init__(
        self,
        *,
        db: Database,
        root_url: str,
        blob_dir: Path,
        claim_timeout: float,
        claim_work_wait: float,
        resolver_interval: float,
        clients: ClientStore,
        issuer: Client,
    ) -> None:
        self.db = db
        self.root_url = root_url
        self.blob_dir = blob_dir  # where object/s3 artifact bytes are stored
        self.claim_timeout = claim_timeout
        self.claim_work_wait = claim_work_wait
        self.resolver_interval = resolver_interval  # seconds between passes of background jobs
        self.clients = clients
        self.issuer = issuer  # the queue's own client, which signs the temporary credentials it hands out
        self.closing = False
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def now(self) -> datetime:
        return datetime.now(UTC)

    def notify_pending(self, task_queue_id: str) -> None:
        """Wake claimWork long-polls waiting on that task queue."""
        for waiter in self._waiters.pop(task_queue_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def close_waiters(self) -> None:
        """The queue is stopping: every long poll answers now (empty) instead of being cut off."""
        self.closing = True
        for task_queue_id in list(self._waiters):
            self.notify_pending(task_queue_id)

    async def wait_for_pending(self, task_queue_id: str) -> None:
        """Return once ``notify_pending`` names the queue; callers bound the wait (``asyncio.timeout``)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_queue_id, set()).add(waiter)
        try:
            await waiter
        finally:
            waiting = self._waiters.get(task_queue_id)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[task_queue_id]
