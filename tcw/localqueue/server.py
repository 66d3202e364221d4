"""``LocalQueue``: runs the local deployment (every service of deployment.py) in the foreground
(`tcw queue serve`) or in a background thread with its own event loop (tests, demos and in-process use), and
hands out the credentials to talk to it. The top of the local deployment's layers: it opens the database,
loads the clients, builds the shared state and starts the HTTP layer and the services' background jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tcw.config import LocalQueueSettings, default_state_dir
from tcw.errors import UsageError
from tcw.localqueue.auth.clients import Client, ClientStore, generate_access_token
from tcw.localqueue.deployment import SERVICES
from tcw.localqueue.http.app import make_app
from tcw.localqueue.http.connections import (
    ConnectionGuard,
    GuardedSite,
    connection_limit,
    raise_descriptor_limit,
)
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import schema
from tcw.localqueue.storage.database import Database, get_meta, set_meta, transaction

log = logging.getLogger(__name__)

ISSUER_CLIENT_ID = "static/taskcluster/queue"
SHUTDOWN_GRACE = 0.25  # seconds in-flight requests (long polls) get when the queue stops
START_TIMEOUT = 30.0
MIN_RESOLVER_INTERVAL = 0.001  # zero would make the resolver loop spin


class LocalQueue:
    """A local Taskcluster-compatible Queue and object service at ``root_url``.

    ``with LocalQueue(settings) as queue:`` serves in a background thread until the block ends;
    ``serve_forever()`` serves in the calling thread until SIGINT or SIGTERM.
    """

    def __init__(self, settings: LocalQueueSettings | None = None) -> None:
        self.settings = _checked(settings or LocalQueueSettings())
        self.db_path = self._db_path()
        self.root_url = ""
        self.root_credentials: dict[str, str] | None = None
        self.credentials_file: Path | None = None
        self.created_root_credentials = False
        self._state: QueueState | None = None
        self._runner: web.AppRunner | None = None
        self._background: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._temp_dir: Path | None = None

    def _db_path(self) -> str:
        if self.settings.db is None:
            return str(default_state_dir() / "queue.sqlite3")
        return self.settings.db

    @property
    def state(self) -> QueueState:
        if self._state is None:
            raise RuntimeError("the local queue is not running")
        return self._state

    # -- talking to it

    def client_options(self, credentials: dict[str, str] | None = None) -> dict[str, Any]:
        """Options for ``taskcluster.Queue(...)`` (and Object, aio...): this root URL, these credentials
        (default: the root client's)."""
        options: dict[str, Any] = {"rootUrl": self.root_url}
        chosen = credentials if credentials is not None else self.root_credentials
        if chosen:
            options["credentials"] = dict(chosen)
        return options

    def add_client(self, client_id: str, scopes: Iterable[str]) -> dict[str, str]:
        """Add a permanent client (kept until the queue stops) and return its credentials."""
        client = Client(client_id, generate_access_token(), tuple(scopes))
        self.state.clients.add(client)
        return {"clientId": client.client_id, "accessToken": client.access_token}

    # -- background thread

    def start(self) -> LocalQueue:
        """Serve in a background thread; returns once the queue answers requests."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready, failure), name="tcw-local-queue", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError("the local queue did not start in time")
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and release the port and the database; safe to call twice."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join()
            self._thread = None

    def __enter__(self) -> LocalQueue:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(on_ready=lambda _queue: ready.set()))
        except BaseException as error:
            if ready.is_set():
                log.exception("the local queue stopped on an error")
            failure.append(error)
        finally:
            ready.set()
            loop.close()

    # -- foreground

    def serve_forever(self, on_ready: Callable[[LocalQueue], None] | None = None) -> None:
        """Serve in this thread until SIGINT or SIGTERM; ``on_ready`` runs once the port is open."""

        raise_descriptor_limit()  # this process is the server's own: let it hold what the host allows

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            await self._serve(on_ready=on_ready, handle_signals=True)

        asyncio.run(main())

    async def _serve(
        self, *, on_ready: Callable[[LocalQueue], None] | None, handle_signals: bool = False
    ) -> None:
        self._stopping = asyncio.Event()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._stopping.set)
        try:
            await self._open()
            if on_ready is not None:
                on_ready(self)
            await self._stopping.wait()
        finally:
            await self._close()

    async def _open(self) -> None:
        state = self._open_state()
        self._state = state
        guard = ConnectionGuard(connection_limit(self.settings.max_connections), self.settings.idle_timeout)
        self._runner = web.AppRunner(
            make_app(state, SERVICES, self._schemas_dir(), guard.middleware),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE,
        )
        await self._runner.setup()
        listener = _listen(self.settings.host, self.settings.port)
        host, port = listener.getsockname()[:2]
        self.root_url = f"http://{host}:{port}"
        state.root_url = self.root_url
        try:
            await GuardedSite(self._runner, listener, guard).start()
        except BaseException:
            listener.close()
            raise
        self._background = [
            asyncio.create_task(service.background(state)) for service in SERVICES if service.background
        ]
        self._background.append(asyncio.create_task(guard.sweep_forever()))
        log.info("local queue serving at %s (database %s)", self.root_url, self.db_path)

    async def _close(self) -> None:
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        if self._state is not None:
            self._state.close_waiters()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._state is not None:
            self._state.db.close()
            self._state = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def _open_state(self) -> QueueState:
        in_memory = self.db_path == ":memory:"
        if in_memory:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="tcw-local-queue-"))
            blob_dir = self._temp_dir / "blobs"
        else:
            db_file = Path(self.db_path)
            db_file.parent.mkdir(parents=True, exist_ok=True)
            blob_dir = db_file.with_name(db_file.name + ".blobs")
        clients = self._load_clients(in_memory)
        blob_dir.mkdir(parents=True, exist_ok=True)
        try:
            db = schema.open_db(self.db_path)
        except Exception as error:
            raise UsageError(f"cannot open the local queue database {self.db_path}: {error}") from error
        issuer = _issuer(db)
        clients.add(issuer)
        return QueueState(
            db=db,
            root_url="",
            blob_dir=blob_dir,
            claim_timeout=self.settings.claim_timeout,
            claim_work_wait=self.settings.claim_work_wait,
            resolver_interval=self.settings.resolver_interval,
            clients=clients,
            issuer=issuer,
        )

    def _schemas_dir(self) -> Path | None:
        directory = self.settings.schemas_dir
        if directory is not None and not Path(directory).is_dir():
            raise ValueError(f"LocalQueueSettings.schemas_dir: {directory} is not a directory")
        return None if directory is None else Path(directory)

    def _load_clients(self, in_memory: bool) -> ClientStore:
        if self.settings.clients_file:
            return ClientStore.from_file(Path(self.settings.clients_file))
        if not in_memory:
            db_file = Path(self.db_path)
            self.credentials_file = db_file.with_name(db_file.stem + ".root-credentials.json")
            self.created_root_credentials = not self.credentials_file.exists()
        clients, root = ClientStore.with_root(self.credentials_file)
        self.root_credentials = {"clientId": root.client_id, "accessToken": root.access_token}
        return clients


def _checked(settings: LocalQueueSettings) -> LocalQueueSettings:
    """Refuse durations that would hang or spin the queue (an infinite claimWork wait, a resolver looping
    without pause); config files are checked earlier, this guards settings made in code."""
    durations = {
        "claim_timeout": (settings.claim_timeout, 0.0),
        "claim_work_wait": (settings.claim_work_wait, 0.0),
        "resolver_interval": (settings.resolver_interval, MIN_RESOLVER_INTERVAL),
        "idle_timeout": (settings.idle_timeout, MIN_RESOLVER_INTERVAL),
    }
    for name, (value, lowest) in durations.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < lowest:
            raise ValueError(
                f"LocalQueueSettings.{name} must be a finite number of seconds >= {lowest}, got {value!r}"
            )
    return settings


def _issuer(db: Database) -> Client:
    """The queue's own client, which signs task credentials; its token is kept in the database so that
    credentials issued before a restart still verify after it."""
    token = get_meta(db, "issuer_access_token")
    if token is None:
        token = secrets.token_urlsafe(33)
        with transaction(db):
            set_meta(db, "issuer_access_token", token)
    return Client(ISSUER_CLIENT_ID, token, ("*",))


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY, which accepted sockets inherit (asyncio sets it on them too):
    without it, headers and body written apart wait ~40 ms for a delayed ACK."""
    infos: Sequence[Any] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _name, address = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(address)
        listener.listen(512)
    except OSError as error:
        listener.close()
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    listener.setblocking(False)
    return listener
