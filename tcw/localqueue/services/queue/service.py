"""The queue service as the local deployment serves it: its handlers, body checks and resolver loop."""

from __future__ import annotations

from tcw.localqueue.services import meta
from tcw.localqueue.services.api import Service
from tcw.localqueue.services.queue import (
    artifact_reads,
    artifacts,
    claims,
    resolution,
    resolvers,
    rules,
    scopes,
    tasks,
    workers,
)

SERVICE = Service(
    name="queue",
    handlers={
        **meta.HANDLERS,
        **tasks.HANDLERS,
        **claims.HANDLERS,
        **resolution.HANDLERS,
        **workers.HANDLERS,
        **artifacts.HANDLERS,
        **artifact_reads.HANDLERS,
    },
    scopes=scopes.SCOPES,
    body_checks={**rules.BODY_CHECKS, **artifacts.BODY_CHECKS},
    background=resolvers.run_forever,
)
