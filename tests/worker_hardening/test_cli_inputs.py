"""Issue 10, item 13 (the engine's and `tcw task`'s part): one-line errors and the documented exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import RunCli
from tests.support.ports import unused_port


def test_a_task_file_nested_5000_deep_is_a_one_line_error(run_cli: RunCli, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"payload": ' + "[" * 5000 + "]" * 5000 + "}")
    for command in (["task", "create", "--task-queue", "a/b"], ["validate-payload", "--schema", "shell"]):
        result = run_cli(["tcw", "--root-url", "http://127.0.0.1:1", *command, str(deep)], exit_code=None)
        assert result.exit_code in (1, 2), result.stderr
        assert "nested too deeply" in result.stderr + result.stdout
        assert "internal error" not in result.stderr and len(result.stderr.splitlines()) <= 1


@pytest.mark.usefixtures("quick_client_retries")
def test_claim_once_against_an_unreachable_queue_exits_5_not_4(run_cli: RunCli, tmp_path: Path) -> None:
    root_url = f"http://127.0.0.1:{unused_port()}"
    args = ["tcw", "-q", "--root-url", root_url, "claim-once", "--task-queue", "a/b", "--wait", "2"]
    result = run_cli([*args, "--accept-any-payload", "--work-root", str(tmp_path / "work")], exit_code=5)
    assert "nothing to claim" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: ")
