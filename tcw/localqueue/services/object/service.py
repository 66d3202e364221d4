"""The object service as the local deployment serves it."""

from __future__ import annotations

from tcw.localqueue.services import meta
from tcw.localqueue.services.api import Service
from tcw.localqueue.services.object import objects, scopes

SERVICE = Service(
    name="object",
    handlers={**meta.HANDLERS, **objects.HANDLERS},
    scopes=scopes.SCOPES,
    body_checks=objects.BODY_CHECKS,
)
