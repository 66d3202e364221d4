"""Issue 10, items 9 and 10: artifacts that would replace the task log, or that the upload cannot carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker
from tests.worker_hardening.conftest import artifact


async def test_a_directory_artifact_cannot_replace_the_task_log(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    forge = "mkdir -p out/logs && echo forged > out/logs/live_backing.log && echo fine > out/ok.txt"
    task_id = create_task(
        queue, shell(forge, artifacts=[{"type": "directory", "path": "out", "name": "public"}])
    )
    await run_worker(worker_config(local_queue, max_tasks=1))
    log = artifact(queue, task_id, "public/logs/live_backing.log").text
    assert log.startswith("[tcw ") and "would replace the task log" in log  # the worker's, not "forged"
    assert artifact(queue, task_id, "public/ok.txt").text == "fine\n"
    assert last_run(queue, task_id) == "failed"


def later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"contentType": "text/plain\r\nX-Injected: 1"}, "contentType must be printable ASCII"),
        ({"name": "public/two\nlines.txt"}, "printable ASCII"),
        ({"name": "public/caf\u00e9.txt"}, "printable ASCII"),
        ({"expires": later(30)}, "after the task's own expiry"),
    ],
)
async def test_artifact_properties_the_upload_cannot_carry_are_a_malformed_payload_before_running(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path, spec: dict[str, str], reason: str
) -> None:
    ran = tmp_path / "ran"
    declared = {"type": "file", "path": "out.txt", "name": "public/out.txt", **spec}
    task_id = create_task(queue, shell(f"touch {ran}; echo x > out.txt", artifacts=[declared]))
    await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, task_id) == "exception/malformed-payload"
    assert reason in artifact(queue, task_id, "public/logs/live_backing.log").text
    assert not ran.exists()
