"""`tcw inspect-runs --from-file`: the whole command on saved statuses, no queue needed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tcw.inspect.report import WORKER_COLUMNS
from tests.support.cli import RunCli
from tests.support.statuses import R, StatusFactory, healthy_pool

ROOT = "https://tc.example.com"


def save(path: Path, statuses: list[dict[str, Any]], workers: list[dict[str, Any]] | None = None) -> Path:
    path.write_text(
        json.dumps({"version": 1, "rootUrl": ROOT, "statuses": statuses, "workers": workers or []})
    )
    return path


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/bad", "failed"))
    workers = [
        {
            "taskQueueId": "prov/pool",
            "workerGroup": "dc1",
            "workerId": "w0",
            "quarantineUntil": "3000-01-01T00:00:00.000Z",
        }
    ]
    return save(tmp_path / "runs.json", statuses, workers)


def test_json_names_the_flagged_worker_and_exit_codes(run_cli: RunCli, saved: Path) -> None:
    result = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--format", "json"])
    document = json.loads(result.stdout)
    assert [w["workerId"] for w in document["workers"] if w["flagged"]] == ["bad"]
    assert document["rootUrl"] == ROOT
    w0 = next(w for w in document["workers"] if w["workerId"] == "w0")
    assert w0["quarantined"] is True and w0["quarantineUntil"] == "3000-01-01T00:00:00.000Z"
    run_cli(
        ["tcw", "inspect-runs", "--from-file", str(saved), "--format", "json", "--fail-on-flagged"],
        exit_code=1,
    )
    run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--worker", "dc1/w1", "--fail-on-flagged"])


def test_csv_and_table(run_cli: RunCli, saved: Path) -> None:
    result = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--format", "csv"])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == WORKER_COLUMNS and rows[1][2] == "bad" and len(rows) == 7
    table = run_cli(["tcw", "inspect-runs", "--from-file", str(saved)]).stdout
    assert "dc1/bad (prov/pool) is flagged:" in table and "bad-rate" in table


def test_worker_drill_down_has_links(run_cli: RunCli, saved: Path) -> None:
    result = run_cli(
        ["tcw", "inspect-runs", "--from-file", str(saved), "--worker", "dc1/bad", "--format", "json"]
    )
    document = json.loads(result.stdout)
    assert len(document["runs"]) == 12
    assert all(r["link"] == f"{ROOT}/tasks/{r['taskId']}/runs/{r['runId']}" for r in document["runs"])
    run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--worker", "dc9/ghost"], exit_code=2)


def test_quarantine_dry_run_and_refusal_without_yes(run_cli: RunCli, saved: Path) -> None:
    base = ["tcw", "inspect-runs", "--from-file", str(saved), "--format", "json", "--quarantine-flagged"]
    dry = run_cli([*base, "--until", "7d", "--comment", "bad disk", "--dry-run"])
    assert (
        "would quarantine dc1/bad (prov/pool) until" in dry.stderr
        and "bad disk -- tcw inspect-runs" in dry.stderr
    )
    refused = run_cli([*base, "--until", "7d"], exit_code=2)
    assert "refusing to quarantine 1 workers without --yes" in refused.stderr
    assert json.loads(refused.stdout)["flagged"] == 1  # the report still comes first
    missing = run_cli([*base], exit_code=2)
    assert "--quarantine-flagged needs --until" in missing.stderr
    bad_until = run_cli([*base, "--until", "soon"], exit_code=2)
    assert "'soon' is neither a duration" in bad_until.stderr
    assert missing.stdout == bad_until.stdout == ""  # refused before any run was fetched or reported


def test_bad_inputs_are_usage_errors(run_cli: RunCli, tmp_path: Path, saved: Path) -> None:
    nothing = run_cli(["tcw", "inspect-runs"], exit_code=2)
    assert "nothing to inspect" in nothing.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert (
        "not a file written by --save"
        in run_cli(["tcw", "inspect-runs", "--from-file", str(garbage)], exit_code=2).stderr
    )
    missing = run_cli(["tcw", "inspect-runs", "--from-file", str(tmp_path / "none.json")], exit_code=2)
    assert "cannot read saved runs" in missing.stderr
    both = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--task-id", "abc"], exit_code=2)
    assert "cannot be combined" in both.stderr
    since = run_cli(
        ["tcw", "inspect-runs", "--from-file", str(saved), "--since", "3 fortnights"], exit_code=2
    )
    assert "not a duration" in since.stderr
    zero = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--concurrency", "0"], exit_code=2)
    assert "inspect.concurrency: must be at least 1, got 0" in zero.stderr
    nowhere = run_cli(["tcw", "inspect-runs", "--task-group", "g"], exit_code=2)
    assert "root_url: not set" in nowhere.stderr


def test_since_keeps_only_recent_runs(run_cli: RunCli, saved: Path) -> None:
    # The saved runs are from 2026-01-01; a one-day window from now holds none of them.
    result = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--since", "1d", "--format", "json"])
    assert json.loads(result.stdout)["workers"] == []
