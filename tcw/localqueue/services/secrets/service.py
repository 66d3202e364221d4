"""The secrets service as the local deployment serves it."""

from __future__ import annotations

from tcw.localqueue.services import meta
from tcw.localqueue.services.api import Service
from tcw.localqueue.services.secrets import scopes, secrets

SERVICE = Service(
    name="secrets",
    handlers={**meta.HANDLERS, **secrets.HANDLERS},
    scopes=scopes.SCOPES,
    body_checks=secrets.BODY_CHECKS,
    background=secrets.run_forever,
)
