"""Signals: the first SIGTERM/SIGINT is a warm stop, the second a cold one (as rq does); SIGUSR1 drains
(no more claims, running tasks finish however long they take), as generic-worker's graceful termination."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DRAIN_SIGNAL = signal.SIGUSR1


@contextlib.contextmanager
def stop_on_signals(
    request_stop: Callable[[], None], drain: Callable[[], None] | None = None
) -> Iterator[None]:
    """Call ``request_stop`` on each stop signal (and ``drain`` on SIGUSR1) while the block runs (a no-op
    outside the main thread)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    actions = {signum: request_stop for signum in STOP_SIGNALS}
    if drain is not None:
        actions[DRAIN_SIGNAL] = drain

    def on_signal(signum: signal.Signals) -> None:
        log.info("received %s", signum.name)
        actions[signum]()

    for signum in actions:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (ValueError, RuntimeError):  # not the main thread: the embedding program handles signals
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
