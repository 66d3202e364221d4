"""Who this worker is to the queue when the config does not say."""

from __future__ import annotations

import re
import socket

_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]+")
_MAX_ID_LENGTH = 38


def sanitise_id(text: str, fallback: str = "tcw-worker") -> str:
    """``text`` made to match the queue's identifier pattern (``^[a-zA-Z0-9-_]{1,38}$``).

    Host names carry dots (forbidden: they are Pulse routing-key separators), so only the first label is
    kept when that is enough to be distinctive.
    """
    cleaned = _NOT_ALLOWED.sub("-", text.split(".", maxsplit=1)[0] or text).strip("-")
    return cleaned[:_MAX_ID_LENGTH] or fallback


def default_worker_id() -> str:
    return sanitise_id(socket.gethostname())
