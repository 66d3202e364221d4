"""The inspection as one self-contained HTML file people can look at (`inspect-runs --format html`).

Everything is inline (CSS and SVG; no script, no asset, no font from anywhere), so the file opens offline,
can be attached to a bug or published as a CI artifact, and a Content-Security-Policy in the file itself
forbids anything else. It draws the analysis and computes nothing of its own: rates, intervals, quartiles
and flags come from ``analyse`` and the table's cells from ``report``, so the picture, the table and the
JSON always agree. Worker ids, groups and pool names come from the queue (or a saved file) and may be
hostile: the template escapes every value (autoescape on).

The chart geometry is in small functions returning plain records; the template only places them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Generic, TypeVar

import jinja2

from tcw.inspect.analyse import INTERVAL_CONFIDENCE, Analysis, PoolStats, WorkerStats
from tcw.inspect.report import (
    ERRORS_SHOWN,
    NUMERIC_HEADERS,
    PoolErrors,
    error_summary,
    format_rate,
    format_seconds,
    format_when,
    table_cells,
    table_headers,
)

CHART_WIDTH = 640
LABEL_WIDTH = 170  # the worker names left of the plot
LABEL_CHARACTERS = 20  # longer names are cut with an ellipsis (the row's tooltip has them whole)
RIGHT_MARGIN = 24
TOP_MARGIN = 24  # room for the pool line's label
ROW_HEIGHT = 22
AXIS_HEIGHT = 28


Mark = TypeVar("Mark")


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Frame:
    """The shared layout of a chart with one row per worker and a value axis along the bottom."""

    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    axis_y: float
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class Scale:
    """Values from 0 to ``top`` times ``unit`` onto pixels from ``left`` to ``right``."""

    top: float  # in units: the axis ends at a round number of them
    left: float
    right: float
    unit: float = 1.0

    def x(self, value: float) -> float:
        share = min(max(value / self.unit, 0.0), self.top) / self.top
        return round(self.left + (self.right - self.left) * share, 1)

    def tick_values(self) -> list[float]:
        steps = divisions(self.top)
        return [self.top * self.unit * i / steps for i in range(steps + 1)]


@dataclass(frozen=True)
class Row:
    """A worker's row in a chart: where its label and its mark go, and what its tooltip says."""

    label: str
    y: float
    flagged: bool
    summary: str


@dataclass(frozen=True)
class RateMark:
    row: Row
    x: float | None  # None: no resolved run, nothing to draw
    low: float
    high: float


@dataclass(frozen=True)
class BoxMark:
    row: Row
    low: float  # x of the whiskers' ends, the box's edges and the median (workers without a finished
    q1: float  # run have no box; the description names them)
    median: float
    q3: float
    high: float
    outliers: tuple[float, ...]


@dataclass(frozen=True)
class Chart(Generic[Mark]):
    """One row per worker, a value axis, and a dashed line at the pool's value; what a screen reader
    reads is ``title`` and ``description``."""

    frame: Frame
    marks: tuple[Mark, ...]
    pool_x: float | None  # None: the pool has no such value, no line
    pool_label: str
    title: str
    description: str

    @property
    def pool_anchor(self) -> str:
        """The text-anchor of the pool line's label, which keeps it inside the chart at either end."""
        return label_anchor(self.pool_x)


@dataclass(frozen=True)
class PoolSection:
    pool: PoolStats
    rates: Chart[RateMark]
    durations: Chart[BoxMark]


@dataclass(frozen=True)
class TableRow:
    cells: tuple[str, ...]
    worker: WorkerStats
    anchor: str | None  # the id of the worker's entry among the flagged, when it is flagged


NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
MIN_RATE_TOP = 0.05  # an axis to 5 % at least: below 1 % its ticks would all read "0%"


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``: an axis end people read."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in NICE_STEPS if step * power >= value * (1 - 1e-9))


def divisions(top: float) -> int:
    """How many equal steps split a `nice_top` into round ticks: 2 in 4 steps of .5, the others in 5."""
    mantissa = top / 10.0 ** math.floor(math.log10(top))
    return 4 if math.isclose(mantissa, 2.0) else 5


DURATION_UNITS = ((2.0, 0.001, "ms"), (600.0, 1.0, "s"), (36000.0, 60.0, "m"), (math.inf, 3600.0, "h"))


def duration_unit(longest: float) -> tuple[float, str]:
    """The unit a duration axis counts in, so that its ticks are round numbers of it (not 3.3m)."""
    return next((unit, name) for bound, unit, name in DURATION_UNITS if longest < bound)


def frame(rows: int, scale: Scale, label: Callable[[float], str]) -> Frame:
    """The layout for ``rows`` workers; ``label`` writes a tick's value."""
    plot_top = TOP_MARGIN
    axis_y = plot_top + max(rows, 1) * ROW_HEIGHT
    ticks = tuple(Tick(scale.x(value), label(value)) for value in scale.tick_values())
    return Frame(CHART_WIDTH, int(axis_y + AXIS_HEIGHT), scale.left, scale.right, plot_top, axis_y, ticks)


def label_anchor(x: float | None, room: float = 60) -> str:
    """Where a label centred on ``x`` would stick out of the chart, anchor it at its end instead."""
    if x is not None and x > CHART_WIDTH - room:
        return "end"
    return "start" if x is not None and x < room else "middle"


def plot_scale(top: float, unit: float = 1.0) -> Scale:
    return Scale(top, LABEL_WIDTH, CHART_WIDTH - RIGHT_MARGIN, unit)


def row(index: int, worker: WorkerStats, summary: str) -> Row:
    name = worker.key.name
    label = name if len(name) <= LABEL_CHARACTERS else name[: LABEL_CHARACTERS - 1] + "\u2026"
    flag_kinds = ", ".join(str(flag.kind) for flag in worker.flags)
    tail = f"; flagged: {flag_kinds}" if worker.flagged else ""
    return Row(label, TOP_MARGIN + (index + 0.5) * ROW_HEIGHT, worker.flagged, f"{name}: {summary}{tail}")


def flagged_names(workers: Sequence[WorkerStats]) -> str:
    names = [worker.key.name for worker in workers if worker.flagged]
    return f"Flagged: {', '.join(names)}." if names else "No worker flagged."


def rate_chart(pool: PoolStats, workers: Sequence[WorkerStats]) -> Chart[RateMark]:
    """Each worker's bad rate as a dot with its interval as a whisker, and the pool's rate as a line."""
    intervals = [worker.bad_rate_interval for worker in workers]
    highs = [high for _, high in filter(None, intervals)]
    top = nice_top(max([*highs, pool.bad_rate or 0.0, MIN_RATE_TOP]))
    scale = plot_scale(top)
    marks = []
    for index, (worker, interval) in enumerate(zip(workers, intervals, strict=True)):
        if worker.bad_rate is None or interval is None:
            marks.append(RateMark(row(index, worker, "no resolved runs"), None, 0.0, 0.0))
            continue
        low, high = interval
        summary = (
            f"{worker.bad} of {worker.resolved} runs bad, {format_rate(worker.bad_rate)} "
            f"({INTERVAL_CONFIDENCE:.0%} interval {format_rate(low)} to {format_rate(high)})"
        )
        marks.append(
            RateMark(row(index, worker, summary), scale.x(worker.bad_rate), scale.x(low), scale.x(high))
        )
    pool_rate = format_rate(pool.bad_rate)
    description = (
        f"Each dot is a worker's share of bad runs (failed, or an exception that is the worker's fault) "
        f"with its {INTERVAL_CONFIDENCE:.0%} Wilson interval as a whisker; the vertical line is the pool's "
        f"rate, {pool_rate}. {flagged_names(workers)}"
    )
    return Chart(
        frame(len(workers), scale, format_rate),
        tuple(marks),
        None if pool.bad_rate is None else scale.x(pool.bad_rate),
        f"pool {pool_rate}",
        f"Bad-run rate per worker in {pool.task_queue_id}",
        description,
    )


def duration_chart(pool: PoolStats, workers: Sequence[WorkerStats]) -> Chart[BoxMark]:
    """Each worker's run durations as a box plot, and the pool's median as a line."""
    boxes = [(index, worker, worker.durations) for index, worker in enumerate(workers)]
    longest = [max((box.high, *box.outliers)) for _, _, box in boxes if box is not None]
    end = max([*longest, pool.median_duration or 0.0])
    unit, unit_name = duration_unit(end)
    scale = plot_scale(nice_top(end / unit), unit)
    marks = []
    for index, worker, box in boxes:
        if box is None:
            continue
        summary = (
            f"{box.count} runs, median {format_seconds(box.median)}, middle half {format_seconds(box.q1)} "
            f"to {format_seconds(box.q3)}, {len(box.outliers)} beyond the whiskers"
        )
        x = scale.x
        place = row(index, worker, summary)
        outliers = tuple(x(value) for value in box.outliers)
        marks.append(BoxMark(place, x(box.low), x(box.q1), x(box.median), x(box.q3), x(box.high), outliers))
    without = [worker.key.name for worker in workers if worker.durations is None]
    pool_median = format_seconds(pool.median_duration)
    description = (
        "Each box spans the middle half of a worker's run durations (claim to resolution) with its median "
        "inside; the whiskers reach the furthest runs within 1.5 times the box's length and dots are the "
        f"runs beyond; the vertical line is the pool's median, {pool_median}. {flagged_names(workers)}"
        + (f" No finished run: {', '.join(without)}." if without else "")
    )
    return Chart(
        frame(len(workers), scale, lambda seconds: f"{seconds / unit:g}{unit_name}"),
        tuple(marks),
        None if pool.median_duration is None else scale.x(pool.median_duration),
        f"pool median {pool_median}",
        f"Run durations per worker in {pool.task_queue_id}",
        description,
    )


def pool_sections(analysis: Analysis) -> tuple[PoolSection, ...]:
    sections = []
    for pool in analysis.pools:
        workers = [worker for worker in analysis.workers if worker.key.task_queue_id == pool.task_queue_id]
        sections.append(PoolSection(pool, rate_chart(pool, workers), duration_chart(pool, workers)))
    return tuple(sections)


def table_rows(analysis: Analysis, now: datetime) -> tuple[TableRow, ...]:
    anchors = {worker.key: f"flagged-{index}" for index, worker in enumerate(analysis.flagged)}
    return tuple(
        TableRow(table_cells(analysis, worker, now), worker, anchors.get(worker.key))
        for worker in analysis.workers
    )


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tcw.inspect", "templates"),
        autoescape=True,  # every queue-given name is hostile until escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    analysis: Analysis, root_url: str | None, now: datetime, pool_errors: PoolErrors | None = None
) -> str:
    """The whole report, one HTML document."""
    template = environment().get_template("report.html.j2")
    errors = {
        pool: [error_summary(error) for error in listed[:ERRORS_SHOWN]]
        for pool, listed in sorted((pool_errors or {}).items())
    }
    return template.render(
        analysis=analysis,
        root_url=root_url,
        generated=format_when(now),
        headers=table_headers(analysis),
        rows=table_rows(analysis, now),
        sections=pool_sections(analysis),
        pool_errors=errors,
        error_counts={pool: len(listed) for pool, listed in (pool_errors or {}).items()},
        interval=f"{INTERVAL_CONFIDENCE:.0%}",
        format_rate=format_rate,
        format_seconds=format_seconds,
        numeric=NUMERIC_HEADERS,
        zip=zip,
    )
