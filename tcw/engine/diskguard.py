"""The disk guard: no claim while the work root's file system is short of space.

A task claimed onto a full disk fails for the worker's sake, not its own, and spends one of its retries.
The worker checks before each claimWork; while the free space is under ``worker.min_free_disk_mb`` it logs
why once, claims nothing and looks again every ``RETRY_SECONDS``; it logs again when space is back.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
MIB = 1024 * 1024


class DiskGuard:
    def __init__(self, path: Path, minimum_mb: int) -> None:
        self.path = path
        self.minimum_mb = minimum_mb
        self._short = False

    def shortfall(self) -> str | None:
        """Why the worker must not claim now, or None when it may."""
        if self.minimum_mb <= 0:
            return None
        try:
            free_mb = shutil.disk_usage(self.path).free / MIB
        except OSError as error:
            why = f"not claiming: cannot read the free space of the work root {self.path}: {error}"
        else:
            if free_mb >= self.minimum_mb:
                if self._short:
                    log.info("claiming again: the work root %s has %.0f MiB free", self.path, free_mb)
                self._short = False
                return None
            why = (
                f"not claiming: the work root {self.path} has {free_mb:.0f} MiB free, under "
                f"worker.min_free_disk_mb {self.minimum_mb}; looking again every {RETRY_SECONDS:.0f} s"
            )
        if not self._short:
            log.warning(why)
        self._short = True
        return why
