"""Signing one run's requests: the Hawk ``Authorization`` header and bewit URLs a proxied request carries.

The Hawk ``ext`` (the certificate of the run's temporary credentials and the ``authorizedScopes``) is the
official client's own (``makeHawkExt``), and the header and bewit are mohawk's, as the client makes them;
only the request's payload hash is left out, so that bodies can stream through unread (Taskcluster checks
the hash only when one was signed, as taskcluster-proxy relies on too).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import mohawk
import mohawk.base
import mohawk.bewit

from tcw.taskcluster_client import defer_mohawk_debug_formatting, hawk_ext


@dataclass(frozen=True)
class RunSigner:
    """Signs as one set of the run's credentials; a reclaim brings new credentials and a new signer."""

    client_id: str
    access_token: str
    ext: str
    certificate_scopes: tuple[str, ...] | None  # None: permanent credentials
    authorized_scopes: tuple[str, ...]

    @classmethod
    def for_credentials(cls, credentials: Mapping[str, str], authorized_scopes: Sequence[str]) -> RunSigner:
        """``credentials`` as the queue gave them (a client given the same mapping encodes it to bytes in
        place, so bytes are read too)."""
        defer_mohawk_debug_formatting()  # mohawk would pprint each URL it signs for its debug log
        credentials = {key: _text(value) for key, value in credentials.items()}
        certificate = credentials.get("certificate")
        scopes = None
        if certificate:
            scopes = tuple(json.loads(certificate).get("scopes", ()))
        return cls(
            client_id=credentials["clientId"],
            access_token=credentials["accessToken"],
            ext=hawk_ext(credentials, authorized_scopes),
            certificate_scopes=scopes,
            authorized_scopes=tuple(authorized_scopes),
        )

    def _hawk_credentials(self) -> dict[str, Any]:
        return {"id": self.client_id, "key": self.access_token, "algorithm": "sha256"}

    def authorization(self, method: str, url: str) -> str:
        """The ``Authorization`` header for ``method url`` (no payload hash)."""
        sender = mohawk.Sender(self._hawk_credentials(), url, method, ext=self.ext, always_hash_content=False)
        return str(sender.request_header)

    def signed_url(self, url: str, seconds: float) -> str:
        """``url`` with a ``bewit`` that lets a GET of it through for ``seconds``."""
        resource = mohawk.base.Resource(
            credentials=self._hawk_credentials(),
            method="GET",
            ext=self.ext,
            url=url,
            timestamp=int(time.time() + seconds),
            nonce="",
        )
        bewit = mohawk.bewit.get_bewit(resource).rstrip("=")
        parts = urllib.parse.urlsplit(url)
        query = f"{parts.query}&bewit={bewit}" if parts.query else f"bewit={bewit}"
        return urllib.parse.urlunsplit(parts._replace(query=query))

    @cached_property
    def headers(self) -> Mapping[str, str]:
        """What taskcluster-proxy tells callers about the credentials it signs with (made once per
        signer, not per request)."""
        if self.certificate_scopes is None:
            headers = {"X-Taskcluster-Proxy-Perm-ClientId": self.client_id}
        else:
            headers = {
                "X-Taskcluster-Proxy-Temp-ClientId": self.client_id,
                "X-Taskcluster-Proxy-Temp-Scopes": json.dumps(list(self.certificate_scopes)),
            }
        headers["X-Taskcluster-Authorized-Scopes"] = json.dumps(list(self.authorized_scopes))
        return headers


def task_authorized_scopes(task: Mapping[str, Any], task_id: str, run_id: int) -> list[str]:
    """What a run's task may do with the run's credentials: its own scopes and creating its artifacts,
    never the claim's worker-only scopes (reclaim, resolve)."""
    scopes = [scope for scope in task.get("scopes", ()) if isinstance(scope, str)]
    return [*scopes, f"queue:create-artifact:{task_id}/{run_id}"]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
