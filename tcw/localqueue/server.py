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
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tcw.config import LocalQueueSettings, default_state_dir
from tcw.errors import UsageError
from tcw.localqueue.auth.clients import (
    PUBLIC_READ_SCOPES,
    ROOT_CLIENT_ID,
    Client,
    ClientStore,
    generate_access_token,
)
from tcw.localqueue.auth.keystore import DeploymentSecrets
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
from tcw.localqueue.storage.database import (
    Database,
    deployment_id,
    forget_meta,
    get_meta,
    stored_deployment_id,
)
from tcw.localqueue.ui.pages import Pages

log = logging.getLogger(__name__)

ISSUER_CLIENT_ID = "static/taskcluster/queue"
LEGACY_ISSUER_KEY = "issuer_access_token"  # where tcw kept the issuer token before the secrets directory
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
        self.created_root_credentials = False
        self.secrets: DeploymentSecrets | None = None  # None for an in-memory database
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

    def set_anonymous_role(self, scopes: Iterable[str]) -> None:
        """Give the deployment's anonymous role (what every caller holds) these scopes; it has none
        unless given some, here or by the clients file, as in a fresh Taskcluster deployment."""
        self.state.clients.set_anonymous_role(tuple(scopes))

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
            make_app(
                state,
                SERVICES,
                self._schemas_dir(),
                guard.middleware,
                self.settings.idle_timeout,
                pages=Pages(state, SERVICES).routes(),
            ),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE,
        )
        await self._runner.setup()
        listener = _listen(self.settings.host, self.settings.port)
        host, port = listener.getsockname()[:2]
        self.root_url = f"http://{host}:{port}"
        state.root_url = self.root_url
        if self.secrets is not None:
            self.secrets.record_serving(self.root_url)
        try:
            await GuardedSite(self._runner, listener, guard).start()
        except BaseException:
            listener.close()
            raise
        self._background = [
            asyncio.create_task(service.background(state)) for service in SERVICES if service.background
        ]
        self._background.append(asyncio.create_task(guard.sweep_forever()))
        log.debug("local queue serving at %s (database %s)", self.root_url, self.db_path)

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
        self._release_secrets()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def _open_state(self) -> QueueState:
        clients = (
            ClientStore.from_file(Path(self.settings.clients_file)) if self.settings.clients_file else None
        )
        if self.db_path == ":memory:":
            self._temp_dir = Path(tempfile.mkdtemp(prefix="tcw-local-queue-"))
            blob_dir = self._temp_dir / "blobs"
            blob_dir.mkdir()
            db = schema.open_db(self.db_path)
            issuer_token = secrets.token_urlsafe(33)
            if clients is None:
                clients = self._with_root(Client(ROOT_CLIENT_ID, generate_access_token(), ("*",)), True)
        else:
            db_file = Path(self.db_path)
            blob_dir = db_file.with_name(db_file.name + ".blobs")
            db = _open_database(db_file, blob_dir)
            try:
                issuer_token, clients = self._open_secrets(db, db_file, clients)
            except BaseException:
                db.close()
                self._release_secrets()
                raise
        issuer = Client(ISSUER_CLIENT_ID, issuer_token, ("*",))
        clients.add(issuer)
        if self.settings.public_read:
            clients.set_anonymous_role((*clients.anonymous_scopes, *PUBLIC_READ_SCOPES))
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

    def _open_secrets(
        self, db: Database, db_file: Path, clients: ClientStore | None
    ) -> tuple[str, ClientStore]:
        """Lock the database's secrets for this queue, and read them (moving those an older tcw kept in the
        database or beside it into the secrets directory)."""
        self.secrets = DeploymentSecrets.open(secrets_dir(self.settings), deployment_id(db))
        self.secrets.lock(self.db_path)
        legacy_issuer = get_meta(db, LEGACY_ISSUER_KEY)
        issuer_token = self.secrets.issuer_token(legacy_issuer)
        if legacy_issuer is not None:
            forget_meta(db, LEGACY_ISSUER_KEY)
        if clients is None:
            legacy_root = db_file.with_name(db_file.stem + ".root-credentials.json")
            clients = self._with_root(*self.secrets.root_client(legacy_root))
        return issuer_token, clients

    def _with_root(self, root: Client, created: bool) -> ClientStore:
        self.root_credentials = {"clientId": root.client_id, "accessToken": root.access_token}
        self.created_root_credentials = created
        return ClientStore((root,))

    def _release_secrets(self) -> None:
        if self.secrets is not None:
            self.secrets.unlock()

    def _schemas_dir(self) -> Path | None:
        directory = self.settings.schemas_dir
        if directory is not None and not Path(directory).is_dir():
            raise ValueError(f"LocalQueueSettings.schemas_dir: {directory} is not a directory")
        return None if directory is None else Path(directory)


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


def root_environment(settings: LocalQueueSettings) -> tuple[str, dict[str, str]]:
    """The root URL and root credentials of the queue of ``settings.db``, for ``tcw queue env``: the URL it
    serves at when it runs, else the one it is configured for."""
    if settings.clients_file:
        raise UsageError("this queue takes its clients from a clients file: use one of those credentials")
    path = settings.db or str(default_state_dir() / "queue.sqlite3")
    if path == ":memory:" or not Path(path).is_file():
        raise UsageError(f"no local queue database at {path}: start `tcw queue serve` first")
    try:
        name = stored_deployment_id(Path(path))
    except sqlite3.Error as error:
        raise UsageError(f"cannot read the local queue database {path}: {error}") from error
    if name is None:
        raise UsageError(f"the local queue database {path} has no secrets yet: start `tcw queue serve` once")
    store = DeploymentSecrets.open(secrets_dir(settings), name)
    credentials = store.root_credentials()
    if credentials is None:
        raise UsageError(f"no root credentials in {store.directory}: start `tcw queue serve` once")
    root_url = store.serving_root_url() or f"http://{settings.host}:{settings.port}"
    return root_url, credentials


def secrets_dir(settings: LocalQueueSettings) -> Path:
    """Where the deployments of this user keep their secrets (auth/keystore.py)."""
    if settings.secrets_dir is not None:
        return Path(settings.secrets_dir)
    return default_state_dir() / "local-queue-secrets"


def _open_database(db_file: Path, blob_dir: Path) -> Database:
    """Open the database file (and its blob directory); UsageError, one line, for a path that cannot hold
    one (under /proc, a directory...) or a file another user owns or may write (it would be theirs)."""
    try:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        info = os.stat(db_file) if db_file.exists() else None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise UsageError(f"the local queue database {db_file} is not a regular file")
        if info is not None and (info.st_uid != os.geteuid() or info.st_mode & 0o022):
            raise UsageError(
                f"the local queue database {db_file} belongs to another user or others may write it; "
                "it must be yours alone"
            )
        blob_dir.mkdir(mode=0o700, exist_ok=True)
        if os.lstat(blob_dir).st_uid != os.geteuid() or not blob_dir.is_dir() or blob_dir.is_symlink():
            raise UsageError(f"{blob_dir} (the artifact bytes of {db_file}) must be a directory of yours")
        blob_dir.chmod(0o700)  # private artifacts' bytes are in it (an older tcw made it 0755)
        db = schema.open_db(str(db_file))
    except UsageError:
        raise
    except (OSError, sqlite3.Error) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise UsageError(f"cannot open the local queue database {db_file}: {reason}") from error
    return db


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY, which accepted sockets inherit (asyncio sets it on them too):
    without it, headers and body written apart wait ~40 ms for a delayed ACK."""
    try:
        infos: Sequence[Any] = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as error:
        raise UsageError(f"cannot listen on {host}:{port}: not an address of this host ({error})") from error
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
