"""`tcw secret set NAME FILE|-` and `tcw secret get NAME`, against any Taskcluster root URL."""

from __future__ import annotations

import json
from typing import IO

import click

from tcw.cli.main import pass_state


@click.group("secret")
def secret() -> None:
    """Set and read secrets of the secrets service (tasks read theirs through the task proxy)."""


@secret.command("set")
@click.argument("name")
@click.argument("source", metavar="FILE|-", type=click.File("r", encoding="utf-8"))
@click.option(
    "--expires",
    metavar="DATETIME",
    default=None,
    help="When the secret expires, ISO 8601 (2030-01-31T12:00:00Z; default: in a year).",
)
def set_command(name: str, source: IO[str], expires: str | None) -> None:
    """Set secret NAME to the JSON object in FILE (or - for stdin)."""
    from tcw.secrets import parse_expiry, parse_value, set_secret
    from tcw.taskcluster_client import sync_client

    config = pass_state(click.get_current_context()).load()
    value = parse_value(source.read(), getattr(source, "name", "-"))
    when = parse_expiry(expires) if expires is not None else None
    set_secret(sync_client("secrets", config.client_options()), name, value, when)


@secret.command("get")
@click.argument("name")
def get_command(name: str) -> None:
    """Print the value of secret NAME as JSON."""
    from tcw.secrets import get_secret
    from tcw.taskcluster_client import sync_client

    config = pass_state(click.get_current_context()).load()
    click.echo(
        json.dumps(get_secret(sync_client("secrets", config.client_options()), name)["secret"], indent=2)
    )
