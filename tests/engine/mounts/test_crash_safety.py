"""A worker killed mid-preload or mid-task leaves no cache that looks clean; the next gets a fresh one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcw.executors.mounts.caches import CacheStore

HOLDER = """
import sys, time
from pathlib import Path
from tcw.executors.mounts.caches import CacheStore
root, stage = Path(sys.argv[1]), sys.argv[2]
held = CacheStore(root).acquire("c")
if stage == "mid-preload":
    held.data.mkdir(exist_ok=True)
    (held.data / "half-unpacked").write_text("partial")
else:
    held.mount(root.parent / "task-dir-cache", "task/0")
    (root.parent / "task-dir-cache" / "half-written").write_text("partial")
print("ready", flush=True)
time.sleep(60)
"""


def clean_cache(root: Path) -> Path:
    """A clean instance of ``c`` holding ``good``, as a finished task leaves it."""
    held = CacheStore(root).acquire("c")
    held.data.mkdir()
    (held.data / "good").write_text("ok")
    held.mount(root.parent / "first-task", "task/0")
    held.put_back()
    return held.path


@pytest.mark.parametrize("stage", ["mid-preload", "mid-task"])
def test_a_killed_worker_leaves_no_cache_that_looks_clean(tmp_path: Path, stage: str) -> None:
    root = tmp_path / "caches"
    if stage == "mid-task":
        clean_cache(root)  # the killed worker takes this one, then dies with it in a task directory
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), stage],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ready"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    holder.stdout.close()
    states = [instance.state for instance in CacheStore(root).instances()]
    assert states and "clean" not in states
    fresh = CacheStore(root).acquire("c")
    assert fresh.fresh  # not the killed worker's instance
    assert [instance.path for instance in CacheStore(root).instances()] == [fresh.path]
    fresh.lock.release()
