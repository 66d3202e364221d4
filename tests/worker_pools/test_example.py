"""examples/worker_pool.py, the README's end-to-end demonstration of both ways, keeps working."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO_ROOT


def test_the_worker_pool_example_runs_both_ways() -> None:
    done = subprocess.run(
        [sys.executable, "examples/worker_pool.py"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "graceful-termination: tcw exited 0" in done.stdout
    assert "tcw exited 0; worker-manager has it stopped" in done.stdout
    assert "running since" in done.stdout and "stopped since" in done.stdout
