"""Running tcw's command line: the click app in-process (`invoke_cli`, behind the ``run_cli`` fixture) and
``tcw`` as a real process (`tcw_process`, for signals and kills)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from click.testing import CliRunner

from tcw.cli.main import cli
from tcw.localqueue.server import LocalQueue
from tests.support.paths import REPO_ROOT

# Where the suite is told things: the references' path, and that its tasks may run as root (CI is root).
KEPT_VARIABLES = ("TCW_TASKCLUSTER_REFERENCES", "TCW_WORKER_ALLOW_ROOT_TASKS")


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


RunCli = Callable[..., CliResult]


def invoke_cli(
    args: Sequence[str],
    exit_code: int | None = 0,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> CliResult:
    """Run ``tcw ARGS...`` in-process; unless ``exit_code`` is None, fail showing its output when it exits
    otherwise."""
    assert args[0] == "tcw", "run_cli takes a full command line starting with 'tcw'"
    runner = CliRunner()
    result = runner.invoke(cli, list(args[1:]), input=input, env=dict(env or {}), prog_name="tcw")
    outcome = CliResult(result.exit_code, result.stdout, result.stderr)
    if exit_code is not None and result.exit_code != exit_code:
        if result.exception and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{' '.join(args)} raised; stderr:\n{result.stderr}") from result.exception
        raise AssertionError(
            f"{' '.join(args)} exited {result.exit_code}, expected {exit_code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return outcome


def tcw_process(
    args: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: object
) -> subprocess.Popen[bytes]:
    """Start ``tcw`` as a real process (for signals and kills), with the test's interpreter."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_CONFIG"))}
    full_env.update(env or {})
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "tcw", *args], env=full_env, cwd=REPO_ROOT, **kwargs
    )


def env_for(local_queue: LocalQueue) -> dict[str, str]:
    """The environment pointing `tcw` at this local queue with its root credentials."""
    creds = local_queue.root_credentials
    assert creds is not None
    return {
        "TASKCLUSTER_ROOT_URL": local_queue.root_url,
        "TASKCLUSTER_CLIENT_ID": creds["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"],
    }
