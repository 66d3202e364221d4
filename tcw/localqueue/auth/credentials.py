"""What a Hawk id resolves to, like the auth service's ``loadCredentials``: the MAC key and the scopes.

A permanent client is found by its id. The ``ext`` field may carry a temporary-credentials ``certificate``
(signed by its issuer, whose scopes must cover it; the key is derived from the issuer's token and the seed)
and/or ``authorizedScopes`` (which narrow the scopes). Every caller also holds ``assume:anonymous`` and so
the scopes of the deployment's anonymous role (``ClientStore.anonymous_scopes``: none unless the clients
file gives the role some, as in a fresh Taskcluster deployment).

Resolving a certificate costs a JSON parse, HMACs and scope checks, and a worker signs every call of a run
with the same one, so resolutions are remembered per (id, ext) while the issuing client is unchanged; only
the certificate's validity window is checked again each time. The memory belongs to the ``ClientStore``
(one per queue), so two queues in one process never share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from tcw.localqueue.auth.clients import Client, ClientStore
from tcw.localqueue.auth.scopes import Caller, satisfies, valid_scopes
from tcw.localqueue.core import jsonio
from tcw.localqueue.core.errors import AuthenticationFailed

CERTIFICATE_SKEW_MS = 5 * 60 * 1000
CERTIFICATE_MAX_MS = 31 * 24 * 60 * 60 * 1000
REMEMBERED_MAX = 1024


@dataclass(frozen=True)
class Credentials:
    """What a Hawk id resolves to once ``ext`` is applied: the MAC key, and the caller it authenticates
    (its scopes with the anonymous ones merged in)."""

    key: str
    caller: Caller


@dataclass(frozen=True)
class _Resolved:
    credentials: Credentials
    issuer: Client  # the very object the store held, so that a replaced client is resolved afresh
    certificate: Mapping[str, Any] | None


def load_credentials(clients: ClientStore, client_id: str, ext: str | None, now: float) -> Credentials:
    """Resolve a Hawk id and its ``ext`` at ``now`` (seconds since the epoch); AuthenticationFailed with the
    auth service's message when they do not resolve."""
    remembered = clients.resolved
    known = cast("_Resolved | None", remembered.get((client_id, ext)))
    if known is not None and clients.get(known.issuer.client_id) is known.issuer:
        if known.certificate is not None:
            _check_certificate_times(known.certificate, now * 1000)
        return known.credentials
    resolved = _resolve(clients, client_id, ext, now)
    if len(remembered) >= REMEMBERED_MAX:
        remembered.clear()
    remembered[(client_id, ext)] = resolved
    return resolved.credentials


def _resolve(clients: ClientStore, client_id: str, ext: str | None, now: float) -> _Resolved:
    extension = _parse_ext(ext) if ext else {}
    certificate = extension.get("certificate")
    issuer_id = client_id
    if isinstance(certificate, dict) and certificate.get("issuer"):
        issuer_id = certificate["issuer"]
        if not isinstance(issuer_id, str):
            raise AuthenticationFailed("ext.certificate.issuer must be a string")
        if issuer_id == client_id:
            raise AuthenticationFailed("ext.certificate.issuer must differ from the supplied clientId")
    issuer = clients.get(issuer_id)
    if issuer is None:
        raise AuthenticationFailed(f"Client with clientId '{issuer_id}' not found")
    key, scopes = issuer.access_token, issuer.scopes
    if _truthy(certificate):
        key, scopes = _verify_certificate(certificate, client_id, issuer, now * 1000)
    if _truthy(extension.get("authorizedScopes")):
        scopes = _restrict(scopes, extension["authorizedScopes"], clients.anonymous_scopes)
    caller = Caller(client_id, _merge(scopes, clients.anonymous_scopes))
    return _Resolved(Credentials(key, caller), issuer, certificate if _truthy(certificate) else None)


def _parse_ext(ext: str) -> dict[str, Any]:
    try:
        extension = jsonio.parse(urlsafe_b64decode(ext))
    except ValueError as error:
        raise AuthenticationFailed("Failed to parse ext") from error
    if not isinstance(extension, dict):
        raise AuthenticationFailed("Failed to parse ext")
    return extension


def _verify_certificate(
    certificate: Any, credential_name: str, issuer: Client, now_ms: float
) -> tuple[str, tuple[str, ...]]:
    """Check a temporary-credentials certificate; return the temporary key and the certificate's scopes."""
    _check_certificate_fields(certificate)
    _check_certificate_times(certificate, now_ms)
    scopes: list[str] = certificate["scopes"]
    if issuer.client_id != credential_name:
        create_scope = f"auth:create-client:{credential_name}"
        if not satisfies(issuer.scopes, create_scope):
            raise AuthenticationFailed(
                f"ext.certificate issuer `{issuer.client_id}` doesn't have `{create_scope}` for supplied "
                "clientId."
            )
    elif "clientId" in certificate:
        raise AuthenticationFailed("ext.certificate.clientId must only be used with ext.certificate.issuer")
    if not all(satisfies(issuer.scopes, scope) for scope in scopes):
        raise AuthenticationFailed(
            f"ext.certificate issuer `{issuer.client_id}` doesn't satisfy all certificate scopes "
            f"{', '.join(scopes)}.  The temporary credentials were not generated correctly."
        )
    expected = _certificate_signature(certificate, credential_name, issuer.access_token)
    signature = certificate.get("signature")
    if not isinstance(signature, str) or not hmac.compare_digest(signature.encode(), expected.encode()):
        suffix = ", or wrong clientId provided" if certificate.get("issuer") else ""
        raise AuthenticationFailed(f"ext.certificate.signature is not valid{suffix}")
    return _temporary_key(issuer.access_token, certificate["seed"]), tuple(scopes)


def _check_certificate_fields(certificate: Any) -> None:
    if not isinstance(certificate, dict):
        raise AuthenticationFailed("ext.certificate must be a JSON object")
    if certificate.get("version") != 1 or isinstance(certificate.get("version"), bool):
        raise AuthenticationFailed("ext.certificate.version must be 1")
    seed = certificate.get("seed")
    if not isinstance(seed, str):
        raise AuthenticationFailed("ext.certificate.seed must be a string")
    if len(seed) != 44:
        raise AuthenticationFailed("ext.certificate.seed must be 44 characters")
    for name in ("start", "expiry"):
        if not _is_number(certificate.get(name)):
            raise AuthenticationFailed(f"ext.certificate.{name} must be a number")
    scopes = certificate.get("scopes")
    if not isinstance(scopes, list):
        raise AuthenticationFailed("ext.certificate.scopes must be an array")
    if not valid_scopes(scopes):
        raise AuthenticationFailed("ext.certificate.scopes must be an array of valid scopes")


def _check_certificate_times(certificate: Mapping[str, Any], now_ms: float) -> None:
    if certificate["start"] > now_ms + CERTIFICATE_SKEW_MS:
        raise AuthenticationFailed("ext.certificate.start > now")
    if certificate["expiry"] < now_ms - CERTIFICATE_SKEW_MS:
        raise AuthenticationFailed("ext.certificate.expiry < now")
    if certificate["expiry"] - certificate["start"] > CERTIFICATE_MAX_MS:
        raise AuthenticationFailed("ext.certificate cannot last longer than 31 days!")


def _certificate_signature(certificate: Mapping[str, Any], credential_name: str, key: str) -> str:
    """The documented signed lines; a named certificate also signs its clientId and issuer."""
    lines = ["version:1"]
    if certificate.get("issuer"):
        lines += [f"clientId:{credential_name}", f"issuer:{certificate['issuer']}"]
    lines += [
        f"seed:{certificate['seed']}",
        f"start:{_js_number(certificate['start'])}",
        f"expiry:{_js_number(certificate['expiry'])}",
        "scopes:",
        *certificate["scopes"],
    ]
    digest = hmac.new(key.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _temporary_key(issuer_token: str, seed: str) -> str:
    digest = hmac.new(issuer_token.encode(), seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _restrict(scopes: Sequence[str], authorized: Any, anonymous: Sequence[str]) -> tuple[str, ...]:
    """``authorizedScopes`` replaces the scopes, but only with scopes the credentials already hold."""
    if not isinstance(authorized, list):
        raise AuthenticationFailed("ext.authorizedScopes must be an array")
    if not valid_scopes(authorized):
        raise AuthenticationFailed("ext.authorizedScopes must be an array of valid scopes")
    held = _merge(scopes, anonymous)
    if not all(satisfies(held, scope) for scope in authorized):
        raise AuthenticationFailed(
            "\n".join(
                [
                    "Supplied credentials do not satisfy authorizedScopes; credentials have scopes:",
                    "",
                    "```",
                    *held,
                    "```",
                    "",
                    "authorizedScopes are:",
                    "",
                    "```",
                    *authorized,
                    "```",
                ]
            )
        )
    return tuple(authorized)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness, which decides whether the auth service applies an ``ext`` field: an empty
    ``authorizedScopes`` list still applies (and leaves only the anonymous scopes)."""
    return value is not None and value is not False and value not in (0, "")


def _merge(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_number(value: float) -> str:
    """How JavaScript prints a number: integral floats without ``.0``."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def urlsafe_b64decode(text: str) -> bytes:
    """Node's Buffer.from(..., 'base64') accepts both alphabets, with or without padding."""
    normalized = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normalized + "=" * (-len(normalized) % 4))
