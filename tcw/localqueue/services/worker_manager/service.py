"""worker-manager as the local deployment serves it."""

from __future__ import annotations

from tcw.localqueue.services import meta
from tcw.localqueue.services.api import Service
from tcw.localqueue.services.worker_manager import pool_errors, pools, registration, rules, scopes, workers

SERVICE = Service(
    name="worker-manager",
    handlers={
        **meta.HANDLERS,
        **pools.HANDLERS,
        **workers.HANDLERS,
        **registration.HANDLERS,
        **pool_errors.HANDLERS,
    },
    scopes=scopes.SCOPES,
    body_checks=rules.BODY_CHECKS,
)
