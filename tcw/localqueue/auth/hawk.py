"""Who is calling: Hawk verification of a request's header or ``bewit``, as a deployment does it.

The real queue hands every request to the auth service, which verifies the Hawk header (or ``bewit`` query)
with a ±15 min clock skew, resolves the id and ``ext`` to a key and scopes (credentials.py) and merges in
the anonymous role. This module does the same against a ``ClientStore``, with mohawk doing the Hawk
arithmetic, and raises ``AuthenticationFailed`` with the auth service's messages. The ``issue_*_credentials``
functions are beside the clients (clients.py), the scope checks in scopes.py.
"""

from __future__ import annotations

import binascii
import hmac
import re
import time

import mohawk
import mohawk.base
import mohawk.exc
import mohawk.util

from tcw.localqueue.auth.clients import ClientStore
from tcw.localqueue.auth.credentials import Credentials, load_credentials, urlsafe_b64decode
from tcw.localqueue.auth.scopes import Caller
from tcw.localqueue.core.errors import AuthenticationFailed
from tcw.taskcluster_client import defer_mohawk_debug_formatting

HAWK_SKEW_SECONDS = 15 * 60
_REQUIRED_ATTRIBUTES = ("id", "ts", "nonce", "mac")

_BEWIT = re.compile(r"^(/.*)([?&])bewit=([^&$]*)(?:&(.+))?$")
_BEWIT_CHARACTERS = re.compile(r"^[\w-]*$")


def authenticate(
    clients: ClientStore,
    *,
    method: str,
    resource: str,
    host: str,
    port: int,
    authorization: str | None,
    content_type: str,
    body: bytes,
    now: float | None = None,
) -> Caller:
    """Verify a request's Hawk header or bewit and return the caller with its effective scopes.

    ``resource`` is the raw path and query exactly as sent (percent-encoding intact: aiohttp's
    ``request.raw_path``); ``host``/``port`` come from the Host header; ``content_type`` is the request's
    Content-Type header or "" when there is none (a bodiless POST hashes an empty body and type).
    No credentials at all is the anonymous caller.
    """
    defer_mohawk_debug_formatting()  # mohawk would pprint each header and payload for its debug log
    now = time.time() if now is None else now
    bewit = _BEWIT.match(resource) if "bewit=" in resource else None
    if authorization and bewit:
        raise AuthenticationFailed(
            "Cannot use two authentication schemes at once this request has both bewit in querystring "
            "and and 'authorization' header"
        )
    if authorization:
        url = _url(host, port, resource)
        return _verify_header(clients, method, url, authorization, content_type, body, now).caller
    if bewit:
        return _verify_bewit(clients, method, host, port, bewit, now).caller
    return Caller("anonymous", clients.anonymous_scopes)


def _url(host: str, port: int, resource: str) -> str:
    """An absolute URL for mohawk, which takes host, port and resource from it."""
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{netloc}:{port}{resource}"


def _verify_header(
    clients: ClientStore,
    method: str,
    url: str,
    authorization: str,
    content_type: str,
    body: bytes,
    now: float,
) -> Credentials:
    """mohawk parses the header once and asks ``key_for`` for the id's key; that callback sees the header
    only once it parsed, so the auth service's checks keep their order: format, attributes, credentials."""
    resolved: list[Credentials] = []

    def key_for(client_id: str) -> dict[str, str]:
        attributes = _attributes(authorization)
        if not all(attributes.get(key) for key in _REQUIRED_ATTRIBUTES):
            raise AuthenticationFailed("Bad Request: Missing attributes")
        resolved.append(load_credentials(clients, client_id, attributes.get("ext"), now))
        return {"id": client_id, "key": resolved[0].key, "algorithm": "sha256"}

    try:
        mohawk.Receiver(
            key_for,
            authorization,
            url,
            method.upper(),
            content=body,
            content_type=content_type,
            seen_nonce=lambda *_: False,  # like the auth service: no replay cache, the skew bounds replays
            localtime_offset_in_seconds=now - time.time(),
            accept_untrusted_content=True,  # lib-api checks the payload hash only when one was signed
            timestamp_skew_in_seconds=HAWK_SKEW_SECONDS,
        )
    except KeyError as error:  # the header parsed without an id (mohawk's own message needs one)
        raise AuthenticationFailed("Bad Request: Missing attributes") from error
    except mohawk.exc.MacMismatch as error:
        raise AuthenticationFailed("Unauthorized: Bad mac") from error
    except mohawk.exc.MisComputedContentHash as error:
        raise AuthenticationFailed(_payload_hash_message(authorization, content_type, body)) from error
    except mohawk.exc.TokenExpired as error:
        raise AuthenticationFailed("Unauthorized: Stale timestamp") from error
    except (mohawk.exc.HawkFail, ValueError) as error:
        failure = _late_failure(error) if resolved else AuthenticationFailed("Bad Request: Bad header format")
        raise failure from error
    return resolved[0]


def _attributes(authorization: str) -> dict[str, str]:
    """The ``key="value"`` pairs of a header mohawk has already parsed and validated, by its own pattern."""
    return dict(mohawk.util.HAWK_HEADER_RE.findall(authorization.partition(" ")[2]))


def _late_failure(error: Exception) -> AuthenticationFailed:
    """A failure after the header parsed and its credentials resolved."""
    if isinstance(error, mohawk.exc.HawkFail):
        return AuthenticationFailed(f"Unauthorized: {error}")
    return AuthenticationFailed("Bad Request: Invalid timestamp")  # a signed but non-numeric timestamp


def _payload_hash_message(authorization: str, content_type: str, body: bytes) -> str:
    computed = mohawk.util.calculate_payload_hash(body, "sha256", content_type)
    return (
        f"Invalid payload hash: {_attributes(authorization).get('hash')}\n"
        f"Computed payload hash: {_text(computed)}\n"
        "This happens when your request carries a signed hash of the payload and the hash doesn't match "
        "the hash we've computed on the server-side."
    )


def _verify_bewit(
    clients: ClientStore, method: str, host: str, port: int, match: re.Match[str], now: float
) -> Credentials:
    """Query-string auth for the URLs the official client's ``buildSignedUrl`` makes (GET only)."""
    if method.upper() not in ("GET", "HEAD"):
        raise AuthenticationFailed("Unauthorized: Invalid method")
    path, separator, encoded, rest = match.groups()
    if not encoded or not _BEWIT_CHARACTERS.match(encoded):
        raise AuthenticationFailed("Bad Request: Invalid bewit encoding")
    try:
        parts = urlsafe_b64decode(encoded).decode("latin-1").split("\\")
    except binascii.Error as error:
        raise AuthenticationFailed("Bad Request: Invalid bewit encoding") from error
    if len(parts) != 4:
        raise AuthenticationFailed("Bad Request: Invalid bewit structure")
    client_id, expiration, mac, ext = parts
    if not (client_id and expiration.isdigit() and mac):
        raise AuthenticationFailed("Bad Request: Missing bewit attributes")
    if int(expiration) <= now:
        raise AuthenticationFailed("Unauthorized: Access expired")
    credentials = load_credentials(clients, client_id, ext or None, now)
    resource = mohawk.base.Resource(
        credentials={"id": client_id, "key": credentials.key, "algorithm": "sha256"},
        url=_url(host, port, path + (separator + rest if rest else "")),
        method="GET",
        timestamp=expiration,
        nonce="",
        ext=ext or None,
    )
    expected = mohawk.util.calculate_mac("bewit", resource, None)
    if not hmac.compare_digest(_text(expected).encode(), mac.encode()):
        raise AuthenticationFailed("Unauthorized: Bad mac")
    return credentials


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
