"""The documented JSON and CSV shapes, and the table's content."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from rich.console import Console
from rich.text import Text

from tcw.inspect.analyse import Analysis, analyse, worker_detail
from tcw.inspect.report import (
    RUN_COLUMNS,
    WORKER_COLUMNS,
    analysis_document,
    render_analysis,
    render_worker,
    worker_document,
    write_csv,
    write_json,
)
from tcw.inspect.runs import Run
from tests.support.statuses import R, StatusFactory, healthy_pool, runs_of

NOW = datetime(2026, 2, 1, tzinfo=UTC)
ROOT = "https://tc.example.com"

WORKER_KEYS = {c for c in WORKER_COLUMNS if c != "flagReasons"}
RUN_KEYS = set(RUN_COLUMNS)


def sample() -> tuple[list[Run], Analysis]:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/bad", "failed"))
    runs = runs_of(statuses)
    return runs, analyse(runs)


def test_json_document_has_the_documented_shape() -> None:
    _, analysis = sample()
    out = io.StringIO()
    write_json(analysis_document(analysis, ROOT, NOW), out)
    document = json.loads(out.getvalue())
    assert set(document) == {
        "version",
        "rootUrl",
        "settings",
        "flagged",
        "pools",
        "workers",
        "workerPoolErrors",
    }
    assert document["version"] == 1 and document["flagged"] == 1
    assert document["settings"] == {
        "test": "fisher",
        "correction": "holm",
        "alpha": 0.01,
        "minRuns": 5,
        "intervalConfidence": 0.95,
    }
    assert set(document["pools"][0]) == {
        "taskQueueId",
        "workers",
        "runs",
        "resolved",
        "badRuns",
        "badRate",
        "medianDuration",
        "p95Duration",
    }
    first = document["workers"][0]
    assert set(first) == WORKER_KEYS
    assert (first["workerGroup"], first["workerId"], first["flagged"]) == ("dc1", "bad", True)
    assert first["reasons"] == {"failed": 12} and first["quarantined"] is False
    assert first["flags"][0]["kind"] == "bad-rate" and set(first["flags"][0]) == {"kind", "reason", "figures"}
    assert first["firstSeen"].endswith("Z")


def test_csv_has_one_row_per_worker_in_the_documented_columns() -> None:
    _, analysis = sample()
    out = io.StringIO()
    write_csv(analysis_document(analysis, ROOT, NOW), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == WORKER_COLUMNS
    assert len(rows) == 1 + 6
    first = dict(zip(WORKER_COLUMNS, rows[1], strict=True))
    assert first["workerId"] == "bad" and first["flags"] == "bad-rate" and first["flagged"] == "true"
    assert first["reasons"] == "failed=12" and first["quarantineUntil"] == ""
    assert "12 of 12 runs bad" in first["flagReasons"]


def test_worker_drill_down_documents_and_links() -> None:
    runs, analysis = sample()
    detail = worker_detail(analysis, runs, "dc1/bad")
    document = worker_document(detail, ROOT, NOW)
    assert set(document) == {"version", "rootUrl", "worker", "runs"}
    assert len(document["runs"]) == 12 and set(document["runs"][0]) == RUN_KEYS
    run = document["runs"][0]
    assert run["link"] == f"{ROOT}/tasks/{run['taskId']}/runs/0"
    out = io.StringIO()
    write_csv(document, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == RUN_COLUMNS and len(rows) == 13
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    render_worker(detail, ROOT, console, NOW)
    text = buffer.getvalue()
    assert f"{ROOT}/tasks/{run['taskId']}/runs/0" in text and "bad-rate" in text


def test_table_puts_the_suspect_first_and_explains_it() -> None:
    _, analysis = sample()
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    render_analysis(analysis, console, NOW)
    text = buffer.getvalue()
    assert text.index("dc1/bad") < text.index("dc1/w0")
    assert "dc1/bad (prov/pool) is flagged:" in text and "12 of 12 runs bad" in text


def test_table_bars_put_each_rate_beside_the_pools() -> None:
    _, analysis = sample()  # the pool: 20% bad; dc1/bad: 100%, the others 10%
    rows = {}
    for terminal, no_color in ((False, False), (True, False), (True, True)):
        buffer = io.StringIO()
        console = Console(file=buffer, width=200, force_terminal=terminal, no_color=no_color)
        render_analysis(analysis, console, NOW)
        lines = Text.from_ansi(buffer.getvalue()).plain.splitlines()
        rows[terminal, no_color] = {line.split("│")[2].strip(): line for line in lines if line.count("│") > 3}
    plain = rows[False, False]
    assert "##|########" in plain["dc1/bad"] and "#.|........" in plain["dc1/w0"]
    assert "\u2588\u2588" in rows[True, False]["dc1/bad"] and "#" not in rows[True, False]["dc1/bad"]
    assert "##|########" in rows[True, True]["dc1/bad"]  # NO_COLOR: the plain characters
