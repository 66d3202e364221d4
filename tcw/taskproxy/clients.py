"""The official client's part in signing (to live in the one adapter module once it exists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def hawk_ext(credentials: Mapping[str, str], authorized_scopes: Sequence[str]) -> str:
    """The Hawk ``ext`` the official client sends for these credentials restricted to these scopes."""
    import taskcluster

    options = {
        "rootUrl": "http://unused.invalid",
        "credentials": dict(credentials),
        "authorizedScopes": list(authorized_scopes),
    }
    ext = taskcluster.Secrets(options).makeHawkExt()
    return ext.decode() if isinstance(ext, bytes) else str(ext)
