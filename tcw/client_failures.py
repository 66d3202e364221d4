"""What a failed call of the official ``taskcluster`` client said, read one way for every caller.

The client raises ``TaskclusterRestFailure`` (status and the service's JSON body), ``TaskclusterAuthFailure``
for a 401 (not a subclass of the former), ``TaskclusterConnectionError``, and lets aiohttp's
``ClientResponseError`` or a ``TimeoutError`` through from its async side. Callers differ in what a failure
means to them (the engine: retry or drop the run; the CLI: usage error or unavailable; inspect: a 404 may
be fine), not in how to read one. Reading only attributes keeps this free of client imports.
"""

from __future__ import annotations

from dataclasses import dataclass

# The service appends the request's details after this line; people want what comes before it.
_DETAILS_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class ClientFailure:
    status: int | None  # the HTTP status, or None when no answer came (connection error, timeout)
    message: str  # the service's whole message (a 400 lists each broken rule on its own line)

    @property
    def first_line(self) -> str:
        return self.message.splitlines()[0]


def read_failure(error: BaseException) -> ClientFailure:
    status = getattr(error, "status_code", None) or getattr(error, "status", None)
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = str(getattr(error, "message", None) or error)
    message = message.split(_DETAILS_SEPARATOR)[0].strip() or type(error).__name__
    return ClientFailure(int(status) if status else None, message)
