"""`tcw queue serve` announces its web view; `--public-read` lets a browser read there, without it the
anonymous role holds nothing (as a fresh Taskcluster deployment) and the view says so."""

from __future__ import annotations

import re
import signal
import subprocess

import requests

from tcw.localqueue.server import LocalQueue
from tests.support.cli import tcw_process


def test_queue_serve_public_read_serves_a_readable_web_view() -> None:
    args = ["queue", "serve", "--port", "0", "--db", ":memory:", "--claim-work-wait", "1", "--public-read"]
    started = tcw_process(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    process: subprocess.Popen[str] = started  # type: ignore[assignment]
    with process:
        try:
            assert process.stdout is not None
            banner = ""
            while "Press Ctrl" not in banner:
                line = process.stdout.readline()
                assert line, f"tcw queue serve ended early: {banner}"
                banner += line
            found = re.search(r"web view: (\S+) \(public read\)", banner)
            assert found, banner
            landing = requests.get(found.group(1), timeout=30)
            assert landing.status_code == 200 and "<code>queue:get-task:*</code>" in landing.text
            assert requests.get(found.group(1) + "provisioners", timeout=30).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_without_public_read_the_view_reads_nothing(local_queue: LocalQueue) -> None:
    assert local_queue.state.clients.anonymous_scopes == ("assume:anonymous",)
    refused = requests.get(local_queue.root_url + "/provisioners", timeout=30)
    assert refused.status_code == 403 and "--public-read" in refused.text
    assert requests.get(local_queue.root_url + "/", timeout=30).status_code == 200
