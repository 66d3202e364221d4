"""`tcw queue serve`: the local Taskcluster-compatible queue, for demos, development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    "--schemas",
    "schemas_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Directory served at ROOT_URL/schemas/, as a deployment serves its payload schemas.",
)
def serve(
    host: str | None,
    port: int | None,
    db: str | None,
    clients_file: Path | None,
    claim_timeout: float | None,
    claim_work_wait: float | None,
    resolver_interval: float | None,
    schemas_dir: str | None,
) -> None:
    """Serve the Queue and object APIs at http://HOST:PORT until SIGINT or SIGTERM.

    Production workers talk to a real Taskcluster deployment; this queue is for demos, development and
    tests. Without --clients, a root client is made once and its credentials kept beside the database.
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
        }
    )
    LocalQueue(config.queue).serve_forever(on_ready=_announce)


def _announce(queue: LocalQueue) -> None:
    """Say where the queue is and how to talk to it; a token is shown only when it is new."""
    click.echo(f"Local queue serving at {queue.root_url} (database {queue.db_path})")
    click.echo(f"  export TASKCLUSTER_ROOT_URL={queue.root_url}")
    credentials = queue.root_credentials
    if credentials is None:
        click.echo("  clients from " + str(queue.settings.clients_file))
    elif queue.credentials_file is None or queue.created_root_credentials:
        click.echo(f"  export TASKCLUSTER_CLIENT_ID={credentials['clientId']}")
        click.echo(f"  export TASKCLUSTER_ACCESS_TOKEN={credentials['accessToken']}")
        if queue.credentials_file is not None:
            click.echo(f"  (root credentials saved in {queue.credentials_file})")
    else:
        click.echo(f"  root credentials: {queue.credentials_file}")
    click.echo("Press Ctrl+C to stop.")
