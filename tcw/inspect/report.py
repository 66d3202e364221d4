"""Reporters for an inspection: a rich table for people, JSON and CSV for scripts.

The analysis returns result objects and never prints; these functions only render them. The JSON and CSV
shapes are stable: fields may be added in a later version, none is renamed or removed without a new
``version``.

The JSON and CSV shapes are documented in docs/output-formats.md; keep the two in step.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tcw.inspect.analyse import INTERVAL_CONFIDENCE, Analysis, PoolStats, WorkerDetail, WorkerStats
from tcw.inspect.runs import Run, WorkerInfo
from tcw.inspect.runs import format_time as iso

VERSION = 1
ERRORS_SHOWN = 5  # of each pool's worker-manager errors in the table view, newest first

PoolErrors = Mapping[str, list[dict[str, Any]]]
"""worker-manager's reported errors by pool, as ``listWorkerPoolErrors`` answers them."""

WORKER_COLUMNS = (
    "taskQueueId",
    "workerGroup",
    "workerId",
    "runs",
    "resolved",
    "completed",
    "failed",
    "exception",
    "unresolved",
    "badRuns",
    "reasons",
    "failureRate",
    "exceptionRate",
    "badRate",
    "medianDuration",
    "p95Duration",
    "firstSeen",
    "lastSeen",
    "quarantineUntil",
    "quarantined",
    "workerManagerState",
    "workerManagerLastModified",
    "pValue",
    "adjustedPValue",
    "flagged",
    "flags",
    "flagReasons",
    "badRateLow",
    "badRateHigh",
)
RUN_COLUMNS = (
    "taskId",
    "runId",
    "state",
    "reasonCreated",
    "reasonResolved",
    "scheduled",
    "started",
    "resolved",
    "duration",
    "link",
)


def worker_entry(worker: WorkerStats, now: datetime) -> dict[str, Any]:
    low, high = worker.bad_rate_interval or (None, None)
    return {
        "taskQueueId": worker.key.task_queue_id,
        "workerGroup": worker.key.worker_group,
        "workerId": worker.key.worker_id,
        "runs": worker.runs,
        "resolved": worker.resolved,
        "completed": worker.completed,
        "failed": worker.failed,
        "exception": worker.exception,
        "unresolved": worker.unresolved,
        "badRuns": worker.bad,
        "reasons": dict(worker.reasons),
        "failureRate": worker.failure_rate,
        "exceptionRate": worker.exception_rate,
        "badRate": worker.bad_rate,
        "badRateLow": low,
        "badRateHigh": high,
        "medianDuration": worker.median_duration,
        "p95Duration": worker.p95_duration,
        "firstSeen": iso(worker.first_seen),
        "lastSeen": iso(worker.last_seen),
        "quarantineUntil": iso(worker.info.quarantine_until),
        "quarantined": worker.info.quarantined(now),
        "workerManagerState": worker.info.manager_state,  # None: not known to worker-manager
        "workerManagerLastModified": iso(worker.info.manager_last_modified),
        "pValue": worker.p_value,
        "adjustedPValue": worker.adjusted_p_value,
        "flagged": worker.flagged,
        "flags": [
            {"kind": str(flag.kind), "reason": flag.reason, "figures": dict(flag.figures)}
            for flag in worker.flags
        ],
    }


def pool_entry(pool: PoolStats) -> dict[str, Any]:
    return {
        "taskQueueId": pool.task_queue_id,
        "workers": pool.workers,
        "runs": pool.runs,
        "resolved": pool.resolved,
        "badRuns": pool.bad,
        "badRate": pool.bad_rate,
        "medianDuration": pool.median_duration,
        "p95Duration": pool.p95_duration,
    }


def run_entry(run: Run, root_url: str | None) -> dict[str, Any]:
    return {
        "taskId": run.task_id,
        "runId": run.run_id,
        "state": run.state,
        "reasonCreated": run.reason_created,
        "reasonResolved": run.reason_resolved,
        "scheduled": iso(run.scheduled),
        "started": iso(run.started),
        "resolved": iso(run.resolved),
        "duration": run.duration,
        "link": run.link(root_url) if root_url else None,
    }


def analysis_document(
    analysis: Analysis, root_url: str | None, now: datetime, pool_errors: PoolErrors | None = None
) -> dict[str, Any]:
    thresholds = analysis.thresholds
    return {
        "version": VERSION,
        "rootUrl": root_url,
        "settings": {
            "test": str(thresholds.test),
            "correction": str(thresholds.correction),
            "alpha": thresholds.alpha,
            "minRuns": thresholds.min_runs,
            "intervalConfidence": INTERVAL_CONFIDENCE,
        },
        "flagged": len(analysis.flagged),
        "pools": [pool_entry(pool) for pool in analysis.pools],
        "workers": [worker_entry(worker, now) for worker in analysis.workers],
        "workerPoolErrors": {
            pool: [_error_entry(e) for e in errors] for pool, errors in (pool_errors or {}).items()
        },
    }


def _error_entry(error: Mapping[str, Any]) -> dict[str, Any]:
    return {key: error.get(key) for key in ("errorId", "reported", "kind", "title", "description", "extra")}


def worker_document(detail: WorkerDetail, root_url: str | None, now: datetime) -> dict[str, Any]:
    return {
        "version": VERSION,
        "rootUrl": root_url,
        "worker": worker_entry(detail.stats, now),
        "runs": [run_entry(run, root_url) for run in detail.runs],
    }


def write_json(document: Mapping[str, Any], stream: IO[str]) -> None:
    json.dump(document, stream, indent=2)
    stream.write("\n")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _worker_row(entry: Mapping[str, Any]) -> list[Any]:
    flat = {
        **entry,
        "reasons": ";".join(f"{reason}={count}" for reason, count in entry["reasons"].items()),
        "flags": ";".join(flag["kind"] for flag in entry["flags"]),
        "flagReasons": " | ".join(flag["reason"] for flag in entry["flags"]),
    }
    return [_csv_cell(flat[column]) for column in WORKER_COLUMNS]


def write_csv(document: Mapping[str, Any], stream: IO[str]) -> None:
    """CSV of either document: one row per worker (pool view) or per run (one worker)."""
    writer = csv.writer(stream, lineterminator="\n")
    if "workers" in document:
        writer.writerow(WORKER_COLUMNS)
        writer.writerows(_worker_row(entry) for entry in document["workers"])
    else:
        writer.writerow(RUN_COLUMNS)
        writer.writerows([_csv_cell(entry[c]) for c in RUN_COLUMNS] for entry in document["runs"])


def format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    return f"{value / 60:.1f}m" if value < 7200 else f"{value / 3600:.1f}h"


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def format_when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


TABLE_HEADERS = ("", "worker", "pool", "runs", "ok", "failed", "exception", "bad", "median", "p95", "last")
TABLE_TAIL_HEADERS = ("p (adj.)", "flags")
MANAGER_HEADER = "worker-manager"
NUMERIC_HEADERS = frozenset({"runs", "ok", "failed", "exception", "p (adj.)"})
BAR_HEADER = "vs pool"
BAR_WIDTH = 10


def table_headers(analysis: Analysis) -> tuple[str, ...]:
    """The worker table's columns, as the terminal and the HTML report show them."""
    managed = (MANAGER_HEADER,) if _managed(analysis) else ()
    return (*TABLE_HEADERS, *TABLE_TAIL_HEADERS, *managed)


def table_cells(analysis: Analysis, worker: WorkerStats, now: datetime) -> tuple[str, ...]:
    """One worker's row of the table, under `table_headers`."""
    mark = ("!" if worker.flagged else "") + ("Q" if worker.info.quarantined(now) else "")
    cells = (
        mark,
        worker.key.name,
        worker.key.task_queue_id,
        str(worker.runs),
        str(worker.completed),
        str(worker.failed),
        str(worker.exception),
        format_rate(worker.bad_rate),
        format_seconds(worker.median_duration),
        format_seconds(worker.p95_duration),
        format_when(worker.last_seen),
        "-" if worker.adjusted_p_value is None else f"{worker.adjusted_p_value:.2g}",
        ", ".join(str(flag.kind) for flag in worker.flags),
    )
    # only where the deployment has worker-manager: its state and last change beside the runs
    return (*cells, _manager_cell(worker.info)) if _managed(analysis) else cells


def _managed(analysis: Analysis) -> bool:
    return any(worker.info.manager_state for worker in analysis.workers)


def pool_of(analysis: Analysis, worker: WorkerStats) -> PoolStats:
    return next(pool for pool in analysis.pools if pool.task_queue_id == worker.key.task_queue_id)


def rate_bar(rate: float | None, pool_rate: float | None, *, plain: bool, flagged: bool = False) -> Text:
    """A worker's bad rate as a bar of `BAR_WIDTH` cells with a ``|`` where the pool's rate falls.

    ``plain`` (no terminal, or NO_COLOR) draws it in ASCII that survives a pipe, a log or a diff.
    """
    if rate is None:
        return Text("-")
    filled = round(rate * BAR_WIDTH)
    full, empty = ("#", ".") if plain else ("\u2588", "\u00b7")
    bar = Text()
    bar.append(full * filled, style="" if plain else ("red" if flagged else "cyan"))
    bar.append(empty * (BAR_WIDTH - filled), style="" if plain else "dim")
    if pool_rate is not None:
        marker = round(pool_rate * BAR_WIDTH)
        bar = bar[:marker] + Text("|", style="" if plain else "bold yellow") + bar[marker:]
    return bar


def analysis_table(analysis: Analysis, now: datetime, *, plain: bool = True) -> Table:
    table = Table(title="Workers, most suspicious first", title_justify="left")
    headers = table_headers(analysis)
    bar_after = headers.index("bad")
    for index, name in enumerate(headers):
        table.add_column(
            name,
            justify="right" if name in NUMERIC_HEADERS else "left",
            no_wrap=name not in {"pool", "flags"},
        )
        if index == bar_after:
            table.add_column(BAR_HEADER, no_wrap=True)
    for worker in analysis.workers:
        cells = [
            _styled(name, cell, worker)
            for name, cell in zip(headers, table_cells(analysis, worker, now), strict=True)
        ]
        bar = rate_bar(
            worker.bad_rate, pool_of(analysis, worker).bad_rate, plain=plain, flagged=worker.flagged
        )
        cells.insert(bar_after + 1, bar)
        table.add_row(*cells)
    return table


def _styled(header: str, cell: str, worker: WorkerStats) -> Text:
    if header == "":
        mark = Text()
        for letter in cell:
            mark.append(letter, style="bold red" if letter == "!" else "yellow")
        return mark
    if header == "worker":
        return Text(cell, style="bold" if worker.flagged else "")
    return Text(cell, style="red" if header == "flags" else "")


def _manager_cell(info: WorkerInfo) -> str:
    if info.manager_state is None:
        return "-"
    return f"{info.manager_state} since {format_when(info.manager_last_modified)}"


@dataclass(frozen=True)
class ErrorSummary:
    """One error a pool's worker reported to worker-manager, as the reports list it."""

    reported: str
    reporter: str  # workerGroup/workerId, with ? for what the report left out
    kind: str
    title: str


def error_summary(error: Mapping[str, Any]) -> ErrorSummary:
    extra = error.get("extra") or {}
    reporter = f"{extra.get('workerGroup', '?')}/{extra.get('workerId', '?')}"
    return ErrorSummary(str(error["reported"]), reporter, str(error["kind"]), str(error["title"]))


def render_analysis(
    analysis: Analysis, console: Console, now: datetime, pool_errors: PoolErrors | None = None
) -> None:
    """The table, then one explained line per flag, then the pools for comparison and the errors their
    workers reported to worker-manager."""
    if not analysis.workers:
        console.print("No claimed runs found.")
        return
    console.print(analysis_table(analysis, now, plain=not console.is_terminal or console.no_color))
    for worker in analysis.flagged:
        console.print(Text(f"{worker.key.name} ({worker.key.task_queue_id}) is flagged:", style="bold red"))
        for flag in worker.flags:
            console.print(f"  - {flag.kind}: {flag.reason}", highlight=False, markup=False)
    for pool in analysis.pools:
        console.print(
            f"pool {pool.task_queue_id}: {pool.workers} workers, {pool.runs} runs, "
            f"{format_rate(pool.bad_rate)} bad (the | in the bars), "
            f"median {format_seconds(pool.median_duration)}",
            highlight=False,
            markup=False,
        )
    for pool_id, errors in sorted((pool_errors or {}).items()):
        console.print(
            f"pool {pool_id}: {len(errors)} worker error(s) reported to worker-manager",
            highlight=False,
            markup=False,
        )
        for error in errors[:ERRORS_SHOWN]:
            summary = error_summary(error)
            console.print(
                f"  {summary.reported} {summary.reporter} {summary.kind}: {summary.title}",
                highlight=False,
                markup=False,
            )
    if not analysis.flagged:
        console.print("No worker flagged.")


def render_worker(detail: WorkerDetail, root_url: str | None, console: Console, now: datetime) -> None:
    stats = detail.stats
    console.print(
        f"{stats.key.name} in {stats.key.task_queue_id}: {stats.runs} runs, {stats.completed} completed, "
        f"{stats.failed} failed, {stats.exception} exception; bad {format_rate(stats.bad_rate)}"
        + (f"; quarantined until {iso(stats.info.quarantine_until)}" if stats.info.quarantined(now) else ""),
        highlight=False,
        markup=False,
    )
    for flag in stats.flags:
        console.print(Text(f"  ! {flag.kind}: {flag.reason}", style="red"))
    table = Table()
    for name in ("task", "run", "result", "started", "duration"):
        table.add_column(name, no_wrap=True)
    table.add_column("link", overflow="fold")
    for run in detail.runs:
        result = run.state + (f"/{run.reason_resolved}" if run.state == "exception" else "")
        style = "" if run.state in {"completed", "running", "pending"} else "red"
        table.add_row(
            Text(run.task_id),  # Text, not str: rich would read markup in a saved file's ids
            str(run.run_id),
            Text(result, style=style),
            format_when(run.started),
            format_seconds(run.duration),
            Text(run.link(root_url) if root_url else "-"),
        )
    console.print(table)
