"""Setting and reading secrets of a secrets service (`tcw secret`): the value is any JSON object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tcw.errors import UsageError
from tcw.taskcluster_client import parse_time, sync_call

DEFAULT_LIFETIME = timedelta(days=365)


def parse_value(text: str, source: str) -> dict[str, Any]:
    """A secret's value from JSON text: it must be an object, as the service requires."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{source}: not JSON: {error}") from error
    if not isinstance(value, dict):
        raise UsageError(f"{source}: a secret must be a JSON object, not {type(value).__name__}")
    return value


def parse_expiry(text: str) -> datetime:
    """An ISO 8601 date-time with a zone (``2030-01-31T12:00:00Z``); a date alone is midnight UTC."""
    try:
        when = parse_time(text)
    except ValueError as error:
        raise UsageError(f"--expires: not an ISO 8601 date-time: {text!r}") from error
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def set_secret(secrets: Any, name: str, value: Mapping[str, Any], expires: datetime | None = None) -> str:
    """Create or replace the secret (with a sync ``secrets`` client); returns its expiry as sent."""
    when = (expires or datetime.now(UTC) + DEFAULT_LIFETIME).isoformat()
    with sync_call(f"set secret {name}"):
        secrets.set(name, {"secret": dict(value), "expires": when})
    return when


def get_secret(secrets: Any, name: str) -> dict[str, Any]:
    """The secret's ``{secret, expires}``."""
    with sync_call(f"get secret {name}"):
        return secrets.get(name)  # type: ignore[no-any-return]
