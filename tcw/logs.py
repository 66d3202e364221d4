"""Logging set-up for the CLI: rich lines on a terminal, whole plain lines off one, JSON for machines.

Library code only uses ``logging.getLogger(__name__)`` with %-style arguments and structured ``extra``
fields (``taskId``, ``runId``, ``duration``...); this module decides how they look.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is worth showing.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


def record_time(record: logging.LogRecord) -> str:
    """When a record was made, in UTC to the millisecond, as both machine-read formats write it."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's ``extra`` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": record_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(record_extras(record))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ExtrasFilter(logging.Filter):
    """Append ``key=value`` extras to human log lines, so taskId/runId show without JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        extras = record_extras(record)
        if extras and not getattr(record, "_extras_appended", False):
            suffix = " ".join(f"{k}={v}" for k, v in extras.items())
            record.msg = f"{record.msg} [{suffix}]" if record.args is None else f"{record.msg} [%s]"
            if record.args is not None:
                record.args = (*record.args, suffix) if isinstance(record.args, tuple) else record.args
            record._extras_appended = True
        return True


def level_for(verbosity: int) -> int:
    """-q/-v counts onto levels: 0 = INFO, 1+ = DEBUG, -1 = WARNING, -2 = ERROR."""
    if verbosity >= 1:
        return logging.DEBUG
    return {0: logging.INFO, -1: logging.WARNING}.get(verbosity, logging.ERROR)


class LineFormatter(logging.Formatter):
    """One record, one line, whole, for logs nobody reads on a terminal (CI logs, journald, files): a
    wrapped or cut line breaks URLs and grep. Newlines inside a record show as ``\\n``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record_time(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += " " + self.formatException(record.exc_info)
        return line.replace("\r", "\\r").replace("\n", "\\n")


def _text_handler(debug: bool) -> logging.Handler:
    """Rich lines on a terminal; whole plain lines anywhere else."""
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_path=debug,
            rich_tracebacks=debug,
            markup=False,
            log_time_format="%H:%M:%S",
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LineFormatter())
    handler.addFilter(ExtrasFilter())
    return handler


def configure_logging(verbosity: int = 0, log_format: str = "text", debug: bool = False) -> None:
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        handler = _text_handler(debug)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.DEBUG if debug else level_for(verbosity)
    root.setLevel(level)
    # Third-party chatter: only its warnings unless --debug, and nothing that -q has asked to hide.
    for noisy in ("taskcluster", "mohawk", "aiohttp.access", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else max(logging.WARNING, level))
    # The client's multi-line "Retrying..." warnings only under -v: the error that follows says it all.
    if not debug and verbosity < 1:
        logging.getLogger("taskcluster").setLevel(max(logging.ERROR, level))
