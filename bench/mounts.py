"""Mounts: a 200 MB archive mounted twice on one worker, and a cache handed to a task at two sizes.

Runs the local queue in a child process and the real worker (shell executor, mounts under a temp work
root) in this one. Figures come from the task logs' "Mounted ... in N s" lines, so they time the mount
alone (not the claim or the commands).

1. Archive: a tar.gz of about 200 MB of random (incompressible, real) data, served over HTTP with its
   sha256 as readOnlyDirectory content. Task 1 downloads and unpacks it; task 2, on the same worker, must
   take it from the content store. Target: the second mount at least 5x faster, no second download.
2. Cache: a task fills a writableDirectoryCache with real data (200 MB, then 2 GB: written bytes, not a
   sparse file); the next task's mount of it is the hand-over. Target: the time does not grow with the
   size (the cache is moved, never copied).

Disk use peaks at about 2.8 GB and everything is removed at the end.
Usage: .venv/bin/python bench/mounts.py [ARCHIVE_MB] [BIG_CACHE_MB]   (default 200 2048)
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import os
import re
import shutil
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
import taskcluster

from bench.benchkit.localqueue import queue_process
from tcw.config import load_config
from tcw.engine.daemon import WorkerSetup, serve
from tcw.executors.shell import ShellExecutor
from tcw.tasks import create_task, fill_defaults

TASK_QUEUE = "tcw-bench/mounts"
MIB = 1 << 20
HANDOVERS = 5
MOUNTED = re.compile(r"Mounted (.+?) in ([0-9.]+) s \((.+)\)")


def make_archive(path: Path, size_mb: int) -> str:
    """A tar.gz of ``size_mb`` MiB of random data in 4 MiB files; returns its sha256."""
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for index in range(max(1, size_mb // 4)):
            member = path.parent / f"part{index:03}"
            member.write_bytes(os.urandom(4 * MIB))
            archive.add(member, f"toolchain/part{index:03}")
            member.unlink()
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def serve_directory(directory: Path, counts: Counter[str]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            counts[self.path] += 1
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def task(queue: Any, payload: dict[str, Any], scopes: list[str]) -> str:
    """A task on the bench's queue; `tcw task create`'s defaults fill in the times and metadata."""
    definition = {
        "taskQueueId": TASK_QUEUE,
        "retries": 0,
        "scopes": scopes,
        "payload": {"maxRunTime": 600, **payload},
    }
    return create_task(queue, fill_defaults(definition))


def run_tasks(options: dict[str, Any], work_root: Path, count: int) -> None:
    config = load_config(
        flags={
            "root_url": options["rootUrl"],
            "credentials.client_id": options["credentials"]["clientId"],
            "credentials.access_token": options["credentials"]["accessToken"],
            "worker.provisioner_id": "tcw-bench",
            "worker.worker_type": "mounts",
            "worker.worker_id": "bench",
            "worker.work_root": str(work_root),
            "worker.max_tasks": count,
            "mounts.min_free_space_mb": 0,
            "worker.allow_root_tasks": os.geteuid() == 0,  # the bench may run as root, as CI does
        },
        environ={},
    )
    asyncio.run(serve(config, WorkerSetup(ShellExecutor.from_config(config), None)))


def mount_line(queue: Any, task_id: str) -> tuple[float, str]:
    status = queue.status(task_id)["status"]["runs"][-1]["state"]
    url = queue.buildSignedUrl("getLatestArtifact", task_id, "public/logs/live_backing.log")
    log = requests.get(url, timeout=60).text
    if status != "completed":
        raise SystemExit(f"task {task_id} ended {status}:\n{log[-2000:]}")
    found = MOUNTED.search(log)
    if found is None:
        raise SystemExit(f"task {task_id}: no mount line in its log")
    return float(found.group(2)), found.group(3)


def main() -> None:
    archive_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    big_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    scratch = Path(tempfile.mkdtemp(prefix="tcw-bench-mounts-"))
    counts: Counter[str] = Counter()
    try:
        served_dir = scratch / "served"
        served_dir.mkdir()
        sha256 = make_archive(served_dir / "toolchain.tar.gz", archive_mb)
        size = (served_dir / "toolchain.tar.gz").stat().st_size
        server, url = serve_directory(served_dir, counts)
        work_root = scratch / "work"
        with queue_process(claim_work_wait=0.5) as served:
            queue = taskcluster.Queue(copy.deepcopy(served.options))  # the client encodes them in place
            content = {"url": f"{url}/toolchain.tar.gz", "sha256": sha256}
            mounts = [{"directory": "tc", "content": content, "format": "tar.gz"}]
            reader = {"command": ["test -r tc/toolchain/part000"], "mounts": mounts}
            ids = [task(queue, reader, []) for _ in "12"]
            run_tasks(served.options, work_root, 2)
            (first, how_first), (second, how_second) = (mount_line(queue, task_id) for task_id in ids)
            print(f"archive {size / MIB:.0f} MiB tar.gz ({archive_mb} MiB of files)")
            print(f"  first run : {first * 1000:8.1f} ms ({how_first})")
            downloads = counts["/toolchain.tar.gz"]
            print(f"  second run: {second * 1000:8.1f} ms ({how_second}); downloads: {downloads}")
            print(f"  second run {first / second:.0f}x faster (target: at least 5x, one download)")

            handovers = {}
            for label, megabytes in (("small", archive_mb), ("big", big_mb)):
                cache = [{"cacheName": label, "directory": "cache"}]
                scopes = [f"generic-worker:cache:{label}"]
                write = f"head -c {64 * MIB} /dev/urandom > cache/f$i"
                task(
                    queue,
                    {"command": [f"for i in $(seq {megabytes // 64}); do {write}; done"], "mounts": cache},
                    scopes,
                )
                run_tasks(served.options, work_root, 1)
                os.sync()  # time the hand-over, not the write-back of what the filling task wrote
                user = {"command": ["test -s cache/f1"], "mounts": cache}
                users = [task(queue, user, scopes) for _ in range(HANDOVERS)]
                run_tasks(served.options, work_root, len(users))
                handovers[megabytes] = [mount_line(queue, used)[0] * 1000 for used in users]
            print(f"cache hand-over (time to give a filled cache to the next task, {HANDOVERS} tasks each)")
            for megabytes, times in handovers.items():
                median = statistics.median(times)
                print(f"  {megabytes:5} MiB: median {median:6.2f} ms, min {min(times):6.2f} ms")
            small, big = (statistics.median(handovers[size]) for size in (archive_mb, big_mb))
            print(f"  {big_mb} MiB / {archive_mb} MiB: {big / small:.2f}x (target: no growth with the size)")
        server.shutdown()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    start = time.monotonic()
    main()
    print(f"(bench took {time.monotonic() - start:.0f} s)")
