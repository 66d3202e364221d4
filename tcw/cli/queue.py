"""`tcw queue serve`: the local Taskcluster-compatible queue, for demos, development and tests."""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from tcw.cli.main import pass_state

if TYPE_CHECKING:
    from tcw.localqueue.server import LocalQueue


@click.group("queue")
def queue() -> None:
    """The local Taskcluster-compatible queue."""


@queue.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on; 0 picks a free one (default 8731).")
@click.option("--db", default=None, help='SQLite database file, or ":memory:" (default: in the state dir).')
@click.option(
    "--clients",
    "clients_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="YAML list of clients (clientId, accessToken, scopes) instead of one root client.",
)
@click.option("--claim-timeout", type=float, default=None, help="Seconds a claim lasts (default 1200).")
@click.option("--claim-work-wait", type=float, default=None, help="Seconds claimWork waits (default 20).")
@click.option("--resolver-interval", type=float, default=None, help="Seconds between resolver passes.")
@click.option(
    "--secrets-dir",
    default=None,
    help="Private directory for the root credentials and issuer token (default: in the state dir).",
)
@click.option(
    "--schemas",
    "schemas_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Directory served at ROOT_URL/schemas/, as a deployment serves its payload schemas.",
)
@click.option(
    "--public-read",
    is_flag=True,
    default=None,
    help="Let callers without credentials (and the web view) read tasks, public artifacts and workers.",
)
def serve(
    host: str | None,
    port: int | None,
    db: str | None,
    clients_file: Path | None,
    claim_timeout: float | None,
    claim_work_wait: float | None,
    resolver_interval: float | None,
    secrets_dir: str | None,
    schemas_dir: str | None,
    public_read: bool | None,
) -> None:
    """Serve the Queue, object and worker-manager APIs at http://HOST:PORT until SIGINT or SIGTERM.

    Production workers talk to a real Taskcluster deployment; this queue is for demos, development and
    tests. Without --clients, a root client is made once; `tcw queue env` prints its credentials, which
    are kept in a private directory (--secrets-dir), never beside the database. One queue per database.
    """
    from tcw.localqueue.server import LocalQueue

    config = pass_state(click.get_current_context()).load(
        **{
            "queue.host": host,
            "queue.port": port,
            "queue.db": db,
            "queue.clients_file": None if clients_file is None else str(clients_file),
            "queue.claim_timeout": claim_timeout,
            "queue.claim_work_wait": claim_work_wait,
            "queue.resolver_interval": resolver_interval,
            "queue.schemas_dir": schemas_dir,
            "queue.secrets_dir": secrets_dir,
            "queue.public_read": public_read,
        }
    )
    LocalQueue(config.queue).serve_forever(on_ready=_announce)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _announce(queue: LocalQueue) -> None:
    """Say once where the queue is and how to talk to it. The root token is shown only for an in-memory
    database (nowhere else to find it); otherwise `tcw queue env` reads it from the private secrets
    directory, so that it never lands in terminals' scrollback or service logs."""
    click.echo(f"Local queue serving at {queue.root_url} (database {queue.db_path})")
    readers = "public read" if queue.settings.public_read else "only what the anonymous role may read"
    click.echo(f"  web view: {queue.root_url}/ ({readers})")
    if not _loopback(queue.settings.host):
        click.echo(
            f"Warning: serving plain HTTP on {queue.settings.host}, which is not a loopback address. Anyone"
            " who sees a request can replay it within the 15 minutes hawk allows: reach this queue only over"
            " loopback or through a TLS front (a reverse proxy) that is the only way in.",
            err=True,
        )
    credentials = queue.root_credentials
    if credentials is None:
        click.echo(f"  clients from {queue.settings.clients_file}")
        click.echo(f"  export TASKCLUSTER_ROOT_URL={queue.root_url}")
    elif queue.secrets is None:
        for line in exports(queue.root_url, credentials):
            click.echo(f"  {line}")
    else:
        new = " (new root credentials)" if queue.created_root_credentials else ""
        click.echo(f'  eval "$({_env_command(queue)})"   # sets TASKCLUSTER_* for this queue{new}')
    click.echo("Press Ctrl+C to stop.")


def _env_command(queue: LocalQueue) -> str:
    command = "tcw queue env"
    if queue.settings.db is not None:
        command += f" --db {shlex.quote(queue.db_path)}"
    if queue.settings.secrets_dir is not None:
        command += f" --secrets-dir {shlex.quote(queue.settings.secrets_dir)}"
    return command


def exports(root_url: str, credentials: dict[str, str]) -> list[str]:
    return [
        f"export TASKCLUSTER_ROOT_URL={shlex.quote(root_url)}",
        f"export TASKCLUSTER_CLIENT_ID={shlex.quote(credentials['clientId'])}",
        f"export TASKCLUSTER_ACCESS_TOKEN={shlex.quote(credentials['accessToken'])}",
    ]


@queue.command("env")
@click.option("--db", default=None, help="The database of the queue (default: as for queue serve).")
@click.option("--secrets-dir", default=None, help="Where its secrets are kept (default: as for queue serve).")
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0.0,
    metavar="S",
    help="Wait up to S seconds for a queue still starting (`tcw queue serve &` just before) [default: 0].",
)
def env(db: str | None, secrets_dir: str | None, wait: float) -> None:
    """Print the exports that point Taskcluster clients at the local queue, with its root credentials.

    Use it as `eval "$(tcw queue env)"`. It reads the root credentials from the queue's private secrets
    directory, so only the queue's user can run it; the root URL is the one the queue serves at when it
    is running, else the one it is configured to serve at.
    """
    from tcw.localqueue.server import root_environment

    config = pass_state(click.get_current_context()).load(
        **{"queue.db": db, "queue.secrets_dir": secrets_dir}
    )
    root_url, credentials = _when_started(lambda: root_environment(config.queue), wait)
    for line in exports(root_url, credentials):
        click.echo(line)


T = TypeVar("T")


def _when_started(read: Callable[[], T], wait: float) -> T:
    """``read()``, tried again for up to ``wait`` seconds while it finds no started queue (UsageError):
    pasted in order, `tcw queue serve &` may not have made its database yet."""
    import time

    from tcw.errors import UsageError

    deadline = time.monotonic() + wait
    while True:
        try:
            return read()
        except UsageError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
