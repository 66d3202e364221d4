"""Membership of a worker pool without worker-runner (``tcw run --worker-pool P/W``): register with
worker-manager with a static worker's secret, reregister before the credentials expire, ask
``shouldWorkerTerminate`` now and then, report fatal errors, and remove the worker when it stops for
good. The credentials and the secrets live in memory only.
"""

from __future__ import annotations

LONG_SETBACK = 30 * 60.0  # seconds before expiry worker-runner renews long-lived credentials
WAIT_AT_LEAST = 5 * 60.0  # ...but it never renews sooner than this after getting them
MIN_SETBACK = 30.0  # ...and never later than this before they expire


def renew_delay(until_expiry: float) -> float:
    """Seconds to wait before reregistering, for credentials expiring in ``until_expiry`` seconds:
    worker-runner's ``renewBeforeExpire`` (tools/worker-runner/registration), so a pool behaves the same
    whichever of the two registered its workers."""
    renew = until_expiry - LONG_SETBACK
    if renew < WAIT_AT_LEAST:
        renew = WAIT_AT_LEAST
        if renew > until_expiry - MIN_SETBACK:
            renew = max(until_expiry - MIN_SETBACK, 0.0)
    return renew
