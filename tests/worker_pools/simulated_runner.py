"""A simulated worker-runner, written from the protocol (tools/workerproto, tools/worker-runner's
generic-worker implementation), not from tcw's code: it writes the worker's config file in generic-worker's
key names (mode 0600), starts ``<tcw> run --config FILE --with-worker-runner`` with the environment
inherited and stderr passed through (to a file here), speaks the line protocol over the child's stdin and
stdout, and keeps every line the worker wrote to stdout, so a test can check that nothing but protocol
lines came.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT

RUNNER_CAPABILITIES = ("graceful-termination", "new-credentials", "shutdown", "error-report", "log")


def write_worker_config(
    path: Path,
    *,
    root_url: str,
    credentials: Mapping[str, str],
    worker_pool_id: str,
    worker_group: str = "sim-group",
    worker_id: str = "sim-worker",
    location: Mapping[str, str] | None = None,
    tcw: Mapping[str, Any] | None = None,
    **more: Any,
) -> Path:
    """The file worker-runner writes for generic-worker (genericworker.go ConfigureRun/StartWorker)."""
    provisioner_id, worker_type = worker_pool_id.split("/")
    config: dict[str, Any] = {
        "rootURL": root_url,
        "clientId": credentials["clientId"],
        "accessToken": credentials["accessToken"],
        "provisionerId": provisioner_id,
        "workerType": worker_type,
        "workerGroup": worker_group,
        "workerId": worker_id,
        "workerLocation": json.dumps(dict(location or {"cloud": "static"})),
        "workerTypeMetadata": {"instance-type": "sim"},
        **more,
    }
    if credentials.get("certificate"):
        config["certificate"] = credentials["certificate"]
    if tcw is not None:
        config["tcw"] = dict(tcw)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(config, file, indent=2)
    return path


def parse_line(line: bytes) -> dict[str, Any] | None:
    """workerproto's rule: a trimmed line ``~{...}`` holding a JSON object with a string type."""
    text = line.decode("utf-8", "replace").strip()
    if len(text) < 3 or text[:2] != "~{" or text[-1] != "}":
        return None
    try:
        message = json.loads(text[1:])
    except ValueError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


class SimulatedRunner:
    def __init__(self, config_path: Path, stderr_path: Path, env: Mapping[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
        full_env.update(env or {})
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcw", "run", "--config", str(config_path), "--with-worker-runner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=full_env,
            cwd=REPO_ROOT,
        )
        self.messages: list[tuple[float, dict[str, Any]]] = []  # (monotonic time received, message)
        self.other_lines: list[bytes] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = parse_line(line)
            with self._changed:
                if message is None:
                    self.other_lines.append(line)
                else:
                    self.messages.append((time.monotonic(), message))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"~" + json.dumps(dict(message)).encode() + b"\n")
        self.process.stdin.flush()

    def welcome(self, capabilities: Sequence[str] = RUNNER_CAPABILITIES) -> float:
        """Send the welcome; returns when it was sent (monotonic)."""
        self.send({"type": "welcome", "capabilities": list(capabilities)})
        return time.monotonic()

    def expect(self, message_type: str, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        """The first message of that type (waiting for it), with the time it arrived."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for received in self.messages:
                    if received[1]["type"] == message_type:
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (not self._reader.is_alive() and self.process.poll() is not None):
                    raise AssertionError(
                        f"no {message_type} message; got {[m['type'] for _, m in self.messages]}\n"
                        f"--- stderr\n{self.stderr()}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        with self._changed:
            return [message for _, message in self.messages if message["type"] == message_type]

    def wait(self, timeout: float = 30.0) -> int:
        """The worker's exit code (the runner closes its end of stdin first, as it would on exit)."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()
