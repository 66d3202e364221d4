"""One inspection from request to result: collect (or load), save, flatten into runs, analyse, drill down.

This is the single library call behind `tcw inspect-runs`; it returns results and leaves rendering and
actions (quarantine) to the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tcw.config import Config
from tcw.errors import UsageError
from tcw.inspect.analyse import Analysis, Thresholds, WorkerDetail, analyse, worker_detail
from tcw.inspect.collect import Collection, Progress, Sources, collect, load_saved, saved_document
from tcw.inspect.runs import Run, runs_of_statuses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InspectRequest:
    sources: Sources = field(default_factory=Sources)
    from_file: Path | None = None
    save: Path | None = None
    since: timedelta | None = None
    worker: str | None = None  # "workerGroup/workerId" to drill into
    thresholds: Thresholds = field(default_factory=Thresholds)
    page_size: int | None = None  # None: the server's default (1000)


@dataclass(frozen=True)
class Inspection:
    analysis: Analysis
    runs: tuple[Run, ...]
    collection: Collection
    root_url: str | None
    now: datetime
    detail: WorkerDetail | None = None


def inspect_runs(config: Config, request: InspectRequest, progress: Progress | None = None) -> Inspection:
    """Collect the runs the request names, analyse them, and drill into one worker if asked."""
    now = datetime.now(UTC)
    collection, root_url = _gather(config, request, progress)
    if request.save is not None:
        _save(collection, root_url, request.save)
    since = now - request.since if request.since is not None else None
    runs = runs_of_statuses(collection.statuses.values(), since=since)
    analysis = analyse(runs, collection.worker_infos(), request.thresholds)
    detail = worker_detail(analysis, runs, request.worker) if request.worker else None
    log.debug(
        "analysed %d runs of %d workers from %d tasks with %d queue calls",
        len(runs),
        len(analysis.workers),
        len(collection.statuses),
        collection.total_calls,
    )
    return Inspection(analysis, tuple(runs), collection, root_url, now, detail)


def _gather(
    config: Config, request: InspectRequest, progress: Progress | None
) -> tuple[Collection, str | None]:
    if request.from_file is not None:
        if request.sources:
            raise UsageError("--from-file cannot be combined with --task-group, --task-queue or --task-id")
        collection, saved_root_url = load_saved(request.from_file)
        return collection, config.root_url or saved_root_url
    if not request.sources:
        raise UsageError("nothing to inspect: give --task-group, --task-queue, --task-id or --from-file")
    coroutine = collect(
        config.client_options(),
        request.sources,
        concurrency=config.inspect.concurrency,
        progress=progress,
        page_size=request.page_size,
    )
    return asyncio.run(coroutine), config.root_url


def _save(collection: Collection, root_url: str | None, path: Path) -> None:
    try:
        path.write_text(json.dumps(saved_document(collection, root_url)) + "\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot save runs: {error.strerror or error}") from error
