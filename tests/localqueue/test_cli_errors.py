"""`tcw task` shows every reason the queue gave for refusing a call, not just its first line."""

from __future__ import annotations

from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli, env_for


def test_a_refused_task_lists_every_broken_rule(run_cli: RunCli, local_queue: LocalQueue) -> None:
    task = "taskQueueId: tcw-test/w\nretries: 99\npriority: normal\n"
    refused = run_cli(["tcw", "task", "create", "-"], input=task, env=env_for(local_queue), exit_code=2)
    lines = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
    assert any("400" in line for line in lines)
    assert any("retries must be between 0 and 49" in line for line in lines), refused.stderr
    assert any("priority must be one of" in line for line in lines), refused.stderr
