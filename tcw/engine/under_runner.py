"""`tcw run --with-worker-runner`: the daemon as worker-runner's child (tools/worker-runner).

The pipes are taken first and the handshake done before anything else, so that even a bad config can be
told to the runner (``error-report``) before the worker exits non-zero. Then the runner's messages steer
the worker: ``graceful-termination`` drains it (tasks stopped and reported worker-shutdown unless
``finish-tasks``), ``new-credentials`` replaces the credentials of its next calls. When the worker stops
of its own accord (``idle_timeout``, ``max_tasks``) it sends ``shutdown``, so the runner removes the
instance. Log records go to the runner as ``log`` messages when it takes them, to stderr otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tcw.config import Config
from tcw.engine.runner import (
    ERROR_REPORT,
    GRACEFUL_TERMINATION,
    LOG,
    NEW_CREDENTIALS,
    SHUTDOWN,
    RunnerChannel,
    RunnerLogHandler,
    error_report,
)
from tcw.errors import ConfigError, TcwError

if TYPE_CHECKING:  # the engine is imported after the handshake (see _serve): the runner waits for hello
    from tcw.engine.daemon import ExecutorLoader, WorkerSetup
    from tcw.engine.worker import RunRecord, Worker

log = logging.getLogger(__name__)

LOCATION_VARIABLE = "TASKCLUSTER_WORKER_LOCATION"


def run_under_runner(load: Callable[[], Config], load_executor: ExecutorLoader) -> list[RunRecord]:
    """The process's life under worker-runner; ``load`` reads the config (after the handshake)."""
    channel = RunnerChannel.take_stdio()
    try:
        return asyncio.run(_serve(channel, load, load_executor))
    finally:
        channel.close()


async def _serve(
    channel: RunnerChannel, load: Callable[[], Config], load_executor: ExecutorLoader
) -> list[RunRecord]:
    await channel.handshake()
    from tcw.engine.daemon import prepare  # the engine's imports take most of a second: after hello

    try:
        config = load()
        if channel.capable(LOG):
            send_logs_to(channel)
        setup = prepare(config, load_executor)
    except TcwError as error:
        kind = "config-error" if isinstance(error, ConfigError) else "worker-error"
        channel.send(ERROR_REPORT, **error_report(kind, "tcw cannot start", error.message))
        raise
    return await _serve_worker(channel, config, setup)


async def _serve_worker(channel: RunnerChannel, config: Config, setup: WorkerSetup) -> list[RunRecord]:
    from tcw.engine.daemon import open_worker, serve_worker
    from tcw.engine.isolation import protect_worker_secrets

    protect_worker_secrets()
    if config.worker.location:
        os.environ[LOCATION_VARIABLE] = config.worker.location  # executors pass it on to tasks
    async with open_worker(config, setup) as worker:
        obeying = asyncio.create_task(obey(channel, worker))
        try:
            records = await serve_worker(worker)
        except TcwError as error:
            channel.send(
                ERROR_REPORT, **error_report("worker-error", "tcw stopped on an error", error.message)
            )
            raise
        finally:
            obeying.cancel()
            await asyncio.gather(obeying, return_exceptions=True)
    if not worker.stopping:  # idle or done: nothing will bring this instance more work
        channel.send(SHUTDOWN)
    return records


async def obey(channel: RunnerChannel, worker: Worker) -> None:
    """Act on the runner's messages until it closes its end; then finish the running tasks and stop."""
    async for message in channel.messages():
        kind = message["type"]
        if kind == GRACEFUL_TERMINATION:
            finish = message.get("finish-tasks") is True
            log.info("worker-runner asks the worker to terminate (finish-tasks: %s)", finish)
            worker.drain(finish_tasks=finish)
        elif kind == NEW_CREDENTIALS:
            credentials = credentials_in(message)
            if credentials is None:
                log.error("worker-runner sent new-credentials without client-id and access-token strings")
                continue
            worker.port.use_credentials(credentials)
            log.info("calling with new credentials from worker-runner (client %s)", credentials["clientId"])
        else:
            log.debug("ignoring worker-runner's %s message", kind)
    log.warning("worker-runner closed the protocol: finishing the running tasks, then stopping")
    worker.drain(finish_tasks=True)


def credentials_in(message: Mapping[str, Any]) -> dict[str, str] | None:
    """The official client's credentials from a new-credentials message (its certificate may be "")."""
    client_id, token, certificate = (message.get(key) for key in ("client-id", "access-token", "certificate"))
    if not (isinstance(client_id, str) and client_id and isinstance(token, str) and token):
        return None
    credentials = {"clientId": client_id, "accessToken": token}
    if isinstance(certificate, str) and certificate:
        credentials["certificate"] = certificate
    return credentials


def send_logs_to(channel: RunnerChannel) -> None:
    """Every log record as a ``log`` message instead of a stderr line (the runner writes both to the same
    destination; one copy is enough)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RunnerLogHandler(channel))
