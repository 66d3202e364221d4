"""The task log: one file per run, written by the engine's logger and by the task's processes.

It lives in the work root's ``logs/`` directory (``workroot.py``), out of the task's work directory, created
by the worker without following symlinks; it is uploaded as ``public/logs/live_backing.log`` however the run
ends, and only if it is still the file the worker created.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from types import TracebackType

_FORMAT = "[tcw %(asctime)s] %(message)s"


class TaskLog:
    """A logger whose lines go only to ``path`` (never to the worker's own log)."""

    def __init__(self, fd: int, path: Path, name: str) -> None:
        """``fd``: the log opened for appending (the ``TaskLog`` closes it); ``path`` names it."""
        self.path = path
        self._handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        formatter = logging.Formatter(_FORMAT, "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = time.gmtime
        self._handler.setFormatter(formatter)
        # A logger outside the logging manager's tree: registered loggers live forever (a daemon would
        # leak one per run), and registering or setting a level walks every logger there is.
        self.logger = logging.Logger(f"tcw.task.{name}", logging.INFO)
        self.logger.addHandler(self._handler)
        self.logger.propagate = False

    def close(self) -> None:
        self._handler.close()
        self._handler.stream.close()
        self.logger.removeHandler(self._handler)

    def __enter__(self) -> TaskLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
