"""`tcw inspect-runs`: find misbehaving workers from their task runs, and optionally quarantine them."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from tcw.cli.main import pass_state
from tcw.cli.output import console as output_console
from tcw.cli.output import is_terminal, plain_console
from tcw.config import Config
from tcw.errors import ExitCode, QueueUnavailable, UsageError
from tcw.inspect.analyse import Thresholds, WorkerStats
from tcw.inspect.durations import parse_duration, parse_until
from tcw.inspect.report import (
    analysis_document,
    render_analysis,
    render_worker,
    worker_document,
    write_csv,
    write_json,
)
from tcw.inspect.runs import format_time
from tcw.inspect.stats import Correction, RateTest

if TYPE_CHECKING:  # the collector pulls in aiohttp and taskcluster: only load them when the command runs
    from tcw.inspect.collect import Progress
    from tcw.inspect.inspection import Inspection
    from tcw.inspect.quarantine import QuarantinePlan, QuarantineResult


class DurationType(click.ParamType[timedelta]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except UsageError as error:
            raise click.BadParameter(error.message) from error


class _BarProgress:
    """The collection's progress on a rich bar."""

    def __init__(self, bar: RichProgress) -> None:
        self._bar = bar
        self._task = bar.add_task("fetching runs", total=0)

    def add_total(self, count: int) -> None:
        total = self._bar.tasks[0].total or 0
        self._bar.update(self._task, total=total + count)

    def advance(self, count: int = 1) -> None:
        self._bar.advance(self._task, count)


@contextmanager
def _progress(output_format: str, output: Path | None) -> Iterator[Progress]:
    """A rich progress bar on a terminal for the table view or a report written to a file; nothing when
    the report goes down a pipe."""
    from tcw.inspect.collect import NoProgress

    console = Console(stderr=True)
    on_screen = output is None and output_format == "table" and sys.stdout.isatty()
    if not console.is_terminal or not (on_screen or output is not None):
        yield NoProgress()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=console, transient=True) as bar:
        yield _BarProgress(bar)


def _split_ids(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part for value in values for part in re.split(r"[\s,]+", value) if part)


def _render(inspection: Inspection, output_format: str, output: Path | None) -> None:
    """The report streamed to stdout (the table in the terminal's colours), or whole into ``output``:
    rendered first, so that a failure leaves no half-written file."""
    if output is None:
        if output_format == "table":
            _render_table(inspection, output_console())
        else:
            _write(inspection, output_format, sys.stdout)
        return
    buffer = io.StringIO()
    _write(inspection, output_format, buffer)
    try:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{output}: cannot write the report: {error.strerror or error}") from error
    click.echo(f"report written to {output}", err=True)


def _render_table(inspection: Inspection, console: Console) -> None:
    if inspection.detail is not None:
        render_worker(inspection.detail, inspection.root_url, console, inspection.now)
    else:
        render_analysis(inspection.analysis, console, inspection.now, inspection.collection.pool_errors)


def _write(inspection: Inspection, output_format: str, stream: IO[str]) -> None:
    if output_format == "table":
        _render_table(inspection, plain_console(stream))
        return
    if output_format == "html":
        from tcw.inspect.html import render_report  # Jinja2 is only loaded for the HTML report

        pool_errors = inspection.collection.pool_errors
        stream.write(render_report(inspection.analysis, inspection.root_url, inspection.now, pool_errors))
        return
    if inspection.detail is not None:
        document = worker_document(inspection.detail, inspection.root_url, inspection.now)
    else:
        document = analysis_document(
            inspection.analysis, inspection.root_url, inspection.now, inspection.collection.pool_errors
        )
    if output_format == "json":
        write_json(document, stream)
    else:
        write_csv(document, stream)


def _check_output_options(options: dict[str, Any]) -> None:
    """Refuse an output that cannot be written before spending minutes fetching runs."""
    output: Path | None = options["output"]
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"{output}: cannot write the report: no directory {output.parent}")
    if options["output_format"] != "html":
        return
    if options["worker"] is not None:
        raise UsageError(
            "--format html reports whole pools; drop --worker, or use it with table, json or csv"
        )
    if output is None and is_terminal():
        raise UsageError("--format html writes a file: give -o FILE (e.g. -o report.html), or pipe it")


def _flagged(inspection: Inspection) -> tuple[WorkerStats, ...]:
    """The flagged workers the command acts on: the drilled-into one only, or all of them."""
    if inspection.detail is not None:
        return (inspection.detail.stats,) if inspection.detail.stats.flagged else ()
    return inspection.analysis.flagged


@dataclass(frozen=True)
class QuarantineRequest:
    until: str | None
    comment: str | None
    dry_run: bool
    yes: bool


def _describe(plan: QuarantinePlan, verb: str) -> None:
    for worker in plan.already_quarantined:
        current = format_time(worker.info.quarantine_until)
        name = f"{worker.key.name} ({worker.key.task_queue_id})"
        click.echo(f"{name} is already quarantined until {current}; leaving it", err=True)
    for action in plan.actions:
        until = format_time(action.until)
        click.echo(
            f"{verb} {action.key.name} ({action.key.task_queue_id}) until {until}: {action.info}", err=True
        )


def _report_quarantine(results: Sequence[QuarantineResult]) -> None:
    """One line per worker quarantined; then the refusals, as one error (exit 5) naming each."""
    for result in results:
        if result.error is None:
            action = result.action
            until = format_time(action.until)
            click.echo(f"quarantined {action.key.name} ({action.key.task_queue_id}) until {until}", err=True)
    failures = [result.error.message for result in results if result.error is not None]
    if failures:
        raise QueueUnavailable("\n".join(failures))


def _confirmed(plan: QuarantinePlan, request: QuarantineRequest) -> bool:
    """--yes, or a yes from the person at the terminal; never a silent yes from a pipe."""
    if request.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            f"refusing to quarantine {len(plan.actions)} workers without --yes (not on a terminal)"
        )
    _describe(plan, "will quarantine")
    return click.confirm(f"Quarantine {len(plan.actions)} workers?", err=True)


def _quarantine(config: Config, inspection: Inspection, request: QuarantineRequest) -> None:
    from tcw.inspect.quarantine import apply_quarantine, plan_quarantine

    assert request.until is not None  # checked by _check_quarantine_options before any fetching

    until = parse_until(request.until, inspection.now)
    plan = plan_quarantine(_flagged(inspection), until, request.comment)
    if not plan.actions:
        _describe(plan, "")
        click.echo("No worker to quarantine.", err=True)
    elif request.dry_run:
        _describe(plan, "would quarantine")
    elif _confirmed(plan, request):
        results = apply_quarantine(config.client_options(), plan, config.inspect.concurrency)
        _report_quarantine(results)
    else:
        click.echo("Nothing quarantined.", err=True)


def _check_quarantine_options(options: dict[str, Any]) -> None:
    """Refuse a quarantine that cannot happen before spending minutes fetching runs."""
    if not options["quarantine_flagged"]:
        return
    if options["until"] is None:
        raise UsageError("--quarantine-flagged needs --until (a duration like 7d, or a date like 3000-01-01)")
    parse_until(options["until"], datetime.now(UTC))


@click.command("inspect-runs")
@click.option("--task-group", "task_groups", multiple=True, metavar="ID", help="A task group; repeatable.")
@click.option(
    "--task-queue", "task_queues", multiple=True, metavar="P/W", help="A pool's recent tasks; repeatable."
)
@click.option(
    "--task-id", "task_ids", multiple=True, metavar="ID", help="Task ids; repeatable or comma-separated."
)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Analyse statuses saved earlier with --save (offline).",
)
@click.option(
    "--save", type=click.Path(dir_okay=False, path_type=Path), help="Save fetched statuses to FILE."
)
@click.option("--since", type=DurationType(), help="Only runs started within DURATION (e.g. 2d).")
@click.option(
    "--worker", metavar="GROUP/ID", help="Drill into one worker: each run with its result and link."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="JSON and CSV have a stable, documented shape; html is a self-contained report with charts.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE, not stdout (html on a terminal needs it).",
)
@click.option("--concurrency", type=int, help="Requests in flight (default: inspect.concurrency, 16).")
@click.option(
    "--min-runs", type=click.IntRange(min=1), default=5, show_default=True, help="Runs before testing."
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.01,
    show_default=True,
    help="Significance level after correction.",
)
@click.option(
    "--test",
    type=click.Choice([t.value for t in RateTest]),
    default="fisher",
    show_default=True,
    help="Test of a worker's bad-run rate against the rest of its pool.",
)
@click.option(
    "--correction",
    type=click.Choice([c.value for c in Correction]),
    default="holm",
    show_default=True,
    help="Multiple-comparison correction: Holm or Benjamini-Hochberg.",
)
@click.option("--fail-on-flagged", is_flag=True, help="Exit 1 when a worker is flagged.")
@click.option("--quarantine-flagged", is_flag=True, help="Quarantine the flagged workers (quarantineWorker).")
@click.option("--until", metavar="DURATION|DATE", help="Quarantine until: 7d, or a date like 3000-01-01.")
@click.option("--comment", metavar="TEXT", help="Quarantine comment recorded by the queue.")
@click.option("--dry-run", is_flag=True, help="Show the quarantine calls without making them.")
@click.option("--yes", is_flag=True, help="Quarantine without asking (required when not on a terminal).")
def inspect_runs(**options: Any) -> None:
    """Collect task runs and find misbehaving workers.

    Each worker is compared with the rest of its pool: a one-sided test of its bad-run rate (failed, or
    claim-expired / internal-error / resource-unavailable exceptions) with a multiple-comparison
    correction, plus hard signals (repeated claim-expired, exceptions cured by a retry elsewhere,
    durations far from the pool's). Exit 0, or 1 with --fail-on-flagged when a worker is flagged.

    --format html -o FILE writes one self-contained HTML file (no script, nothing fetched): each pool's
    bad-run rates with their intervals against the pool's, run durations as box plots, the flagged
    workers with their reasons, and the table.
    """
    from tcw.inspect.collect import Sources
    from tcw.inspect.inspection import InspectRequest
    from tcw.inspect.inspection import inspect_runs as run_inspection

    _check_quarantine_options(options)
    _check_output_options(options)
    ctx = click.get_current_context()
    config = pass_state(ctx).load(**{"inspect.concurrency": options["concurrency"]})
    request = InspectRequest(
        sources=Sources(
            task_groups=options["task_groups"],
            task_queues=options["task_queues"],
            task_ids=_split_ids(options["task_ids"]),
        ),
        from_file=options["from_file"],
        save=options["save"],
        since=options["since"],
        worker=options["worker"],
        thresholds=Thresholds(
            test=RateTest(options["test"]),
            correction=Correction(options["correction"]),
            alpha=options["alpha"],
            min_runs=options["min_runs"],
        ),
    )
    with _progress(options["output_format"], options["output"]) as progress:
        inspection = run_inspection(config, request, progress)
    _render(inspection, options["output_format"], options["output"])
    if options["quarantine_flagged"]:
        quarantine = QuarantineRequest(
            options["until"], options["comment"], options["dry_run"], options["yes"]
        )
        _quarantine(config, inspection, quarantine)
    if options["fail_on_flagged"] and _flagged(inspection):
        ctx.exit(int(ExitCode.FAILED))
